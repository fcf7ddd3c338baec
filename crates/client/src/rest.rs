//! REST calls (`/api/...`). The HTTP/1.1 client belongs to the server crate, which the
//! `switchboard` binary hands in through [`Rest`], so there is one HTTP client in the project.

use futures_util::future::BoxFuture;
use serde::de::DeserializeOwned;
use switchboard_protocol::api::ApiError;

use crate::error::ClientError;

pub struct RestResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

/// `GET` with the token, on the server of the command.
pub trait Rest: Send + Sync {
    /// `path` starts with `/api/` and carries its (encoded) query string.
    fn get<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<RestResponse, ClientError>>;
}

/// `GET path`, expecting `200` and a `T`; the API's `{code, message}` errors become
/// [`ClientError::Server`].
pub async fn get_json<T: DeserializeOwned>(rest: &dyn Rest, path: &str) -> Result<T, ClientError> {
    let response = rest.get(path).await?;
    let text = || String::from_utf8_lossy(&response.body).into_owned();
    match response.status {
        200 => serde_json::from_slice(&response.body).map_err(|_| ClientError::UnexpectedHttp {
            status: 200,
            body: text(),
        }),
        401 => Err(ClientError::Unauthorized),
        status => match serde_json::from_slice::<ApiError>(&response.body) {
            Ok(error) => Err(ClientError::Server {
                code: error.code.as_str().to_owned(),
                message: error.message,
            }),
            Err(_) => Err(ClientError::UnexpectedHttp {
                status,
                body: text(),
            }),
        },
    }
}

/// Percent-encodes a query value (the server's opaque paging cursor, for one).
pub fn encode_query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~' | b',') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(encode_query_value("a b+/=é,x"), "a%20b%2B%2F%3D%C3%A9,x");
    }
}

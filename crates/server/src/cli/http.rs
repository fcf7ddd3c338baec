//! A small HTTP/1.1 client for the `switchboard` subcommands that talk to a running server
//! (and for the black-box tests): one request per connection (`Connection: close`), a body
//! read to its declared length, to the end of a chunked body, or to the end of the stream.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The largest response read, in bytes.
pub const MAX_RESPONSE_BYTES: usize = 256 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("cannot reach {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("the connection to the server failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("the server's answer is not HTTP: {0}")]
    Malformed(String),
    #[error("the server did not answer within {0:?}")]
    Timeout(Duration),
}

#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    /// Names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One request. `addr` is `HOST:PORT`; `path` includes the query string.
pub async fn request(
    addr: &str,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    json_body: Option<&[u8]>,
    timeout: Duration,
) -> Result<HttpResponse, HttpError> {
    tokio::time::timeout(timeout, exchange(addr, method, path, bearer, json_body))
        .await
        .map_err(|_| HttpError::Timeout(timeout))?
}

async fn exchange(
    addr: &str,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    json_body: Option<&[u8]>,
) -> Result<HttpResponse, HttpError> {
    let mut stream = TcpStream::connect(addr)
        .await
        .map_err(|source| HttpError::Connect {
            addr: addr.to_owned(),
            source,
        })?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(token) = bearer {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    if let Some(body) = json_body {
        head.push_str("Content-Type: application/json\r\n");
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    if let Some(body) = json_body {
        stream.write_all(body).await?;
    }
    stream.flush().await?;
    let mut raw = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&chunk[..n]);
        if raw.len() > MAX_RESPONSE_BYTES {
            return Err(HttpError::Malformed(format!(
                "the answer is larger than {MAX_RESPONSE_BYTES} bytes"
            )));
        }
        if let Some(done) = complete_length(&raw)? {
            raw.truncate(done);
            break;
        }
    }
    parse_response(&raw)
}

/// The length of a complete response in `raw`, once there is one (`None` while it is
/// incomplete or its end is the end of the stream).
fn complete_length(raw: &[u8]) -> Result<Option<usize>, HttpError> {
    let Some(head_end) = find(raw, b"\r\n\r\n") else {
        return Ok(None);
    };
    let (_, headers) = parse_head(&raw[..head_end])?;
    let body = &raw[head_end + 4..];
    if let Some(len) = content_length(&headers)? {
        return Ok((body.len() >= len).then_some(head_end + 4 + len));
    }
    if is_chunked(&headers) {
        return Ok(dechunk(body)?.map(|(_, used)| head_end + 4 + used));
    }
    Ok(None)
}

fn parse_response(raw: &[u8]) -> Result<HttpResponse, HttpError> {
    let head_end = find(raw, b"\r\n\r\n")
        .ok_or_else(|| HttpError::Malformed("the answer ended inside its header".into()))?;
    let (status, headers) = parse_head(&raw[..head_end])?;
    let rest = &raw[head_end + 4..];
    let body = if let Some(len) = content_length(&headers)? {
        if rest.len() < len {
            return Err(HttpError::Malformed(
                "the answer's body is cut short".into(),
            ));
        }
        rest[..len].to_vec()
    } else if is_chunked(&headers) {
        dechunk(rest)?
            .ok_or_else(|| HttpError::Malformed("the chunked body is cut short".into()))?
            .0
    } else {
        rest.to_vec()
    };
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

fn parse_head(head: &[u8]) -> Result<(u16, Vec<(String, String)>), HttpError> {
    let text = std::str::from_utf8(head)
        .map_err(|_| HttpError::Malformed("the header is not UTF-8".into()))?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(HttpError::Malformed(format!("status line {status_line:?}")));
    }
    let status = parts
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| HttpError::Malformed(format!("status line {status_line:?}")))?;
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| HttpError::Malformed(format!("header line {line:?}")))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    Ok((status, headers))
}

fn content_length(headers: &[(String, String)]) -> Result<Option<usize>, HttpError> {
    headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .map(|(_, v)| {
            v.parse::<usize>()
                .map_err(|_| HttpError::Malformed(format!("content-length {v:?}")))
        })
        .transpose()
}

fn is_chunked(headers: &[(String, String)]) -> bool {
    headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked"))
}

/// The decoded body and the bytes it used, once the last chunk is in.
fn dechunk(mut body: &[u8]) -> Result<Option<(Vec<u8>, usize)>, HttpError> {
    let total = body.len();
    let mut out = Vec::new();
    loop {
        let Some(line_end) = find(body, b"\r\n") else {
            return Ok(None);
        };
        let size_text = std::str::from_utf8(&body[..line_end])
            .map_err(|_| HttpError::Malformed("chunk size".into()))?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| HttpError::Malformed(format!("chunk size {size_text:?}")))?;
        body = &body[line_end + 2..];
        if size == 0 {
            // Trailers (none expected), then the final CRLF.
            let Some(end) = find(body, b"\r\n") else {
                return Ok(None);
            };
            let used = total - body.len() + end + 2;
            return Ok(Some((out, used)));
        }
        if body.len() < size + 2 {
            return Ok(None);
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Percent-encodes one query parameter value (the terminal client's encoder; one for the
/// project).
pub use switchboard_client::rest::encode_query_value;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_length_and_chunked_bodies() {
        let raw = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nX-A: b\r\n\r\n{}";
        assert_eq!(complete_length(raw).unwrap(), Some(raw.len()));
        let r = parse_response(raw).unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"{}"[..]));
        assert_eq!(r.header("x-a"), Some("b"));

        let raw = b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
        assert_eq!(complete_length(raw).unwrap(), Some(raw.len()));
        assert_eq!(complete_length(&raw[..raw.len() - 3]).unwrap(), None);
        let r = parse_response(raw).unwrap();
        assert_eq!((r.status, r.body.as_slice()), (404, &b"abcde"[..]));

        assert!(parse_response(b"SSH-2.0\r\n\r\n").is_err());
    }
}

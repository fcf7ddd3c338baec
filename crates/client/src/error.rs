//! The one error type of the terminal client.

use switchboard_protocol::server::ErrorFrame;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A flag or argument the client cannot use.
    #[error("{0}")]
    Usage(String),
    #[error("cannot connect to {url}: {detail}")]
    Connect { url: String, detail: String },
    #[error(
        "the server refused the token (401): pass the right one with --token or SWITCHBOARD_TOKEN"
    )]
    Unauthorized,
    #[error("{url} speaks TLS, which this build of the terminal client does not support; reach the server over http:// (for example through an SSH tunnel)")]
    TlsUnsupported { url: String },
    #[error("the connection to the server failed: {0}")]
    Connection(String),
    #[error("lost the connection to the server and could not get it back within {secs} s")]
    GaveUp { secs: u64 },
    #[error("the server answered {code}: {message}")]
    Server { code: String, message: String },
    #[error("{0}")]
    Busy(String),
    #[error("the server answered {status}: {body}")]
    UnexpectedHttp { status: u16, body: String },
    #[error("the server sent something that is not a protocol frame: {0}")]
    BadFrame(String),
    #[error("no session {0}")]
    NoSuchSession(String),
    #[error("a terminal prompt failed: {0}")]
    Prompt(String),
    #[error("interrupted")]
    Interrupted,
    #[error("writing the output failed: {0}")]
    Output(#[from] std::io::Error),
}

impl ClientError {
    pub(crate) fn from_error_frame(frame: &ErrorFrame) -> Self {
        ClientError::Server {
            code: frame.code.as_str().to_owned(),
            message: frame.message.clone(),
        }
    }
}

//! Error codes carried by `{type:"error"}` reply frames.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Every error code the server can put in an `error` frame. The connection stays usable
/// after any of them, and nothing is spawned for the request that caused it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorCode {
    /// The text frame is not valid JSON (or nests too deeply).
    BadJson,
    /// The frame is valid JSON but not an object with a string `type`, or it is binary.
    BadFrame,
    /// The `type` is not one this server knows.
    UnknownType,
    /// A field is missing, has the wrong type, or holds a value the server refuses.
    InvalidField,
    /// The frame exceeds the inbound frame limit.
    FrameTooLarge,
    /// The provider named in the message is not one of the seven.
    UnknownProvider,
    /// The command's `projectPath`/`cwd` is not inside a registered project.
    ProjectNotRegistered,
    /// No session with that id exists.
    UnknownSession,
    /// The session's command queue is full.
    QueueFull,
    /// The connection sent messages faster than allowed.
    RateLimited,
    /// The server already runs as many sessions as it allows.
    TooManySessions,
    /// The session already has as many subscribers as it allows.
    TooManySubscribers,
    /// Something failed inside the server; the message says what.
    Internal,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 13] = [
        ErrorCode::BadJson,
        ErrorCode::BadFrame,
        ErrorCode::UnknownType,
        ErrorCode::InvalidField,
        ErrorCode::FrameTooLarge,
        ErrorCode::UnknownProvider,
        ErrorCode::ProjectNotRegistered,
        ErrorCode::UnknownSession,
        ErrorCode::QueueFull,
        ErrorCode::RateLimited,
        ErrorCode::TooManySessions,
        ErrorCode::TooManySubscribers,
        ErrorCode::Internal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadJson => "bad-json",
            ErrorCode::BadFrame => "bad-frame",
            ErrorCode::UnknownType => "unknown-type",
            ErrorCode::InvalidField => "invalid-field",
            ErrorCode::FrameTooLarge => "frame-too-large",
            ErrorCode::UnknownProvider => "unknown-provider",
            ErrorCode::ProjectNotRegistered => "project-not-registered",
            ErrorCode::UnknownSession => "unknown-session",
            ErrorCode::QueueFull => "queue-full",
            ErrorCode::RateLimited => "rate-limited",
            ErrorCode::TooManySessions => "too-many-sessions",
            ErrorCode::TooManySubscribers => "too-many-subscribers",
            ErrorCode::Internal => "internal",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request the server refuses, with the code and the human-readable reason that go into
/// the `error` reply frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ProtocolError {
    pub code: ErrorCode,
    pub message: String,
}

impl ProtocolError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub fn invalid_field(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidField, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_names_match_as_str() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }
}

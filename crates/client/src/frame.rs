//! A frame from the server: the text as it came (printed verbatim by `--json`) and its typed
//! reading through the protocol crate's wire types.

use serde::Deserialize;
use serde_json::Value;
use switchboard_protocol::server::ServerMessageSchema;
use switchboard_protocol::RunState;

use crate::error::ClientError;

#[derive(Debug, Clone)]
pub struct Frame {
    /// Exactly the text the server sent.
    pub raw: String,
    pub value: Value,
    /// `None` for a frame type this client does not know (a newer server's); it is still
    /// printed by `--json` and otherwise skipped.
    pub message: Option<ServerMessageSchema>,
}

impl Frame {
    pub fn parse(raw: String) -> Result<Self, ClientError> {
        let value: Value =
            serde_json::from_str(&raw).map_err(|e| ClientError::BadFrame(e.to_string()))?;
        if !value.get("type").is_some_and(Value::is_string) {
            return Err(ClientError::BadFrame(format!("no `type` in {raw}")));
        }
        let message = ServerMessageSchema::deserialize(&value).ok();
        Ok(Self {
            raw,
            value,
            message,
        })
    }

    pub fn frame_type(&self) -> &str {
        self.value["type"].as_str().unwrap_or_default()
    }

    /// The journal seq; `None` for replies.
    pub fn seq(&self) -> Option<u64> {
        self.value.get("seq").and_then(Value::as_u64)
    }

    pub fn session_id(&self) -> Option<&str> {
        self.value.get("sessionId").and_then(Value::as_str)
    }

    pub fn client_request_id(&self) -> Option<&str> {
        self.value.get("clientRequestId").and_then(Value::as_str)
    }

    /// The terminal state this frame announces, if it is a run's last frame.
    pub fn terminal_state(&self) -> Option<RunState> {
        match &self.message {
            Some(ServerMessageSchema::SessionStateChanged(j)) if j.body.state.is_terminal() => {
                Some(j.body.state)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_journaled_frames_and_replies() {
        let raw = r#"{"type":"session-state-changed","sessionId":"2f1e7a4c-8d7b-4c36-9a51-0c3d2b1a9e8f","provider":"cursor","seq":10,"state":"completed","reason":"exit","changedAt":1,"exitCode":0}"#;
        let f = Frame::parse(raw.into()).unwrap();
        assert_eq!(f.seq(), Some(10));
        assert_eq!(f.terminal_state(), Some(RunState::Completed));
        assert_eq!(f.raw, raw);

        let f = Frame::parse(r#"{"type":"future-frame","x":1}"#.into()).unwrap();
        assert!(f.message.is_none());
        assert_eq!((f.seq(), f.frame_type()), (None, "future-frame"));

        assert!(Frame::parse("[1]".into()).is_err());
        assert!(Frame::parse("nope".into()).is_err());
    }
}

//! The JSON Schema of the protocol, generated from the Rust types above. `docs/protocol.schema.json`
//! is this output, and a test fails when the two differ, so the contract cannot drift.

use schemars::{schema_for, JsonSchema};
use serde::Serialize;

use crate::client::ClientMessageSchema;
use crate::server::ServerMessageSchema;

#[derive(JsonSchema, Serialize)]
#[schemars(title = "Switchboard WebSocket protocol")]
#[allow(dead_code)]
struct Protocol {
    /// A frame a client sends on `/ws`.
    client: ClientMessageSchema,
    /// A frame the server sends on `/ws`.
    server: ServerMessageSchema,
}

/// The protocol schema as pretty-printed JSON, ending in a newline.
pub fn protocol_schema_json() -> String {
    let schema = schema_for!(Protocol);
    let mut text = serde_json::to_string_pretty(&schema).expect("schema serializes");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_every_message_type() {
        let text = protocol_schema_json();
        for t in crate::client::CLIENT_MESSAGE_TYPES {
            assert!(
                text.contains(&format!("\"{t}\"")),
                "client type {t} missing"
            );
        }
        for t in [
            "session-busy",
            "session-status",
            "active-sessions",
            "session-created",
            "localgpu-response",
            "nano-error",
        ] {
            assert!(
                text.contains(&format!("\"{t}\"")),
                "server type {t} missing"
            );
        }
    }
}

#[cfg(test)]
mod drift {
    use super::protocol_schema_json;

    /// `docs/protocol.schema.json` must be exactly what the types generate. Regenerate with
    /// `SWITCHBOARD_UPDATE_SCHEMA=1 cargo test -p switchboard-protocol` (or
    /// `switchboard schema > docs/protocol.schema.json`).
    #[test]
    fn committed_schema_matches_the_types() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../docs/protocol.schema.json");
        let generated = protocol_schema_json();
        if std::env::var_os("SWITCHBOARD_UPDATE_SCHEMA").is_some() {
            std::fs::write(&path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "docs/protocol.schema.json is stale; regenerate it with SWITCHBOARD_UPDATE_SCHEMA=1 cargo test -p switchboard-protocol"
        );
    }

    /// Every message type, error code and state the schema knows is documented.
    #[test]
    fn protocol_doc_names_everything() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/protocol.md");
        let doc = std::fs::read_to_string(&path).expect("docs/protocol.md exists");
        let mut missing = Vec::new();
        let mut names: Vec<String> = crate::client::CLIENT_MESSAGE_TYPES
            .iter()
            .map(|s| s.to_string())
            .collect();
        names.extend(crate::server::JOURNALED_TYPES.iter().map(|s| s.to_string()));
        names.extend(crate::server::REPLY_TYPES.iter().map(|s| s.to_string()));
        names.extend(
            crate::error::ErrorCode::ALL
                .iter()
                .map(|c| c.as_str().to_string()),
        );
        names.extend(
            [
                "queued",
                "running",
                "completed",
                "failed",
                "aborted",
                "interrupted",
            ]
            .map(String::from),
        );
        names.extend(
            [
                "command-accepted",
                "exit",
                "agent-error",
                "spawn-failed",
                "abort",
                "server-restart",
            ]
            .map(String::from),
        );
        names.extend(
            [
                "text",
                "thinking",
                "tool-call",
                "tool-result",
                "usage",
                "notice",
                "native-session",
                "other",
            ]
            .map(String::from),
        );
        for name in names {
            if !doc.contains(&format!("`{name}`")) {
                missing.push(name);
            }
        }
        assert!(
            missing.is_empty(),
            "docs/protocol.md does not mention: {missing:?}"
        );
    }
}

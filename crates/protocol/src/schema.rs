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

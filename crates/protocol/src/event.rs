//! The normalized agent event: what one line of agent output means, in a vocabulary shared by
//! every provider (named after the Agent Client Protocol's), so a client needs no
//! per-provider code. The provider's own line travels next to it, unchanged, as `data`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum AgentEvent {
    /// Assistant text. `delta: true` means append to the text streamed so far; `false` means
    /// a whole message segment.
    Text { text: String, delta: bool },
    /// Reasoning text, with the same `delta` rule as `text`.
    Thinking { text: String, delta: bool },
    /// The agent started a tool call.
    ToolCall {
        id: String,
        name: String,
        input: serde_json::Value,
    },
    /// A tool call finished.
    #[serde(rename_all = "camelCase")]
    ToolResult {
        id: String,
        output: serde_json::Value,
        is_error: bool,
    },
    /// Token usage (and cost, when the provider reports it).
    #[serde(rename_all = "camelCase")]
    Usage {
        input_tokens: u64,
        output_tokens: u64,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        cache_read_tokens: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        cache_write_tokens: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        cost_usd: Option<f64>,
    },
    /// Something to show but not to interpret: a stderr line, a non-JSON stdout line, a
    /// provider's error report. Never a state change.
    Notice { level: NoticeLevel, message: String },
    /// The provider revealed its own id for this session.
    NativeSession { id: String },
    /// A line that needs no interpretation (echoes, bookkeeping, duplicates).
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NoticeLevel {
    Info,
    Warning,
    Error,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wire_shapes() {
        let e = AgentEvent::ToolResult {
            id: "t1".into(),
            output: json!("ok"),
            is_error: false,
        };
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            json!({"kind":"tool-result","id":"t1","output":"ok","isError":false})
        );
        let u = AgentEvent::Usage {
            input_tokens: 1,
            output_tokens: 2,
            cache_read_tokens: None,
            cache_write_tokens: Some(3),
            cost_usd: None,
        };
        assert_eq!(
            serde_json::to_value(&u).unwrap(),
            json!({"kind":"usage","inputTokens":1,"outputTokens":2,"cacheWriteTokens":3})
        );
        assert_eq!(
            serde_json::to_value(AgentEvent::NativeSession { id: "x".into() }).unwrap(),
            json!({"kind":"native-session","id":"x"})
        );
        assert_eq!(
            serde_json::to_value(AgentEvent::Other).unwrap(),
            json!({"kind":"other"})
        );
    }
}

//! Assembling one streamed Chat Completions answer from its chunks.
//!
//! Text arrives as `choices[0].delta.content` pieces; reasoning (OpenRouter's
//! `delta.reasoning`, vLLM's and Ollama's `delta.reasoning_content`) likewise. A tool call
//! arrives as `delta.tool_calls[]` entries keyed by `index`: the first carries `id` and
//! `function.name`, later ones pieces of the `function.arguments` string, which only parse as
//! JSON once whole. `finish_reason` ends the choice; a last chunk may carry `usage`.

use std::collections::BTreeMap;

use serde_json::{json, Value};

/// A piece of the answer to show at once.
#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    Text(String),
    Reasoning(String),
}

/// One tool call, whole.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments as the model sent them (a JSON string, possibly invalid).
    pub arguments: String,
}

/// Token counts of one model call.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cached_tokens: Option<u64>,
    pub cost_usd: Option<f64>,
}

/// The whole answer of one model call.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Answer {
    pub text: String,
    pub tool_calls: Vec<ToolCall>,
    pub finish_reason: Option<String>,
    pub usage: Option<Usage>,
}

impl Answer {
    /// The assistant message to store and to send back on the next call.
    pub fn message(&self) -> Value {
        let mut message = json!({"role": "assistant", "content": self.text});
        if !self.tool_calls.is_empty() {
            if self.text.is_empty() {
                message["content"] = Value::Null;
            }
            message["tool_calls"] = self
                .tool_calls
                .iter()
                .map(|call| {
                    json!({"id": call.id, "type": "function",
                           "function": {"name": call.name, "arguments": call.arguments}})
                })
                .collect();
        }
        message
    }
}

#[derive(Debug, Default)]
struct PartialCall {
    id: String,
    name: String,
    arguments: String,
}

/// Collects chunks into an [`Answer`].
#[derive(Debug, Default)]
pub struct Assembler {
    text: String,
    calls: BTreeMap<u64, PartialCall>,
    finish_reason: Option<String>,
    usage: Option<Usage>,
}

impl Assembler {
    /// Takes one chunk; returns what should be shown now.
    pub fn push(&mut self, chunk: &Value) -> Vec<Piece> {
        let mut pieces = Vec::new();
        if let Some(usage) = chunk.get("usage").filter(|u| u.is_object()) {
            self.usage = Some(read_usage(usage));
        }
        let Some(choice) = chunk.pointer("/choices/0") else {
            return pieces;
        };
        if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
            self.finish_reason = Some(reason.to_owned());
        }
        let Some(delta) = choice.get("delta") else {
            return pieces;
        };
        for key in ["reasoning", "reasoning_content"] {
            if let Some(text) = delta.get(key).and_then(Value::as_str) {
                if !text.is_empty() {
                    pieces.push(Piece::Reasoning(text.to_owned()));
                }
            }
        }
        if let Some(text) = delta.get("content").and_then(Value::as_str) {
            if !text.is_empty() {
                self.text.push_str(text);
                pieces.push(Piece::Text(text.to_owned()));
            }
        }
        for (position, call) in delta
            .get("tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            // Some servers omit `index` when they send whole calls; fall back to the position.
            let index = call
                .get("index")
                .and_then(Value::as_u64)
                .unwrap_or(position as u64);
            let partial = self.calls.entry(index).or_default();
            if let Some(id) = call.get("id").and_then(Value::as_str) {
                if !id.is_empty() {
                    partial.id = id.to_owned();
                }
            }
            if let Some(name) = call.pointer("/function/name").and_then(Value::as_str) {
                partial.name.push_str(name);
            }
            if let Some(arguments) = call.pointer("/function/arguments") {
                match arguments {
                    Value::String(piece) => partial.arguments.push_str(piece),
                    // Some servers send the arguments as an object, not a string.
                    Value::Object(_) => partial.arguments = arguments.to_string(),
                    _ => {}
                }
            }
        }
        pieces
    }

    /// Whether a `finish_reason` arrived: the model finished its answer.
    pub fn finished(&self) -> bool {
        self.finish_reason.is_some()
    }

    pub fn finish(self) -> Answer {
        let tool_calls = self
            .calls
            .into_iter()
            .map(|(index, call)| ToolCall {
                // A call without an id cannot be answered; give it one that is unique here.
                id: if call.id.is_empty() {
                    format!("call_{index}")
                } else {
                    call.id
                },
                name: call.name,
                arguments: call.arguments,
            })
            .collect();
        Answer {
            text: self.text,
            tool_calls,
            finish_reason: self.finish_reason,
            usage: self.usage,
        }
    }
}

fn read_usage(usage: &Value) -> Usage {
    let count = |pointer: &str| usage.pointer(pointer).and_then(Value::as_u64);
    Usage {
        prompt_tokens: count("/prompt_tokens").unwrap_or(0),
        completion_tokens: count("/completion_tokens").unwrap_or(0),
        cached_tokens: count("/prompt_tokens_details/cached_tokens"),
        cost_usd: usage.get("cost").and_then(Value::as_f64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delta(delta: Value) -> Value {
        json!({"choices": [{"index": 0, "delta": delta, "finish_reason": null}]})
    }

    #[test]
    fn text_pieces_and_usage() {
        let mut a = Assembler::default();
        assert!(a
            .push(&delta(json!({"role": "assistant", "content": ""})))
            .is_empty());
        assert_eq!(
            a.push(&delta(json!({"content": "Hel"}))),
            [Piece::Text("Hel".into())]
        );
        a.push(&delta(json!({"content": "lo", "reasoning_content": "hm"})));
        assert!(!a.finished());
        a.push(&json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}));
        a.push(
            &json!({"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 3,
                        "prompt_tokens_details": {"cached_tokens": 2}, "cost": 0.5}}),
        );
        assert!(a.finished());
        let answer = a.finish();
        assert_eq!(answer.text, "Hello");
        assert_eq!(answer.finish_reason.as_deref(), Some("stop"));
        assert_eq!(
            answer.usage,
            Some(Usage {
                prompt_tokens: 7,
                completion_tokens: 3,
                cached_tokens: Some(2),
                cost_usd: Some(0.5)
            })
        );
        assert_eq!(
            answer.message(),
            json!({"role": "assistant", "content": "Hello"})
        );
    }

    #[test]
    fn tool_calls_split_across_chunks_by_index() {
        let mut a = Assembler::default();
        a.push(&delta(json!({"tool_calls": [
            {"index": 0, "id": "call_a", "type": "function", "function": {"name": "Read", "arguments": ""}},
        ]})));
        a.push(&delta(json!({"tool_calls": [
            {"index": 1, "id": "call_b", "function": {"name": "LS", "arguments": "{}"}},
        ]})));
        for piece in ["{\"pa", "th\":", " \"a.txt\"}"] {
            a.push(&delta(
                json!({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}),
            ));
        }
        let answer = a.finish();
        assert_eq!(answer.tool_calls.len(), 2);
        assert_eq!(answer.tool_calls[0].id, "call_a");
        assert_eq!(answer.tool_calls[0].name, "Read");
        let args: Value = serde_json::from_str(&answer.tool_calls[0].arguments).unwrap();
        assert_eq!(args, json!({"path": "a.txt"}));
        assert_eq!(answer.tool_calls[1].arguments, "{}");
        let message = answer.message();
        assert_eq!(message["content"], Value::Null);
        assert_eq!(message["tool_calls"][1]["function"]["name"], "LS");
    }

    #[test]
    fn calls_without_index_or_id_and_object_arguments() {
        let mut a = Assembler::default();
        a.push(&delta(json!({"tool_calls": [
            {"function": {"name": "Glob", "arguments": {"pattern": "*.rs"}}},
        ]})));
        let answer = a.finish();
        assert_eq!(answer.tool_calls[0].id, "call_0");
        let args: Value = serde_json::from_str(&answer.tool_calls[0].arguments).unwrap();
        assert_eq!(args["pattern"], "*.rs");
    }
}

//! Codex's own sessions: `<codex home>/sessions/YYYY/MM/DD/rollout-<time>-<thread id>.jsonl`,
//! lines `{timestamp, type, payload}`. The first is `session_meta` (`payload.id` is the thread
//! id, `payload.cwd` the working directory): rollouts are not filed by directory, so the cwd
//! comes from there. Conversation items are `response_item` lines (`message` with role
//! `user`/`assistant`/`developer`, `function_call`, `function_call_output`).

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;
use switchboard_protocol::api::{
    TranscriptMessage, TranscriptRole, TranscriptToolCall, TranscriptToolResult,
};

use super::claude::push;
use super::lines::{for_each_line, parse_timestamp, title_from, ReadLimits};
use super::Summary;

#[derive(Deserialize)]
struct Line {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default)]
    payload: Value,
}

/// The text of a message's content items of the given kinds.
fn text_of(payload: &Value, kinds: &[&str]) -> String {
    payload["content"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter(|i| i["type"].as_str().is_some_and(|t| kinds.contains(&t)))
                .filter_map(|i| i["text"].as_str())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

/// A user message a person typed (codex also sends its environment and instructions as user
/// messages, wrapped in tags).
fn typed(payload: &Value) -> Option<String> {
    if payload["type"] != "message" || payload["role"] != "user" {
        return None;
    }
    let text = text_of(payload, &["input_text", "text"]);
    let start = text.trim_start();
    (!start.is_empty() && !start.starts_with('<') && !start.starts_with("# AGENTS.md"))
        .then_some(text)
}

fn is_assistant(payload: &Value) -> bool {
    payload["type"] == "message" && payload["role"] == "assistant"
}

pub fn summarize(path: &Path, limits: ReadLimits) -> std::io::Result<Option<Summary>> {
    let mut s = Summary::new("");
    let mut first_prompt: Option<String> = None;
    let truncated = for_each_line(path, limits, |line| {
        let Ok(line) = serde_json::from_str::<Line>(line) else {
            return;
        };
        if let Some(t) = line.timestamp.as_deref().and_then(parse_timestamp) {
            s.seen_at(t);
        }
        match line.kind.as_str() {
            "session_meta" if !s.recognized => {
                let id = line.payload["id"]
                    .as_str()
                    .or(line.payload["session_id"].as_str());
                if let Some(id) = id {
                    s.native_id = id.to_owned();
                    s.recognized = true;
                    s.cwd = line.payload["cwd"].as_str().map(str::to_owned);
                }
            }
            "turn_context" => {
                if let Some(model) = line.payload["model"].as_str() {
                    s.model = Some(model.to_owned());
                }
            }
            "response_item" => {
                if let Some(text) = typed(&line.payload) {
                    s.messages += 1;
                    first_prompt.get_or_insert(text);
                } else if is_assistant(&line.payload) {
                    s.messages += 1;
                }
            }
            _ => {}
        }
    })?;
    s.truncated = truncated;
    s.title = first_prompt.as_deref().and_then(title_from);
    Ok(s.recognized.then_some(s))
}

pub fn transcript(
    path: &Path,
    limits: ReadLimits,
    max_messages: usize,
) -> std::io::Result<(Vec<TranscriptMessage>, bool)> {
    let mut messages: Vec<TranscriptMessage> = Vec::new();
    let mut over = false;
    let mut model: Option<String> = None;
    let truncated = for_each_line(path, limits, |line| {
        let Ok(line) = serde_json::from_str::<Line>(line) else {
            return;
        };
        let timestamp = line.timestamp.as_deref().and_then(parse_timestamp);
        match line.kind.as_str() {
            "turn_context" => model = line.payload["model"].as_str().map(str::to_owned),
            "response_item" => {
                let p = &line.payload;
                if let Some(text) = typed(p) {
                    push(
                        &mut messages,
                        &mut over,
                        max_messages,
                        TranscriptMessage {
                            role: TranscriptRole::User,
                            text,
                            tool_calls: Vec::new(),
                            tool_results: Vec::new(),
                            timestamp,
                            model: None,
                        },
                    );
                } else if is_assistant(p) {
                    push(
                        &mut messages,
                        &mut over,
                        max_messages,
                        TranscriptMessage {
                            role: TranscriptRole::Assistant,
                            text: text_of(p, &["output_text", "text"]),
                            tool_calls: Vec::new(),
                            tool_results: Vec::new(),
                            timestamp,
                            model: model.clone(),
                        },
                    );
                } else if p["type"] == "function_call" || p["type"] == "custom_tool_call" {
                    let raw = p.get("arguments").or_else(|| p.get("input")).cloned();
                    // Arguments are a JSON document in a string.
                    let input = match raw {
                        Some(Value::String(s)) => {
                            serde_json::from_str(&s).unwrap_or(Value::String(s))
                        }
                        Some(v) => v,
                        None => Value::Null,
                    };
                    let call = TranscriptToolCall {
                        id: p["call_id"].as_str().unwrap_or_default().to_owned(),
                        name: p["name"].as_str().unwrap_or_default().to_owned(),
                        input,
                    };
                    match messages.last_mut() {
                        Some(last) if last.role == TranscriptRole::Assistant => {
                            last.tool_calls.push(call)
                        }
                        _ => push(
                            &mut messages,
                            &mut over,
                            max_messages,
                            TranscriptMessage {
                                role: TranscriptRole::Assistant,
                                text: String::new(),
                                tool_calls: vec![call],
                                tool_results: Vec::new(),
                                timestamp,
                                model: model.clone(),
                            },
                        ),
                    }
                } else if p["type"] == "function_call_output"
                    || p["type"] == "custom_tool_call_output"
                {
                    let result = TranscriptToolResult {
                        id: p["call_id"].as_str().unwrap_or_default().to_owned(),
                        output: p["output"].clone(),
                        is_error: false,
                    };
                    match messages.last_mut() {
                        Some(last) if last.role == TranscriptRole::User && last.text.is_empty() => {
                            last.tool_results.push(result)
                        }
                        _ => push(
                            &mut messages,
                            &mut over,
                            max_messages,
                            TranscriptMessage {
                                role: TranscriptRole::User,
                                text: String::new(),
                                tool_calls: Vec::new(),
                                tool_results: vec![result],
                                timestamp,
                                model: None,
                            },
                        ),
                    }
                }
            }
            _ => {}
        }
    })?;
    Ok((messages, truncated || over))
}

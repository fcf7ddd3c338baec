//! Claude Code's own sessions: `<claude dir>/projects/<slug>/<session id>.jsonl`, one JSON
//! object per line (`user`, `assistant`, `summary`, `queue-operation`, `attachment`,
//! `last-prompt`, …), each conversation line with `uuid`, `sessionId`, `cwd` and `timestamp`.
//! The slug is `switchboard_protocol::project::claude_project_slug` of the cwd.

use std::collections::HashSet;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;
use switchboard_protocol::api::{
    TranscriptMessage, TranscriptRole, TranscriptToolCall, TranscriptToolResult,
};

use super::lines::{for_each_line, parse_timestamp, title_from, ReadLimits};
use super::Summary;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Line {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default)]
    cwd: Option<String>,
    #[serde(default)]
    session_id: Option<String>,
    #[serde(default)]
    is_meta: bool,
    #[serde(default)]
    is_sidechain: bool,
    #[serde(default)]
    message: Option<Message>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    custom_title: Option<String>,
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    content: Value,
}

/// The text a person typed, when a user line is one (not a tool result, a command echo or
/// an injected caveat).
fn typed_text(content: &Value) -> Option<String> {
    let text = match content {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => {
            if blocks.iter().any(|b| b["type"] == "tool_result") {
                return None;
            }
            blocks
                .iter()
                .filter(|b| b["type"] == "text")
                .filter_map(|b| b["text"].as_str())
                .collect::<Vec<_>>()
                .join("\n")
        }
        _ => return None,
    };
    let trimmed = text.trim_start();
    // Slash-command echoes and local command output are wrapped in tags.
    (!trimmed.is_empty() && !trimmed.starts_with('<')).then_some(text)
}

pub fn summarize(path: &Path, limits: ReadLimits) -> std::io::Result<Option<Summary>> {
    let Some(native_id) = path.file_stem().and_then(|s| s.to_str()) else {
        return Ok(None);
    };
    let mut s = Summary::new(native_id);
    let mut assistant_ids: HashSet<String> = HashSet::new();
    let mut first_prompt: Option<String> = None;
    let mut named: Option<String> = None;
    let truncated = for_each_line(path, limits, |line| {
        let Ok(line) = serde_json::from_str::<Line>(line) else {
            return;
        };
        if let Some(t) = line.timestamp.as_deref().and_then(parse_timestamp) {
            s.seen_at(t);
        }
        if s.cwd.is_none() {
            s.cwd = line.cwd.clone();
        }
        if line.session_id.is_some() {
            s.recognized = true;
        }
        match line.kind.as_str() {
            "summary" => named = line.summary.clone().or(named.take()),
            "custom-title" => named = line.custom_title.clone().or(named.take()),
            "user" if !line.is_meta && !line.is_sidechain => {
                if let Some(text) = line.message.as_ref().and_then(|m| typed_text(&m.content)) {
                    s.messages += 1;
                    if first_prompt.is_none() {
                        first_prompt = Some(text);
                    }
                }
            }
            "assistant" if !line.is_sidechain => {
                if let Some(message) = &line.message {
                    // One API message is written as one line per content block.
                    let key = message
                        .id
                        .clone()
                        .unwrap_or_else(|| format!("line-{}", s.messages));
                    if assistant_ids.insert(key) {
                        s.messages += 1;
                    }
                    if message.model.is_some() {
                        s.model = message.model.clone();
                    }
                }
            }
            _ => {}
        }
    })?;
    s.truncated = truncated;
    s.title = named.or(first_prompt).as_deref().and_then(title_from);
    Ok(s.recognized.then_some(s))
}

pub fn transcript(
    path: &Path,
    limits: ReadLimits,
    max_messages: usize,
) -> std::io::Result<(Vec<TranscriptMessage>, bool)> {
    let mut messages: Vec<TranscriptMessage> = Vec::new();
    let mut last_assistant_id: Option<String> = None;
    let mut over = false;
    let truncated = for_each_line(path, limits, |line| {
        let Ok(line) = serde_json::from_str::<Line>(line) else {
            return;
        };
        if line.is_sidechain || line.is_meta {
            return;
        }
        let Some(message) = line.message else {
            return;
        };
        let timestamp = line.timestamp.as_deref().and_then(parse_timestamp);
        match line.kind.as_str() {
            "user" => {
                let mut results = Vec::new();
                if let Value::Array(blocks) = &message.content {
                    for b in blocks.iter().filter(|b| b["type"] == "tool_result") {
                        results.push(TranscriptToolResult {
                            id: b["tool_use_id"].as_str().unwrap_or_default().to_owned(),
                            output: b["content"].clone(),
                            is_error: b["is_error"].as_bool().unwrap_or(false),
                        });
                    }
                }
                let text = typed_text(&message.content).unwrap_or_default();
                if text.is_empty() && results.is_empty() {
                    return;
                }
                last_assistant_id = None;
                push(
                    &mut messages,
                    &mut over,
                    max_messages,
                    TranscriptMessage {
                        role: TranscriptRole::User,
                        text,
                        tool_calls: Vec::new(),
                        tool_results: results,
                        timestamp,
                        model: None,
                    },
                );
            }
            "assistant" => {
                let mut text = String::new();
                let mut calls = Vec::new();
                if let Value::Array(blocks) = &message.content {
                    for b in blocks {
                        match b["type"].as_str() {
                            Some("text") => text.push_str(b["text"].as_str().unwrap_or_default()),
                            Some("tool_use") => calls.push(TranscriptToolCall {
                                id: b["id"].as_str().unwrap_or_default().to_owned(),
                                name: b["name"].as_str().unwrap_or_default().to_owned(),
                                input: b["input"].clone(),
                            }),
                            _ => {}
                        }
                    }
                } else if let Some(s) = message.content.as_str() {
                    text.push_str(s);
                }
                // Blocks of one API message arrive as separate lines: join them.
                let same = message.id.is_some() && message.id == last_assistant_id;
                match messages.last_mut() {
                    Some(last) if same && last.role == TranscriptRole::Assistant => {
                        last.text.push_str(&text);
                        last.tool_calls.extend(calls);
                    }
                    _ => {
                        if text.is_empty() && calls.is_empty() {
                            return;
                        }
                        push(
                            &mut messages,
                            &mut over,
                            max_messages,
                            TranscriptMessage {
                                role: TranscriptRole::Assistant,
                                text,
                                tool_calls: calls,
                                tool_results: Vec::new(),
                                timestamp,
                                model: message.model.clone(),
                            },
                        );
                    }
                }
                last_assistant_id = message.id.clone();
            }
            _ => {}
        }
    })?;
    Ok((messages, truncated || over))
}

pub(super) fn push(
    messages: &mut Vec<TranscriptMessage>,
    over: &mut bool,
    max: usize,
    message: TranscriptMessage,
) {
    if messages.len() < max {
        messages.push(message);
    } else {
        *over = true;
    }
}

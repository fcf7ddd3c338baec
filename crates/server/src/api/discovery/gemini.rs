//! Gemini CLI's own sessions: `<gemini dir>/tmp/<slug>/chats/session-<time>-<id8>.jsonl`. The
//! first line is `{sessionId, projectHash, startTime, lastUpdated, kind}`; then message
//! records `{id, timestamp, type: "user"|"gemini"|…, content, toolCalls?, model?}` and
//! `{"$set": {…}}` patches (the session context, `lastUpdated`). `<gemini dir>/projects.json`
//! maps each working directory to its slug; `tmp/<slug>/.project_root` names it too.

use std::collections::HashMap;
use std::collections::HashSet;
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
#[serde(rename_all = "camelCase")]
struct Line {
    #[serde(default)]
    session_id: Option<String>,
    #[serde(default)]
    start_time: Option<String>,
    #[serde(default)]
    last_updated: Option<String>,
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default)]
    content: Value,
    #[serde(default)]
    tool_calls: Vec<Value>,
    #[serde(default)]
    model: Option<String>,
    #[serde(rename = "$set", default)]
    set: Option<Value>,
}

/// A message's text: a string, or parts with `text`.
fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

pub fn summarize(path: &Path, limits: ReadLimits) -> std::io::Result<Option<Summary>> {
    let mut s = Summary::new("");
    let mut first_prompt: Option<String> = None;
    // A record is written again (same id) when it changes, e.g. once its tool calls ran.
    let mut counted: HashSet<String> = HashSet::new();
    let truncated = for_each_line(path, limits, |line| {
        let Ok(line) = serde_json::from_str::<Line>(line) else {
            return;
        };
        for t in [&line.start_time, &line.last_updated, &line.timestamp] {
            if let Some(t) = t.as_deref().and_then(parse_timestamp) {
                s.seen_at(t);
            }
        }
        if let Some(set) = &line.set {
            if let Some(t) = set["lastUpdated"].as_str().and_then(parse_timestamp) {
                s.seen_at(t);
            }
        }
        if !s.recognized {
            if let Some(id) = &line.session_id {
                s.native_id = id.clone();
                s.recognized = true;
            }
        }
        let Some(id) = line.id.clone() else {
            return;
        };
        match line.kind.as_deref() {
            Some("user") => {
                // Tool results come back as user records without text.
                let text = text_of(&line.content);
                if !text.trim().is_empty() && counted.insert(id) {
                    s.messages += 1;
                    first_prompt.get_or_insert(text);
                }
            }
            Some("gemini") => {
                if counted.insert(id) {
                    s.messages += 1;
                }
                if line.model.is_some() {
                    s.model = line.model.clone();
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
    // Where each record id sits, so a record written again replaces its first version.
    let mut at: HashMap<String, usize> = HashMap::new();
    let truncated = for_each_line(path, limits, |line| {
        let Ok(line) = serde_json::from_str::<Line>(line) else {
            return;
        };
        let Some(id) = line.id.clone() else {
            return;
        };
        let mut place =
            |messages: &mut Vec<TranscriptMessage>, message: TranscriptMessage| match at.get(&id) {
                Some(&i) => messages[i] = message,
                None => {
                    push(messages, &mut over, max_messages, message);
                    if messages.len() > at.len() {
                        at.insert(id.clone(), messages.len() - 1);
                    }
                }
            };
        let timestamp = line.timestamp.as_deref().and_then(parse_timestamp);
        match line.kind.as_deref() {
            Some("user") => {
                let text = text_of(&line.content);
                if !text.trim().is_empty() {
                    place(
                        &mut messages,
                        TranscriptMessage {
                            role: TranscriptRole::User,
                            text,
                            tool_calls: Vec::new(),
                            tool_results: Vec::new(),
                            timestamp,
                            model: None,
                        },
                    );
                }
            }
            Some("gemini") => {
                let mut calls = Vec::new();
                let mut results = Vec::new();
                for call in &line.tool_calls {
                    let id = call["id"].as_str().unwrap_or_default().to_owned();
                    calls.push(TranscriptToolCall {
                        id: id.clone(),
                        name: call["name"].as_str().unwrap_or_default().to_owned(),
                        input: call["args"].clone(),
                    });
                    if !call["result"].is_null() {
                        results.push(TranscriptToolResult {
                            id,
                            output: call["result"].clone(),
                            is_error: call["status"].as_str().is_some_and(|s| s == "error"),
                        });
                    }
                }
                place(
                    &mut messages,
                    TranscriptMessage {
                        role: TranscriptRole::Assistant,
                        text: text_of(&line.content),
                        tool_calls: calls,
                        tool_results: results,
                        timestamp,
                        model: line.model.clone(),
                    },
                );
            }
            _ => {}
        }
    })?;
    Ok((messages, truncated || over))
}

//! nano-claude-code's `stream-json` lines → normalized events.
//!
//! The schema is `cursor-nano-formats.md` B.4–B.6. Lines are `stream_delta`, `assistant`,
//! `user` and a final `result`; there is no init line. Unknown types and fields pass through
//! as `other`, and nothing here fails on a new field.
//!
//! One nano line can mean several events: an `assistant` message holds thinking, text and
//! any number of `tool_use` blocks, a `user` line one `tool_result` per tool that ran, and
//! the `result` line carries usage, the saved session file and the errors. Each event becomes
//! one output line: the first carries the whole provider line as its data, every further one
//! the part of that line it comes from (the block, the `nano_session_file` value, the
//! `errors` array), byte for byte. So no part of nano's output is sent twice, and none is lost.
//!
//! State:
//! - text and thinking streamed as `stream_delta` since the last `assistant` line: that line
//!   repeats them as whole blocks, so only what the deltas did not already carry is sent;
//! - the verdict: a run succeeds only with a `result` line of `subtype:"success"` that is not
//!   an error. A stream without a `result` (killed, or crashed with a traceback) failed.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use switchboard_agent_api::{AgentLine, AgentOutput, TokenBudgetReport};
use switchboard_protocol::event::{AgentEvent, NoticeLevel};
use switchboard_protocol::lifecycle::AgentExit;
use switchboard_protocol::RawJson;

use crate::json_line;
use crate::supervisor::OutputParser;

/// nano does not report a context window; this is the seed's default.
const CONTEXT_WINDOW: u64 = 200_000;

#[derive(Default)]
pub struct NanoParser {
    /// Text deltas since the last `assistant` line.
    streamed_text: String,
    /// Thinking deltas since the last `assistant` line.
    streamed_thinking: String,
    reported_success: bool,
    error: Option<String>,
}

#[derive(Deserialize)]
struct Line<'a> {
    #[serde(rename = "type")]
    kind: String,
    /// Kept raw: it is the data of an error notice when a failed `result` has no `errors`.
    #[serde(default, borrow)]
    subtype: Option<&'a RawValue>,
    #[serde(default)]
    delta_type: Option<String>,
    /// A `stream_delta`'s text.
    #[serde(default)]
    content: Option<Value>,
    #[serde(default, borrow)]
    message: Option<Message<'a>>,
    #[serde(default)]
    is_error: Option<bool>,
    #[serde(default)]
    usage: Option<Value>,
    #[serde(default, borrow)]
    errors: Option<&'a RawValue>,
    #[serde(default, borrow)]
    nano_session_file: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Message<'a> {
    /// Kept raw so that each block can be sent on as it was.
    #[serde(default, borrow)]
    content: Option<&'a RawValue>,
}

/// One event and where in the line it comes from (`None`: the whole line).
type Found<'a> = (AgentEvent, Option<&'a RawValue>);

impl NanoParser {
    fn events<'a>(&mut self, line: &Line<'a>, out: &mut Vec<AgentOutput>) -> Vec<Found<'a>> {
        match line.kind.as_str() {
            "stream_delta" => {
                let text = line.content.as_ref().and_then(Value::as_str).unwrap_or("");
                let event = match line.delta_type.as_deref() {
                    _ if text.is_empty() => None,
                    Some("text") => {
                        self.streamed_text.push_str(text);
                        Some(AgentEvent::Text {
                            text: text.to_owned(),
                            delta: true,
                        })
                    }
                    Some("thinking") => {
                        self.streamed_thinking.push_str(text);
                        Some(AgentEvent::Thinking {
                            text: text.to_owned(),
                            delta: true,
                        })
                    }
                    _ => None,
                };
                event.map(|e| vec![(e, None)]).unwrap_or_default()
            }
            "assistant" => self.assistant(&blocks(line.message.as_ref())),
            "user" => blocks(line.message.as_ref())
                .into_iter()
                .filter_map(|(block, raw)| {
                    (block.get("type").and_then(Value::as_str) == Some("tool_result"))
                        .then(|| (tool_result(&block), Some(raw)))
                })
                .collect(),
            "result" => self.result(line, out),
            _ => Vec::new(),
        }
    }

    /// Thinking, text and tool calls, in the order of their first block. Text and thinking
    /// that arrived as deltas are not sent again.
    fn assistant<'a>(&mut self, blocks: &[(Value, &'a RawValue)]) -> Vec<Found<'a>> {
        let joined = |kind: &str, field: &str| -> String {
            blocks
                .iter()
                .filter(|(b, _)| b.get("type").and_then(Value::as_str) == Some(kind))
                .filter_map(|(b, _)| b.get(field).and_then(Value::as_str))
                .collect()
        };
        let mut text = unstreamed(
            joined("text", "text"),
            std::mem::take(&mut self.streamed_text),
        )
        .map(|(text, delta)| AgentEvent::Text { text, delta });
        let mut thinking = unstreamed(
            joined("thinking", "thinking"),
            std::mem::take(&mut self.streamed_thinking),
        )
        .map(|(text, delta)| AgentEvent::Thinking { text, delta });

        let mut found = Vec::new();
        for (block, raw) in blocks {
            let event = match block.get("type").and_then(Value::as_str) {
                Some("text") => text.take(),
                Some("thinking") => thinking.take(),
                Some("tool_use") => Some(AgentEvent::ToolCall {
                    id: string_field(block, "id"),
                    name: string_field(block, "name"),
                    input: block.get("input").cloned().unwrap_or(Value::Null),
                }),
                // `redacted_thinking` and future block types: nothing to show.
                _ => None,
            };
            found.extend(event.map(|e| (e, Some(*raw))));
        }
        found
    }

    fn result<'a>(&mut self, line: &Line<'a>, out: &mut Vec<AgentOutput>) -> Vec<Found<'a>> {
        let mut found = Vec::new();
        if let Some(usage) = line.usage.as_ref().filter(|u| u.is_object()) {
            let count = |key: &str| usage.get(key).and_then(Value::as_u64).unwrap_or(0);
            let (input, output) = (count("input_tokens"), count("output_tokens"));
            let cache_write = count("cache_creation_input_tokens");
            let cache_read = count("cache_read_input_tokens");
            out.push(AgentOutput::TokenBudget(TokenBudgetReport {
                used: input + output + cache_write + cache_read,
                total: CONTEXT_WINDOW,
                breakdown: None,
            }));
            found.push((
                AgentEvent::Usage {
                    input_tokens: input,
                    output_tokens: output,
                    cache_read_tokens: Some(cache_read),
                    cache_write_tokens: Some(cache_write),
                    // `total_cost_usd` is always 0.0 in nano 0.2.0: not a cost.
                    cost_usd: None,
                },
                None,
            ));
        }
        let success = subtype(line).as_deref() == Some("success") && line.is_error != Some(true);
        if success {
            self.reported_success = true;
            // The file nano just wrote: the only handle on this conversation, and the proof
            // that the next turn can resume it.
            let saved = line
                .nano_session_file
                .and_then(|raw| Some((serde_json::from_str::<String>(raw.get()).ok()?, raw)));
            if let Some((name, raw)) = saved {
                let id = name.strip_suffix(".json").unwrap_or(&name);
                if !id.is_empty() {
                    found.push((AgentEvent::NativeSession { id: id.to_owned() }, Some(raw)));
                }
            }
        } else {
            let message = error_text(line);
            self.error = Some(message.clone());
            found.push((
                AgentEvent::Notice {
                    level: NoticeLevel::Error,
                    message,
                },
                line.errors.or(line.subtype),
            ));
        }
        found
    }
}

/// The blocks of `message.content`, parsed and raw. A string content (not printed by 0.2.0)
/// counts as one text block.
fn blocks<'a>(message: Option<&Message<'a>>) -> Vec<(Value, &'a RawValue)> {
    let Some(content) = message.and_then(|m| m.content) else {
        return Vec::new();
    };
    if let Ok(text) = serde_json::from_str::<String>(content.get()) {
        return vec![(serde_json::json!({"type": "text", "text": text}), content)];
    }
    serde_json::from_str::<Vec<&RawValue>>(content.get())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|raw| Some((serde_json::from_str::<Value>(raw.get()).ok()?, raw)))
        .collect()
}

/// What a whole block adds to the deltas already streamed: `(text, delta)`.
/// Nothing streamed: the whole text as a segment. Deltas that are a prefix of the block: only
/// the rest, as a delta (usually nothing). Anything else: the whole text as a new segment.
fn unstreamed(whole: String, streamed: String) -> Option<(String, bool)> {
    if streamed.is_empty() {
        return (!whole.is_empty()).then_some((whole, false));
    }
    match whole.strip_prefix(streamed.as_str()) {
        Some("") => None,
        Some(rest) => Some((rest.to_owned(), true)),
        None => (!whole.is_empty()).then_some((whole, false)),
    }
}

fn tool_result(block: &Value) -> AgentEvent {
    AgentEvent::ToolResult {
        id: string_field(block, "tool_use_id"),
        output: block.get("content").cloned().unwrap_or(Value::Null),
        is_error: block.get("is_error").and_then(Value::as_bool) == Some(true),
    }
}

fn string_field(block: &Value, key: &str) -> String {
    block
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn subtype(line: &Line<'_>) -> Option<String> {
    line.subtype
        .and_then(|raw| serde_json::from_str::<String>(raw.get()).ok())
}

/// The `errors` of a failed `result`, joined; else a description of its subtype.
fn error_text(line: &Line<'_>) -> String {
    let errors: Vec<String> = line
        .errors
        .and_then(|raw| serde_json::from_str::<Vec<Value>>(raw.get()).ok())
        .unwrap_or_default()
        .into_iter()
        .map(|e| match e {
            Value::String(s) => s,
            other => other.to_string(),
        })
        .filter(|e| !e.is_empty())
        .collect();
    if errors.is_empty() {
        format!(
            "nano-claude-code ended with {}",
            subtype(line).as_deref().unwrap_or("an error result")
        )
    } else {
        errors.join("; ")
    }
}

/// `text` without ANSI escape sequences (CSI `ESC [ … final`, and lone `ESC x`): nano prints
/// some errors in red.
pub(crate) fn strip_ansi(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains('\u{1b}') {
        return text.into();
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        // CSI: parameters and intermediates up to a final byte in @..~. Anything else after
        // ESC is a two-character escape (or ESC ended the text) and is dropped with it.
        if chars.next() == Some('[') {
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        }
    }
    out.into()
}

impl OutputParser for NanoParser {
    fn stdout_line(&mut self, line: &[u8], out: &mut Vec<AgentOutput>) {
        let (parsed, text) = match json_line::read::<Line<'_>>(line, str::to_owned) {
            json_line::JsonLine::Json { parsed, text } => (parsed, text),
            json_line::JsonLine::Plain(notice) => return out.push(notice),
            json_line::JsonLine::Blank => return,
        };
        let mut extra = Vec::new();
        let found = self.events(&parsed, &mut extra);
        let whole = json_line::raw(text);
        let mut found = found.into_iter();
        let first = found.next().map_or(AgentEvent::Other, |(event, _)| event);
        out.push(AgentOutput::Line(AgentLine {
            event: first,
            raw: whole,
        }));
        for (event, part) in found {
            // A part of a parsed line is JSON that has been parsed.
            let raw = RawJson::parsed(part.map_or(text, RawValue::get).to_owned());
            out.push(AgentOutput::Line(AgentLine { event, raw }));
        }
        out.append(&mut extra);
    }

    fn stderr_line(&mut self, line: &str, out: &mut Vec<AgentOutput>) {
        // The message without colour codes; `data` keeps the line as nano wrote it.
        out.push(AgentOutput::Line(AgentLine::text(
            AgentEvent::Notice {
                level: NoticeLevel::Warning,
                message: strip_ansi(line).into_owned(),
            },
            line,
        )));
    }

    fn finish(
        &mut self,
        exit_code: Option<i32>,
        signal: Option<i32>,
        stderr_tail: Option<String>,
    ) -> AgentExit {
        let error = if self.reported_success {
            None
        } else {
            self.error.take()
        };
        AgentExit::Exited {
            exit_code,
            signal,
            reported_success: self.reported_success,
            error,
            detail: stderr_tail.map(|tail| strip_ansi(&tail).into_owned()),
        }
    }
}

#[cfg(test)]
mod tests;

//! Claude Code's `stream-json` lines → normalized events.
//!
//! The schema is in `agent-clis.md` §5 and §9. Unknown types and fields pass through as
//! `other`; a field with an unexpected shape only loses its own interpretation. Rules that
//! need state:
//! - text and thinking: `--include-partial-messages` streams every block as deltas, and then
//!   the `assistant` line repeats the whole block. As with cursor's flushes, the whole block
//!   contributes only what the deltas did not already carry (usually nothing → `other`); a
//!   block that was not streamed at all is a whole segment (`delta: false`);
//! - the verdict: a run succeeds only with a `result` line of `subtype:"success"` and
//!   `is_error:false`. Claude reports API errors as `subtype:"success"` with `is_error:true`;
//! - the token budget: `used` is the context of the turn's last model call (the `result`
//!   usage adds up every call of the turn, so it would overstate the window's fill);
//! - stdin: the `result` line ends the turn, so the stdin sender is dropped there and claude
//!   exits.

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use switchboard_agent_api::{AgentLine, AgentOutput, TokenBudgetReport};
use switchboard_protocol::event::{AgentEvent, NoticeLevel};
use switchboard_protocol::lifecycle::AgentExit;
use tokio::sync::mpsc;

use super::control::{Control, ControlRequest};
use crate::json_line;
use crate::supervisor::OutputParser;

/// The context window when claude does not report one.
const DEFAULT_CONTEXT_WINDOW: u64 = 200_000;
/// Models named `…[1m]` run with the one-million-token window.
const LONG_CONTEXT_WINDOW: u64 = 1_000_000;

pub struct ClaudeParser {
    control: Control,
    /// Claude's own model name from `system/init`, else the requested one.
    model: Option<String>,
    /// Deltas of the current content block, until its `assistant` line.
    streamed_text: String,
    streamed_thinking: String,
    /// The latest model call's usage, for the token budget.
    last_call: Option<CallUsage>,
    /// The last `result` line's verdict: `Ok` for success, else the error.
    verdict: Option<Result<(), String>>,
}

#[derive(Deserialize)]
struct Line<'a> {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    subtype: Option<String>,
    #[serde(default)]
    session_id: Option<String>,
    #[serde(default)]
    model: Option<String>,
    /// Set on the lines of a subagent (the `Task` tool).
    #[serde(default, borrow)]
    parent_tool_use_id: Option<&'a RawValue>,
    #[serde(default, borrow)]
    message: Option<&'a RawValue>,
    #[serde(default, borrow)]
    event: Option<&'a RawValue>,
    #[serde(default, borrow)]
    error: Option<&'a RawValue>,
    #[serde(default)]
    request_id: Option<String>,
    #[serde(default, borrow)]
    request: Option<&'a RawValue>,
    #[serde(default, borrow)]
    response: Option<&'a RawValue>,
    #[serde(default, borrow)]
    is_error: Option<&'a RawValue>,
    #[serde(default, borrow)]
    result: Option<&'a RawValue>,
    #[serde(default, borrow)]
    api_error_status: Option<&'a RawValue>,
    #[serde(default, borrow)]
    errors: Option<&'a RawValue>,
    #[serde(default, borrow)]
    usage: Option<&'a RawValue>,
    #[serde(default, borrow)]
    total_cost_usd: Option<&'a RawValue>,
    #[serde(default, borrow, rename = "modelUsage")]
    model_usage: Option<&'a RawValue>,
}

/// An Anthropic message, as `assistant`, `user` and `message_start` carry it.
#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    content: Value,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize, Default, Clone, Copy)]
struct Usage {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
}

impl Usage {
    fn used(&self) -> u64 {
        [
            self.input_tokens,
            self.output_tokens,
            self.cache_read_input_tokens,
            self.cache_creation_input_tokens,
        ]
        .into_iter()
        .flatten()
        .sum()
    }

    /// `message_delta` carries the final figures of the fields it names.
    fn update(&mut self, newer: Usage) {
        self.input_tokens = newer.input_tokens.or(self.input_tokens);
        self.output_tokens = newer.output_tokens.or(self.output_tokens);
        self.cache_read_input_tokens = newer
            .cache_read_input_tokens
            .or(self.cache_read_input_tokens);
        self.cache_creation_input_tokens = newer
            .cache_creation_input_tokens
            .or(self.cache_creation_input_tokens);
    }
}

struct CallUsage {
    message_id: Option<String>,
    usage: Usage,
}

/// A raw Anthropic SSE event inside a `stream_event` line.
#[derive(Deserialize)]
struct StreamEvent {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    delta: Option<Delta>,
    #[serde(default)]
    message: Option<Message>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Delta {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    thinking: Option<String>,
}

#[derive(Deserialize)]
struct ControlResponse {
    #[serde(default)]
    subtype: String,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ModelUsage {
    #[serde(default)]
    context_window: Option<u64>,
}

/// A part of a line that has its own shape; a part that does not fit counts as absent.
fn part<T: DeserializeOwned>(raw: Option<&RawValue>) -> Option<T> {
    serde_json::from_str(raw?.get()).ok()
}

fn is_set(raw: Option<&RawValue>) -> bool {
    raw.is_some_and(|r| r.get() != "null")
}

impl ClaudeParser {
    /// `stdin` is the only sender of claude's stdin; `model` the requested model, if any.
    pub fn new(stdin: mpsc::Sender<Vec<u8>>, model: Option<String>) -> Self {
        Self {
            control: Control::new(stdin),
            model,
            streamed_text: String::new(),
            streamed_thinking: String::new(),
            last_call: None,
            verdict: None,
        }
    }

    fn event(&mut self, line: Line<'_>, out: &mut Vec<AgentOutput>) -> AgentEvent {
        match line.kind.as_str() {
            "system" => self.system(line),
            "stream_event" => self.stream_event(line),
            "assistant" => self.assistant(line),
            "user" => user(line),
            "result" => self.result(line, out),
            "control_request" => {
                self.control_request(line, out);
                AgentEvent::Other
            }
            "control_response" => control_response(line),
            _ => AgentEvent::Other,
        }
    }

    fn system(&mut self, line: Line<'_>) -> AgentEvent {
        if line.subtype.as_deref() != Some("init") {
            return AgentEvent::Other;
        }
        if let Some(model) = line.model.filter(|m| !m.is_empty()) {
            self.model = Some(model);
        }
        match line.session_id {
            Some(id) if !id.is_empty() => AgentEvent::NativeSession { id },
            _ => AgentEvent::Other,
        }
    }

    fn stream_event(&mut self, line: Line<'_>) -> AgentEvent {
        // A subagent's stream would interleave with the main one; its lines still carry it.
        if is_set(line.parent_tool_use_id) {
            return AgentEvent::Other;
        }
        let Some(event) = part::<StreamEvent>(line.event) else {
            return AgentEvent::Other;
        };
        match event.kind.as_str() {
            "message_start" => {
                self.streamed_text.clear();
                self.streamed_thinking.clear();
                if let Some(message) = event.message {
                    self.track_call(message.id, message.usage);
                }
                AgentEvent::Other
            }
            "content_block_start" => {
                self.streamed_text.clear();
                self.streamed_thinking.clear();
                AgentEvent::Other
            }
            "content_block_delta" => match event.delta {
                Some(Delta {
                    kind,
                    text: Some(text),
                    ..
                }) if kind == "text_delta" && !text.is_empty() => {
                    self.streamed_text.push_str(&text);
                    AgentEvent::Text { text, delta: true }
                }
                Some(Delta {
                    kind,
                    thinking: Some(text),
                    ..
                }) if kind == "thinking_delta" && !text.is_empty() => {
                    self.streamed_thinking.push_str(&text);
                    AgentEvent::Thinking { text, delta: true }
                }
                _ => AgentEvent::Other,
            },
            "message_delta" => {
                if let (Some(call), Some(usage)) = (self.last_call.as_mut(), event.usage) {
                    call.usage.update(usage);
                }
                AgentEvent::Other
            }
            _ => AgentEvent::Other,
        }
    }

    fn assistant(&mut self, line: Line<'_>) -> AgentEvent {
        let Some(message) = part::<Message>(line.message) else {
            return AgentEvent::Other;
        };
        if is_set(line.error) {
            // A synthetic message standing in for a failed API call. The `result` line that
            // follows carries the verdict; this only shows what happened.
            let text = text_of(&message.content);
            let message = if text.is_empty() {
                format!("claude API error: {}", line.error.map_or("", |e| e.get()))
            } else {
                text
            };
            return AgentEvent::Notice {
                level: NoticeLevel::Error,
                message,
            };
        }
        let subagent = is_set(line.parent_tool_use_id);
        if !subagent && message.model.as_deref() != Some("<synthetic>") {
            // Without partial messages this is the only usage of a call.
            self.track_call(message.id, message.usage);
        }
        // Claude prints one line per content block.
        let Some(block) = message.content.as_array().and_then(|blocks| blocks.first()) else {
            return AgentEvent::Other;
        };
        let str_field = |name: &str| block.get(name).and_then(Value::as_str).unwrap_or("");
        match str_field("type") {
            // A subagent's reasoning and prose stay in `data`: the main reply is the text.
            "text" | "thinking" if subagent => AgentEvent::Other,
            "text" => whole_block(&mut self.streamed_text, str_field("text"), |text, delta| {
                AgentEvent::Text { text, delta }
            }),
            "thinking" => whole_block(
                &mut self.streamed_thinking,
                str_field("thinking"),
                |text, delta| AgentEvent::Thinking { text, delta },
            ),
            "tool_use" | "server_tool_use" | "mcp_tool_use" => AgentEvent::ToolCall {
                id: str_field("id").to_owned(),
                name: str_field("name").to_owned(),
                input: block.get("input").cloned().unwrap_or(Value::Null),
            },
            _ => AgentEvent::Other,
        }
    }

    fn track_call(&mut self, message_id: Option<String>, usage: Option<Usage>) {
        let Some(usage) = usage else { return };
        let same = self
            .last_call
            .as_ref()
            .is_some_and(|c| c.message_id.is_some() && c.message_id == message_id);
        if !same {
            self.last_call = Some(CallUsage { message_id, usage });
        }
    }

    fn result(&mut self, line: Line<'_>, out: &mut Vec<AgentOutput>) -> AgentEvent {
        let subtype = line.subtype.as_deref().unwrap_or_default();
        let is_error = part::<bool>(line.is_error).unwrap_or(false);
        self.verdict = Some(if subtype == "success" && !is_error {
            Ok(())
        } else {
            Err(result_error(&line, subtype))
        });
        // The turn is over: let stdin close so that claude exits.
        self.control.close();
        let last_call = self.last_call.take();
        let Some(usage) = part::<Usage>(line.usage) else {
            return AgentEvent::Other;
        };
        out.push(AgentOutput::TokenBudget(TokenBudgetReport {
            used: last_call.map_or_else(|| usage.used(), |c| c.usage.used()),
            total: self.context_window(line.model_usage),
            breakdown: None,
        }));
        AgentEvent::Usage {
            input_tokens: usage.input_tokens.unwrap_or(0),
            output_tokens: usage.output_tokens.unwrap_or(0),
            cache_read_tokens: usage.cache_read_input_tokens,
            cache_write_tokens: usage.cache_creation_input_tokens,
            cost_usd: part::<f64>(line.total_cost_usd),
        }
    }

    /// Claude's own figure for the model (`modelUsage.<model>.contextWindow`), else the
    /// window its name implies.
    fn context_window(&self, model_usage: Option<&RawValue>) -> u64 {
        let model = self.model.as_deref().unwrap_or_default();
        part::<Map<String, Value>>(model_usage)
            .and_then(|mut models| models.remove(model))
            .and_then(|usage| serde_json::from_value::<ModelUsage>(usage).ok())
            .and_then(|usage| usage.context_window)
            .filter(|&window| window > 0)
            .unwrap_or(if model.contains("[1m]") {
                LONG_CONTEXT_WINDOW
            } else {
                DEFAULT_CONTEXT_WINDOW
            })
    }

    fn control_request(&mut self, line: Line<'_>, out: &mut Vec<AgentOutput>) {
        let Some(request_id) = line.request_id.filter(|id| !id.is_empty()) else {
            return;
        };
        // A request we cannot read is answered as unsupported rather than left hanging.
        let request = part::<ControlRequest>(line.request).unwrap_or(ControlRequest {
            subtype: String::new(),
            tool_name: String::new(),
            input: Value::Null,
        });
        if let Some(ask) = self.control.request(&request_id, request) {
            out.push(AgentOutput::Permission(ask));
        }
    }
}

/// The whole block of an `assistant` line, given the deltas streamed for it: only what the
/// deltas did not carry, or the whole block when nothing (or something else) was streamed.
fn whole_block(
    streamed: &mut String,
    text: &str,
    make: impl FnOnce(String, bool) -> AgentEvent,
) -> AgentEvent {
    let streamed = std::mem::take(streamed);
    if text.is_empty() {
        return AgentEvent::Other;
    }
    if streamed.is_empty() {
        return make(text.to_owned(), false);
    }
    match text.strip_prefix(streamed.as_str()) {
        Some("") => AgentEvent::Other,
        Some(rest) => make(rest.to_owned(), true),
        None => make(text.to_owned(), false),
    }
}

/// `user` lines: tool results, and the notes claude adds when interrupted.
fn user(line: Line<'_>) -> AgentEvent {
    let Some(message) = part::<Message>(line.message) else {
        return AgentEvent::Other;
    };
    let Some(blocks) = message.content.as_array() else {
        return AgentEvent::Other;
    };
    for block in blocks {
        match block.get("type").and_then(Value::as_str) {
            Some("tool_result") => {
                return AgentEvent::ToolResult {
                    id: block
                        .get("tool_use_id")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    output: block.get("content").cloned().unwrap_or(Value::Null),
                    is_error: block
                        .get("is_error")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                };
            }
            Some("text") => {
                let text = block.get("text").and_then(Value::as_str).unwrap_or("");
                if text.starts_with("[Request interrupted") {
                    return AgentEvent::Notice {
                        level: NoticeLevel::Info,
                        message: text.to_owned(),
                    };
                }
            }
            _ => {}
        }
    }
    AgentEvent::Other
}

/// The answer to our `initialize`: nothing to show unless claude refused it.
fn control_response(line: Line<'_>) -> AgentEvent {
    match part::<ControlResponse>(line.response) {
        Some(response) if response.subtype == "error" => AgentEvent::Notice {
            level: NoticeLevel::Warning,
            message: format!(
                "claude refused a control request: {}",
                match response.error {
                    Some(Value::String(s)) => s,
                    Some(other) => other.to_string(),
                    None => "no reason given".into(),
                }
            ),
        },
        _ => AgentEvent::Other,
    }
}

/// The error of a `result` that is not a success: its text, else the API status, else
/// claude's own error list.
fn result_error(line: &Line<'_>, subtype: &str) -> String {
    if let Some(text) = part::<String>(line.result).filter(|t| !t.trim().is_empty()) {
        return text;
    }
    if let Some(status) = part::<Value>(line.api_error_status).filter(|s| !s.is_null()) {
        return format!("claude API error (status {status})");
    }
    let errors: Vec<String> = part::<Vec<Value>>(line.errors)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|e| match e {
            Value::String(s) if !s.is_empty() => Some(s),
            Value::String(_) | Value::Null => None,
            other => Some(other.to_string()),
        })
        .collect();
    if !errors.is_empty() {
        return errors.join("; ");
    }
    if subtype.is_empty() || subtype == "success" {
        "claude reported an error result".into()
    } else {
        format!("claude ended the turn with {subtype}")
    }
}

/// The text of a message's content: a string, or every `text` block joined.
fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect(),
        _ => String::new(),
    }
}

impl OutputParser for ClaudeParser {
    fn stdout_line(&mut self, line: &[u8], out: &mut Vec<AgentOutput>) {
        let (parsed, text) = match json_line::read::<Line<'_>>(line, str::to_owned) {
            json_line::JsonLine::Json { parsed, text } => (parsed, text),
            json_line::JsonLine::Plain(notice) => return out.push(notice),
            json_line::JsonLine::Blank => return,
        };
        let mut extra = Vec::new();
        let event = self.event(parsed, &mut extra);
        let raw = json_line::raw(text);
        // The line first: a permission question or a budget follows the line that caused it.
        out.push(AgentOutput::Line(AgentLine { event, raw }));
        out.append(&mut extra);
    }

    fn finish(
        &mut self,
        exit_code: Option<i32>,
        signal: Option<i32>,
        stderr_tail: Option<String>,
    ) -> AgentExit {
        self.control.close();
        let (reported_success, error) = match self.verdict.take() {
            Some(Ok(())) => (true, None),
            Some(Err(error)) => (false, Some(error)),
            None => (false, None),
        };
        AgentExit::Exited {
            exit_code,
            signal,
            reported_success,
            error,
            detail: stderr_tail,
        }
    }
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;

//! `codex exec --json` lines → normalized events.
//!
//! The schema (`codex-rs/exec/src/exec_events.rs` upstream, `agent-clis.md` §5):
//! `thread.started{thread_id}`, `turn.started`, `item.started|updated|completed{item}`,
//! `turn.completed{usage}`, `turn.failed{error}`, `error{message}`. Items carry an `id` and
//! a `type`. Agent text is never streamed: it arrives whole in `item.completed`. Unknown
//! types and fields pass through as `other`; nothing here fails on a new field.
//!
//! Rules that need state:
//! - a tool item is announced (`tool-call`) the first time its id shows up, which is
//!   `item.started` for most items but can be `item.updated` for file changes; later updates
//!   are `other`, and `item.completed` is the `tool-result`;
//! - the verdict: a run succeeds only with a `turn.completed` and no `turn.failed`. An
//!   `error` line alone is not fatal (codex also reports retried stream errors that way), but
//!   it is the error of a run that then does not complete. An interrupted turn prints
//!   nothing, so an aborted run ends without a verdict.

use std::collections::HashSet;

use serde::Deserialize;
use serde_json::{Map, Value};
use switchboard_agent_api::{AgentLine, AgentOutput, TokenBudgetReport};
use switchboard_protocol::event::{AgentEvent, NoticeLevel};
use switchboard_protocol::lifecycle::AgentExit;

use crate::json_line;
use crate::supervisor::OutputParser;

/// `codex exec --json` does not report the model's context window.
const CONTEXT_WINDOW: u64 = 200_000;
/// codex prints this on every run whose stdin is not a terminal, even `/dev/null`.
const STDIN_NOTE: &str = "Reading additional input from stdin...";
/// The longest stderr line kept to explain a bad exit (as the supervisor does).
const DETAIL_MAX: usize = 2000;

#[derive(Default)]
pub struct CodexParser {
    turn_completed: bool,
    turn_failed: bool,
    error: Option<String>,
    /// Tool items already reported as `tool-call`.
    announced: HashSet<String>,
    /// The last stderr line that explains something (not a backtrace frame, not the stdin
    /// note), for `detail`.
    stderr_reason: Option<String>,
}

#[derive(Deserialize)]
struct Line {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    thread_id: Option<String>,
    #[serde(default)]
    item: Option<Map<String, Value>>,
    #[serde(default)]
    usage: Option<Map<String, Value>>,
    #[serde(default)]
    message: Option<Value>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Clone, Copy, PartialEq)]
enum Phase {
    Started,
    Updated,
    Completed,
}

impl CodexParser {
    fn event(&mut self, line: Line, out: &mut Vec<AgentOutput>) -> AgentEvent {
        match line.kind.as_str() {
            "thread.started" => match line.thread_id {
                Some(id) if !id.is_empty() => AgentEvent::NativeSession { id },
                _ => AgentEvent::Other,
            },
            "item.started" => self.item(Phase::Started, line.item),
            "item.updated" => self.item(Phase::Updated, line.item),
            "item.completed" => self.item(Phase::Completed, line.item),
            "turn.completed" => {
                self.turn_completed = true;
                match line.usage {
                    Some(usage) => usage_event(&usage, out),
                    None => AgentEvent::Other,
                }
            }
            "turn.failed" => {
                self.turn_failed = true;
                let message = line
                    .error
                    .as_ref()
                    .and_then(|e| e.get("message"))
                    .and_then(text_of)
                    .unwrap_or_else(|| "codex reported a failed turn".into());
                self.failure(message)
            }
            "error" => {
                let message = line
                    .message
                    .as_ref()
                    .and_then(text_of)
                    .unwrap_or_else(|| "codex reported an error".into());
                self.failure(message)
            }
            // turn.started, item.plan.delta, request_user_input, and whatever comes next.
            _ => AgentEvent::Other,
        }
    }

    fn failure(&mut self, message: String) -> AgentEvent {
        self.error = Some(message.clone());
        AgentEvent::Notice {
            level: NoticeLevel::Error,
            message,
        }
    }

    fn item(&mut self, phase: Phase, item: Option<Map<String, Value>>) -> AgentEvent {
        let Some(mut item) = item else {
            return AgentEvent::Other;
        };
        let id = item
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let kind = item
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let text = || {
            item.get("text")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
        };
        match (kind.as_str(), phase) {
            // `plan` is the answer of a plan-mode turn.
            ("agent_message" | "plan", Phase::Completed) => match text() {
                Some(text) => AgentEvent::Text { text, delta: false },
                None => AgentEvent::Other,
            },
            ("reasoning", Phase::Completed) => match text() {
                Some(text) => AgentEvent::Thinking { text, delta: false },
                None => AgentEvent::Other,
            },
            // Error items are codex's non-fatal reports: warnings, config and deprecation
            // notices, model reroutes ("Model metadata for `x` not found" is one).
            ("error", _) => match item.get("message").and_then(text_of) {
                Some(message) => AgentEvent::Notice {
                    level: NoticeLevel::Warning,
                    message,
                },
                None => AgentEvent::Other,
            },
            (kind, phase) if TOOL_ITEMS.contains(&kind) => {
                if phase == Phase::Completed {
                    self.announced.remove(&id);
                    let (output, is_error) = tool_result(kind, &mut item);
                    AgentEvent::ToolResult {
                        id,
                        output,
                        is_error,
                    }
                } else if self.announced.insert(id.clone()) {
                    let (name, input) = tool_call(kind, &mut item);
                    AgentEvent::ToolCall { id, name, input }
                } else {
                    AgentEvent::Other
                }
            }
            _ => AgentEvent::Other,
        }
    }
}

/// Item types that are tool calls.
const TOOL_ITEMS: &[&str] = &[
    "command_execution",
    "file_change",
    "mcp_tool_call",
    "web_search",
    "todo_list",
    "collab_tool_call",
];

/// `(name, input)` of a tool item. The shell is `shell` (as for cursor), an MCP tool is
/// `mcp__<server>__<tool>`, a collab tool is its own name; the other items keep their type.
fn tool_call(kind: &str, item: &mut Map<String, Value>) -> (String, Value) {
    let field = |item: &Map<String, Value>, key: &str| {
        item.get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    match kind {
        "command_execution" => {
            let command = item.remove("command").unwrap_or(Value::Null);
            ("shell".into(), serde_json::json!({ "command": command }))
        }
        "mcp_tool_call" => {
            let name = format!("mcp__{}__{}", field(item, "server"), field(item, "tool"));
            (name, item.remove("arguments").unwrap_or(Value::Null))
        }
        _ => {
            let name = match kind {
                "collab_tool_call" => Some(field(item, "tool")).filter(|t| !t.is_empty()),
                _ => None,
            };
            let mut input = payload(item);
            input.remove("status");
            (name.unwrap_or_else(|| kind.into()), Value::Object(input))
        }
    }
}

/// `(output, is_error)` of a finished tool item. A command fails with a non-zero exit code or
/// a `failed`/`declined` status; an MCP call also fails with an `error`.
fn tool_result(kind: &str, item: &mut Map<String, Value>) -> (Value, bool) {
    let failed = matches!(
        item.get("status").and_then(Value::as_str),
        Some("failed" | "declined")
    );
    match kind {
        "command_execution" => {
            let nonzero = item
                .get("exit_code")
                .and_then(Value::as_i64)
                .is_some_and(|code| code != 0);
            let output = item.remove("aggregated_output").unwrap_or(Value::Null);
            (output, failed || nonzero)
        }
        "mcp_tool_call" => {
            let error = item.remove("error").filter(|e| !e.is_null());
            let result = item.remove("result").filter(|r| !r.is_null());
            let is_error = failed || error.is_some();
            (error.or(result).unwrap_or(Value::Null), is_error)
        }
        _ => (Value::Object(payload(item)), failed),
    }
}

/// The item's own fields, without the envelope (`id`, `type`).
fn payload(item: &mut Map<String, Value>) -> Map<String, Value> {
    let mut rest = std::mem::take(item);
    rest.remove("id");
    rest.remove("type");
    rest
}

/// `turn.completed.usage`: codex's figures are totals for the whole thread so far, and
/// `input_tokens` includes the cached and cache-written tokens. The event reports the
/// uncached input apart from the cache (as claude does), so the four figures add up to what
/// codex counts; the token budget is that sum.
fn usage_event(usage: &Map<String, Value>, out: &mut Vec<AgentOutput>) -> AgentEvent {
    let count = |key: &str| usage.get(key).and_then(Value::as_u64);
    let input = count("input_tokens").unwrap_or(0);
    let output = count("output_tokens").unwrap_or(0);
    let cache_read = count("cached_input_tokens");
    let cache_write = count("cache_write_input_tokens");
    out.push(AgentOutput::TokenBudget(TokenBudgetReport {
        used: input + output,
        total: CONTEXT_WINDOW,
        breakdown: None,
    }));
    AgentEvent::Usage {
        input_tokens: input
            .saturating_sub(cache_read.unwrap_or(0))
            .saturating_sub(cache_write.unwrap_or(0)),
        output_tokens: output,
        cache_read_tokens: cache_read,
        cache_write_tokens: cache_write,
        cost_usd: None,
    }
}

/// A message field as text: the string itself, or the JSON of anything else.
fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// A line of a Rust backtrace (codex prints one after `Error: …` when `RUST_BACKTRACE` is
/// set): it explains nothing to a user.
fn is_backtrace(line: &str) -> bool {
    let line = line.trim_start();
    line == "Stack backtrace:"
        || line.starts_with("at ")
        || line
            .split_once(": ")
            .is_some_and(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

impl OutputParser for CodexParser {
    fn stdout_line(&mut self, line: &[u8], out: &mut Vec<AgentOutput>) {
        let (parsed, text) = match json_line::read::<Line>(line, str::to_owned) {
            json_line::JsonLine::Json { parsed, text } => (parsed, text),
            json_line::JsonLine::Plain(notice) => return out.push(notice),
            json_line::JsonLine::Blank => return,
        };
        let raw = json_line::raw(text);
        let mut extra = Vec::new();
        let event = self.event(parsed, &mut extra);
        out.push(AgentOutput::Line(AgentLine { event, raw }));
        out.append(&mut extra);
    }

    fn stderr_line(&mut self, line: &str, out: &mut Vec<AgentOutput>) {
        let level = if line == STDIN_NOTE {
            NoticeLevel::Info
        } else {
            if !is_backtrace(line) {
                self.stderr_reason = Some(line.chars().take(DETAIL_MAX).collect());
            }
            NoticeLevel::Warning
        };
        out.push(AgentOutput::Line(AgentLine::text(
            AgentEvent::Notice {
                level,
                message: line.to_owned(),
            },
            line,
        )));
    }

    fn finish(
        &mut self,
        exit_code: Option<i32>,
        signal: Option<i32>,
        _stderr_tail: Option<String>,
    ) -> AgentExit {
        // The supervisor's tail is the last stderr line, which after a codex error is the
        // last frame of a backtrace, or the stdin note; ours skips both.
        let reported_success = self.turn_completed && !self.turn_failed;
        let error = if reported_success {
            None
        } else {
            self.error.take()
        };
        AgentExit::Exited {
            exit_code,
            signal,
            reported_success,
            error,
            detail: self.stderr_reason.take(),
        }
    }
}

#[cfg(test)]
mod tests;

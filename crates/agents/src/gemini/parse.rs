//! Gemini CLI `stream-json` lines → normalized events.
//!
//! The schema is gemini-cli's `packages/core/src/output/types.ts`: `init`, `message`,
//! `tool_use`, `tool_result`, `error` and `result`. Unknown types and fields pass through as
//! `other`; nothing here fails on a new field.
//!
//! The verdict comes from the `result` line only (`status:"success"`). Gemini prints no JSON at
//! all when it fails before the session starts (auth, trust, a bad `--resume` id): then the
//! exit code names the cause (gemini's `FatalError` codes, or an API error's HTTP status
//! modulo 256), and the first meaningful stderr line explains it.

use serde::Deserialize;
use serde_json::{Map, Value};
use switchboard_agent_api::{AgentLine, AgentOutput, TokenBudgetReport};
use switchboard_protocol::event::{AgentEvent, NoticeLevel};
use switchboard_protocol::lifecycle::AgentExit;

use crate::json_line;
use crate::supervisor::OutputParser;

/// The context window when no model in the run is one we know.
const DEFAULT_CONTEXT_WINDOW: u64 = 1_000_000;
/// The longest stderr line kept as the cause of a failure.
const CAUSE_MAX: usize = 2000;

/// Why gemini refused the session flag it was given (exit 42, before `init`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionProblem {
    /// `--resume`: gemini has no resumable conversation with that id in this directory.
    NotResumable,
    /// `--session-id`: gemini already has a conversation with that id.
    AlreadyExists,
}

#[derive(Default)]
pub struct GeminiParser {
    saw_init: bool,
    saw_result: bool,
    reported_success: bool,
    /// The error of the last non-success `result`.
    result_error: Option<String>,
    /// The last `error` event of severity `error`.
    error_event: Option<String>,
    /// The model `init` named.
    init_model: Option<String>,
    /// The first stderr line that is neither known noise nor a stack frame: the cause, when
    /// gemini fails before printing any JSON.
    stderr_cause: Option<String>,
    session_problem: Option<SessionProblem>,
}

#[derive(Deserialize)]
struct Line {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    session_id: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    content: Option<Value>,
    #[serde(default)]
    delta: Option<bool>,
    #[serde(default)]
    tool_name: Option<String>,
    #[serde(default)]
    tool_id: Option<String>,
    #[serde(default)]
    parameters: Option<Value>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    output: Option<Value>,
    #[serde(default)]
    error: Option<Value>,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    message: Option<Value>,
    #[serde(default)]
    stats: Option<Stats>,
}

/// `result.stats`. `input_tokens` is the whole prompt; `cached` and `input` split it.
#[derive(Deserialize)]
struct Stats {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    #[serde(default)]
    cached: u64,
    #[serde(default)]
    input: Option<u64>,
    #[serde(default)]
    models: Option<Map<String, Value>>,
}

impl GeminiParser {
    /// True once gemini printed `init`, i.e. it accepted the session flag.
    pub fn saw_init(&self) -> bool {
        self.saw_init
    }

    /// What gemini said about the session flag, if it refused it.
    pub fn session_problem(&self) -> Option<SessionProblem> {
        self.session_problem
    }

    fn event(&mut self, line: Line, out: &mut Vec<AgentOutput>) -> AgentEvent {
        match line.kind.as_str() {
            "init" => {
                self.saw_init = true;
                self.init_model = line.model;
                match line.session_id {
                    Some(id) if !id.is_empty() => AgentEvent::NativeSession { id },
                    _ => AgentEvent::Other,
                }
            }
            "message" if line.role.as_deref() == Some("assistant") => {
                let text = content_text(line.content.as_ref());
                if text.is_empty() {
                    AgentEvent::Other
                } else {
                    AgentEvent::Text {
                        text,
                        delta: line.delta == Some(true),
                    }
                }
            }
            "tool_use" => AgentEvent::ToolCall {
                id: line.tool_id.unwrap_or_default(),
                name: line.tool_name.unwrap_or_else(|| "unknown".into()),
                input: line.parameters.unwrap_or(Value::Null),
            },
            "tool_result" => {
                let is_error = line.status.as_deref() != Some("success");
                // A failed tool usually has no `output`; its `error.message` says why.
                let error = line.error.as_ref().and_then(error_message);
                let output = match (is_error, error, line.output) {
                    (true, Some(message), _) => Value::String(message),
                    (_, _, Some(output)) => output,
                    _ => Value::Null,
                };
                AgentEvent::ToolResult {
                    id: line.tool_id.unwrap_or_default(),
                    output,
                    is_error,
                }
            }
            "error" => {
                let message = line
                    .message
                    .as_ref()
                    .and_then(error_message)
                    .unwrap_or_else(|| "gemini reported an error".into());
                // Warnings (e.g. a loop detected, a blocked hook) do not end the turn.
                let level = if line.severity.as_deref() == Some("warning") {
                    NoticeLevel::Warning
                } else {
                    self.error_event = Some(message.clone());
                    NoticeLevel::Error
                };
                AgentEvent::Notice { level, message }
            }
            "result" => {
                self.saw_result = true;
                self.reported_success = line.status.as_deref() == Some("success");
                self.result_error = if self.reported_success {
                    None
                } else {
                    // Gemini omits `error` when an invalid stream ended the turn; the `error`
                    // event before it has the text.
                    Some(
                        line.error
                            .as_ref()
                            .and_then(error_message)
                            .or_else(|| self.error_event.clone())
                            .unwrap_or_else(|| "gemini reported an error result".into()),
                    )
                };
                match line.stats {
                    Some(stats) => self.usage(stats, out),
                    None => AgentEvent::Other,
                }
            }
            // `message` from the user (the prompt's echo) and anything new.
            _ => AgentEvent::Other,
        }
    }

    fn usage(&self, stats: Stats, out: &mut Vec<AgentOutput>) -> AgentEvent {
        let cached = stats.cached;
        let input = stats
            .input
            .unwrap_or_else(|| stats.input_tokens.saturating_sub(cached));
        let used = input + cached + stats.output_tokens;
        // A run that failed before any model call reports zeros, which say nothing about the
        // context (a resumed session is not empty).
        if used > 0 {
            let models = stats.models.as_ref();
            let names = models
                .into_iter()
                .flat_map(|m| m.keys().map(String::as_str))
                .chain(self.init_model.as_deref());
            out.push(AgentOutput::TokenBudget(TokenBudgetReport {
                used,
                total: context_window(names),
                breakdown: models.map(|m| serde_json::json!({ "models": m })),
            }));
        }
        AgentEvent::Usage {
            input_tokens: input,
            output_tokens: stats.output_tokens,
            cache_read_tokens: Some(cached),
            cache_write_tokens: None,
            cost_usd: None,
        }
    }

    fn note_stderr(&mut self, line: &str) {
        if line.contains("Invalid session identifier")
            || line.contains("No previous sessions found")
        {
            self.session_problem = Some(SessionProblem::NotResumable);
        } else if line.contains("Session ID") && line.contains("already exists") {
            self.session_problem = Some(SessionProblem::AlreadyExists);
        }
        let trimmed = line.trim();
        let stack_frame = trimmed.starts_with("at ") || matches!(trimmed, "{" | "}");
        if self.stderr_cause.is_none() && !stack_frame {
            self.stderr_cause = Some(trimmed.chars().take(CAUSE_MAX).collect());
        }
    }

    /// The error of a run that printed no `result`, from its exit code.
    fn exit_error(&self, exit_code: Option<i32>) -> Option<String> {
        let code = exit_code.filter(|c| *c != 0)?;
        let what = explain_exit(code, self.session_problem)?;
        Some(match &self.stderr_cause {
            Some(cause) => format!("{what} (gemini exit {code}): {cause}"),
            None => format!("{what} (gemini exit {code})"),
        })
    }
}

/// What a gemini exit code means (gemini-cli's `FatalError` subclasses, and `handleError`,
/// which exits with an API error's HTTP status: 400 → 144).
fn explain_exit(code: i32, session: Option<SessionProblem>) -> Option<String> {
    let text = match code {
        41 => "gemini could not authenticate: configure its auth for the server's user \
               (GEMINI_API_KEY, or security.auth.selectedType in ~/.gemini/settings.json)"
            .to_owned(),
        42 => match session {
            Some(SessionProblem::NotResumable) => {
                "gemini has no resumable conversation with this id in this working directory \
                 (it keeps conversations per directory, deletes them after 30 days, and keeps \
                 none for a first turn that failed)"
                    .to_owned()
            }
            Some(SessionProblem::AlreadyExists) => {
                "gemini already has a conversation with this session's id".to_owned()
            }
            None => "gemini rejected its input".to_owned(),
        },
        44 => "gemini's sandbox failed".to_owned(),
        52 => "gemini's configuration is invalid".to_owned(),
        53 => "gemini reached its maximum number of session turns".to_owned(),
        54 => "a gemini tool failed fatally".to_owned(),
        55 => "gemini refused to run in an untrusted folder".to_owned(),
        130 => "gemini was cancelled".to_owned(),
        144..=255 => format!(
            "gemini's model API call failed with HTTP status {}",
            code + 256
        ),
        _ => return None,
    };
    Some(text)
}

/// The largest known context window among the models a run named; gemini 1.5 Pro has 2M
/// tokens, the other 1.5, 2.x and 3.x models 1M (1,048,576).
fn context_window<'a>(models: impl Iterator<Item = &'a str>) -> u64 {
    models
        .filter_map(|name| {
            if name.contains("gemini-1.5-pro") {
                Some(2_097_152)
            } else if ["gemini-1.5-flash", "gemini-2", "gemini-3"]
                .iter()
                .any(|family| name.contains(family))
            {
                Some(1_048_576)
            } else {
                None
            }
        })
        .max()
        .unwrap_or(DEFAULT_CONTEXT_WINDOW)
}

/// A message's text: a string per the schema; an array of `{text}` parts is tolerated.
fn content_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect(),
        _ => String::new(),
    }
}

/// `{type, message}` or a plain string.
fn error_message(error: &Value) -> Option<String> {
    match error {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Object(fields) => fields
            .get("message")
            .and_then(Value::as_str)
            .filter(|m| !m.is_empty())
            .map(str::to_owned),
        _ => None,
    }
}

/// stderr lines gemini prints on every run; harmless.
fn is_noise(line: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "Warning: 256-color support not detected",
        "Ripgrep is not available",
        "[STARTUP]",
        "YOLO mode is enabled",
        "Loaded cached credentials",
    ];
    let line = line.trim();
    PREFIXES.iter().any(|p| line.starts_with(p)) || is_duration(line)
}

/// A bare timing such as `2.00s`, which gemini prints after its startup profile.
fn is_duration(line: &str) -> bool {
    line.strip_suffix('s')
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
}

/// The text without ANSI escape sequences (gemini colours some errors even on a pipe).
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'[') {
            chars.next();
            // Parameters and intermediates, then one final byte in @..~.
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        }
    }
    out
}

impl OutputParser for GeminiParser {
    fn stdout_line(&mut self, line: &[u8], out: &mut Vec<AgentOutput>) {
        let (parsed, text) = match json_line::read::<Line>(line, strip_ansi) {
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
        let message = strip_ansi(line);
        let level = if is_noise(&message) {
            NoticeLevel::Info
        } else {
            self.note_stderr(&message);
            NoticeLevel::Warning
        };
        out.push(AgentOutput::Line(AgentLine::text(
            AgentEvent::Notice { level, message },
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
        } else if self.saw_result {
            self.result_error.take()
        } else if signal.is_some() {
            None
        } else {
            self.exit_error(exit_code)
                .or_else(|| self.error_event.take())
        };
        AgentExit::Exited {
            exit_code,
            signal,
            reported_success: self.reported_success,
            error,
            detail: stderr_tail.map(|t| strip_ansi(&t)),
        }
    }
}

#[cfg(test)]
mod tests;

//! What the user sees: with `--json`, every frame exactly as received, one per line; without,
//! the answer as plain text on stdout, tool calls as one compact line each, and everything
//! about the run (spinner, notices, the final state) on stderr, so that stdout stays the answer.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;
use switchboard_protocol::event::{AgentEvent, NoticeLevel};
use switchboard_protocol::server::ServerMessageSchema;
use switchboard_protocol::RunState;

use crate::frame::Frame;

/// The longest tool input or output summary, in characters.
const SUMMARY_CHARS: usize = 100;

pub struct Renderer {
    json: bool,
    spinner_allowed: bool,
    spinner: Option<ProgressBar>,
    /// stdout holds answer text not yet ended by a newline.
    mid_line: bool,
    usage: Option<(u64, u64)>,
    budget: Option<(u64, u64)>,
}

impl Renderer {
    pub fn new(json: bool) -> Self {
        Self {
            json,
            spinner_allowed: !json && std::io::stderr().is_terminal(),
            spinner: None,
            mid_line: false,
            usage: None,
            budget: None,
        }
    }

    /// Shows one frame.
    pub fn frame(&mut self, frame: &Frame) -> std::io::Result<()> {
        if self.json {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", frame.raw)?;
            return out.flush();
        }
        let Some(message) = &frame.message else {
            return Ok(());
        };
        match message {
            ServerMessageSchema::SessionAccepted(j) => {
                self.note(&format!(
                    "session {} ({})",
                    j.header.session_id, j.header.provider
                ));
                // What was asked, so that `attach` shows each run's question before its answer.
                if let Some(prompt) = &j.body.prompt {
                    let line = prompt.lines().next().unwrap_or_default();
                    let shown: String = line.chars().take(200).collect();
                    let more = if shown.len() < prompt.trim_end().len() {
                        " …"
                    } else {
                        ""
                    };
                    self.note(&format!("> {shown}{more}"));
                }
                self.waiting("waiting for the agent");
            }
            ServerMessageSchema::SessionQueued(j) => {
                self.waiting(&format!("queued (position {})", j.body.position));
            }
            ServerMessageSchema::ClaudeResponse(j)
            | ServerMessageSchema::CursorResponse(j)
            | ServerMessageSchema::CodexResponse(j)
            | ServerMessageSchema::GeminiResponse(j)
            | ServerMessageSchema::OpenrouterResponse(j)
            | ServerMessageSchema::LocalgpuResponse(j)
            | ServerMessageSchema::NanoResponse(j) => self.event(&j.body.event)?,
            ServerMessageSchema::TokenBudget(j) => {
                self.budget = Some((j.body.data.used, j.body.data.total));
            }
            ServerMessageSchema::PermissionCancelled(j) => {
                self.note(&format!(
                    "the permission request {} ended unanswered ({})",
                    j.body.request_id,
                    serde_json::to_value(j.body.reason)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default()
                ));
            }
            ServerMessageSchema::ClaudeError(j)
            | ServerMessageSchema::CursorError(j)
            | ServerMessageSchema::CodexError(j)
            | ServerMessageSchema::GeminiError(j)
            | ServerMessageSchema::OpenrouterError(j)
            | ServerMessageSchema::LocalgpuError(j)
            | ServerMessageSchema::NanoError(j) => {
                self.note(&format!("error: {}", j.body.error));
            }
            ServerMessageSchema::SessionAborted(_) => self.note("stopping the run"),
            ServerMessageSchema::Error(e) => {
                self.note(&format!("server error {}: {}", e.code, e.message));
            }
            ServerMessageSchema::SessionStateChanged(j) if j.body.state.is_terminal() => {
                if let (Some(from), Some(to)) = (j.body.lost_from, j.body.lost_to) {
                    self.note(&format!(
                        "the server crashed during this run; frames {from}–{to} may be missing"
                    ));
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn event(&mut self, event: &AgentEvent) -> std::io::Result<()> {
        match event {
            AgentEvent::Text { text, delta } => {
                self.stop_spinner();
                let mut out = std::io::stdout().lock();
                if !*delta && self.mid_line {
                    writeln!(out)?;
                }
                let text = printable(text);
                write!(out, "{text}")?;
                self.mid_line = !text.ends_with('\n');
                if !*delta && self.mid_line {
                    writeln!(out)?;
                    self.mid_line = false;
                }
                out.flush()?;
            }
            AgentEvent::Thinking { .. } => self.waiting("thinking"),
            AgentEvent::ToolCall { name, input, .. } => {
                self.line(&tool_call_line(name, input))?;
                self.waiting(&format!("running {name}"));
            }
            AgentEvent::ToolResult {
                output, is_error, ..
            } => {
                self.line(&tool_result_line(output, *is_error))?;
                self.waiting("waiting for the agent");
            }
            AgentEvent::Usage {
                input_tokens,
                output_tokens,
                ..
            } => self.usage = Some((*input_tokens, *output_tokens)),
            AgentEvent::Notice { level, message } => match level {
                NoticeLevel::Warning => self.note(&format!("warning: {message}")),
                NoticeLevel::Error => self.note(&format!("error: {message}")),
                // Info notices are stderr chatter of the agent; `--json` keeps them.
                NoticeLevel::Info => {}
            },
            AgentEvent::NativeSession { .. } | AgentEvent::Other => {}
        }
        Ok(())
    }

    /// A whole line on stdout, after any unfinished answer text.
    fn line(&mut self, text: &str) -> std::io::Result<()> {
        self.stop_spinner();
        let mut out = std::io::stdout().lock();
        if self.mid_line {
            writeln!(out)?;
            self.mid_line = false;
        }
        writeln!(out, "{}", printable(text))?;
        out.flush()
    }

    /// A message about the run, on stderr (also with `--json`, whose stdout stays frames only).
    pub fn note(&mut self, text: &str) {
        let spinning = self.spinner.as_ref().map(|s| s.message());
        self.stop_spinner();
        if self.mid_line && !self.json {
            self.end_answer_line();
        }
        write_stderr_line(&printable(text));
        if let Some(message) = spinning {
            self.waiting(&message);
        }
    }

    /// Shows the spinner with a message, when stderr is a terminal and no answer line is open.
    pub fn waiting(&mut self, message: &str) {
        if !self.spinner_allowed || self.mid_line {
            return;
        }
        match &self.spinner {
            Some(spinner) => spinner.set_message(message.to_owned()),
            None => {
                let spinner = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
                spinner.set_style(
                    ProgressStyle::with_template("{spinner} {msg}…")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                spinner.set_message(message.to_owned());
                spinner.enable_steady_tick(Duration::from_millis(100));
                self.spinner = Some(spinner);
            }
        }
    }

    /// Hides the spinner (before a prompt, or before text).
    pub fn stop_spinner(&mut self) {
        if let Some(spinner) = self.spinner.take() {
            spinner.finish_and_clear();
        }
    }

    /// Ends the output of a run with a summary line on stderr.
    pub fn finish(&mut self, state: RunState, session: &str) {
        self.stop_spinner();
        if self.json {
            return;
        }
        if self.mid_line {
            self.end_answer_line();
        }
        let mut summary = state.as_str().to_owned();
        if let Some((input, output)) = self.usage {
            summary.push_str(&format!(" · {input} in / {output} out tokens"));
        }
        if let Some((used, total)) = self.budget {
            summary.push_str(&format!(" · context {used}/{total}"));
        }
        write_stderr_line(&format!("{summary} · session {session}"));
    }

    fn end_answer_line(&mut self) {
        let mut out = std::io::stdout().lock();
        // A closed stdout (`| head`) is not worth failing the run's bookkeeping over.
        let _ = writeln!(out).and_then(|()| out.flush());
        self.mid_line = false;
    }
}

/// One line for the user on stderr; a closed stderr is ignored.
fn write_stderr_line(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{text}");
}

/// `⏺ shell: echo hi`: the tool and the gist of its input.
pub fn tool_call_line(name: &str, input: &Value) -> String {
    // The field that says what a call does, for the common tools of every provider.
    const GIST_KEYS: [&str; 8] = [
        "command",
        "file_path",
        "path",
        "pattern",
        "query",
        "url",
        "description",
        "prompt",
    ];
    let gist = input
        .as_object()
        .and_then(|fields| GIST_KEYS.iter().find_map(|k| fields.get(*k)))
        .unwrap_or(input);
    let gist = match gist {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if gist.is_empty() {
        format!("⏺ {name}")
    } else {
        format!("⏺ {name}: {}", one_line(&gist))
    }
}

/// `  ⎿ output` (its first line, and how many more there are), or the error.
pub fn tool_result_line(output: &Value, is_error: bool) -> String {
    let text = match result_gist(output) {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        // Claude's tool results are arrays of content blocks.
        Value::Array(blocks) if blocks.iter().all(|b| b.get("text").is_some()) => blocks
            .iter()
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        other => other.to_string(),
    };
    let text = text.trim();
    let mut lines = text.lines();
    let first = one_line(lines.next().unwrap_or(""));
    let more = lines.count();
    let mut line = if is_error {
        format!("  ⎿ error: {first}")
    } else if first.is_empty() {
        "  ⎿ done".to_owned()
    } else {
        format!("  ⎿ {first}")
    };
    if more > 0 {
        line.push_str(&format!(" (+{more} lines)"));
    }
    line
}

/// The part of a structured tool result a person wants: a command's output, for one
/// (cursor reports `{"success": {"stdout": …}}`, codex `aggregated_output`).
fn result_gist(output: &Value) -> &Value {
    const OUTPUT_KEYS: [&str; 6] = [
        "stdout",
        "aggregated_output",
        "output",
        "content",
        "result",
        "error",
    ];
    let Some(fields) = output.as_object() else {
        return output;
    };
    if let Some(found) = OUTPUT_KEYS.iter().find_map(|k| fields.get(*k)) {
        return result_gist(found);
    }
    match fields.iter().next() {
        // A wrapper such as `{"success": {...}}`.
        Some((_, inner)) if fields.len() == 1 && inner.is_object() => result_gist(inner),
        _ => output,
    }
}

/// The text without control characters other than newlines and tabs: agent output must not
/// be able to drive the user's terminal (escape sequences, carriage returns over earlier
/// lines).
pub fn printable(text: &str) -> String {
    text.chars()
        .filter_map(|c| match c {
            '\n' | '\t' => Some(c),
            // Windows line ends: the newline that follows is enough.
            '\r' => None,
            c if c.is_control() => Some('\u{fffd}'),
            c => Some(c),
        })
        .collect()
}

/// Whitespace runs as single spaces, cut to [`SUMMARY_CHARS`].
fn one_line(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= SUMMARY_CHARS {
        return flat;
    }
    let mut cut: String = flat.chars().take(SUMMARY_CHARS - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tool_calls_are_one_compact_line() {
        assert_eq!(
            tool_call_line(
                "shell",
                &json!({"command": "echo  fixture-ok\n", "cwd": "/x"})
            ),
            "⏺ shell: echo fixture-ok"
        );
        assert_eq!(
            tool_call_line("Read", &json!({"file_path": "/a/b.rs"})),
            "⏺ Read: /a/b.rs"
        );
        assert_eq!(tool_call_line("todo", &json!(null)), "⏺ todo");
        assert_eq!(tool_call_line("x", &json!({"a": 1})), r#"⏺ x: {"a":1}"#);
        let long = "y".repeat(500);
        assert_eq!(
            tool_call_line("Bash", &json!({"command": long}))
                .chars()
                .count(),
            "⏺ Bash: ".chars().count() + SUMMARY_CHARS
        );
    }

    #[test]
    fn agent_text_cannot_drive_the_terminal() {
        assert_eq!(
            printable("a\u{1b}[2Jb\r\nc\td\u{9b}"),
            "a\u{fffd}[2Jb\nc\td\u{fffd}"
        );
    }

    #[test]
    fn tool_results_show_their_first_line() {
        assert_eq!(
            tool_result_line(&json!("a\nb\nc\n"), false),
            "  ⎿ a (+2 lines)"
        );
        assert_eq!(
            tool_result_line(&json!([{"type": "text", "text": "ok"}]), false),
            "  ⎿ ok"
        );
        assert_eq!(tool_result_line(&json!("boom"), true), "  ⎿ error: boom");
        assert_eq!(tool_result_line(&json!(null), false), "  ⎿ done");
        assert_eq!(
            tool_result_line(
                &json!({"success": {"command": "echo hi", "exitCode": 0, "stdout": "hi\n"}}),
                false
            ),
            "  ⎿ hi"
        );
        assert_eq!(
            tool_result_line(&json!({"aggregated_output": "x", "exit_code": 1}), true),
            "  ⎿ error: x"
        );
    }
}

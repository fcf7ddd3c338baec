//! Decides what to answer: the next scripted [`Reply`], or — with an empty queue — the
//! prompt markers, turned into an API-neutral [`Plan`] that each API module renders.

use std::time::Duration;

use serde_json::{json, Value};

use super::conversation::Conversation;
use super::script::Reply;

/// The command a `[tool]` marker asks the CLI to run.
pub(super) const TOOL_COMMAND: &str = "echo fake-tool-ok";
/// How many deltas a [`Reply::Text`] is streamed as (fewer for very short text).
const TEXT_CHUNKS: usize = 3;
/// Tool-result text is cut to this many characters so answers stay one short line.
const TOOL_RESULT_CHARS: usize = 200;
/// The error message of the `[error]` marker.
pub(super) const MARKER_ERROR: &str = "fake error for testing";

/// An answer in API-neutral form.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Plan {
    /// Stream these deltas, each followed by `delay`, then end the turn normally.
    Text {
        chunks: Vec<String>,
        delay: Duration,
    },
    ToolCall {
        name: String,
        arguments: Value,
    },
    Error {
        status: u16,
        message: String,
    },
    Hang,
}

impl Plan {
    pub(super) fn text(text: &str) -> Plan {
        Plan::Text {
            chunks: split(text, TEXT_CHUNKS),
            delay: Duration::ZERO,
        }
    }

    pub(super) fn from_reply(reply: Reply) -> Plan {
        match reply {
            Reply::Text(text) => Plan::text(&text),
            Reply::ToolCall { name, arguments } => Plan::ToolCall { name, arguments },
            Reply::Error { status, message } => Plan::Error { status, message },
            Reply::Slow {
                text,
                chunk_delay,
                chunks,
            } => Plan::Text {
                chunks: std::iter::once(text)
                    .chain((0..chunks.saturating_sub(1)).map(|i| format!(" tick{i}")))
                    .collect(),
                delay: chunk_delay,
            },
            Reply::Hang => Plan::Hang,
            // The fault is applied to the rendered body by the server (see `sse::break_body`).
            Reply::Faulty { reply, .. } => Plan::from_reply(*reply),
        }
    }

    /// The answer for an empty queue, from the conversation itself:
    /// - the newest item is a tool result → `Tool said: <output>` (so a round trip ends);
    /// - `[error]` in the prompt → HTTP 400;
    /// - `[tool]` → one shell call with whichever shell tool the request offers;
    /// - `[slow]` → 120 deltas, 0.5 s apart;
    /// - else `Hello from fake <api>! (turn N) you said: <prompt tail>`.
    pub(super) fn fallback(conv: &Conversation, api: &str) -> Plan {
        if let Some(output) = &conv.tool_result {
            let output: String = output.chars().take(TOOL_RESULT_CHARS).collect();
            return Plan::text(&format!("Tool said: {output}"));
        }
        let prompt = conv.last_prompt.as_str();
        if prompt.contains("[error]") {
            return Plan::Error {
                status: 400,
                message: MARKER_ERROR.into(),
            };
        }
        if prompt.contains("[tool]") {
            if let Some(call) = conv.tools.iter().find_map(|name| shell_call(name)) {
                return call;
            }
        }
        let words: Vec<&str> = prompt.split_whitespace().collect();
        let said = words.join(" ");
        let tail_start = said.len() - tail_len(&said, 60);
        let text = format!(
            "Hello from fake {api}! (turn {}) you said: {}",
            conv.user_turns,
            &said[tail_start..]
        );
        if prompt.contains("[slow]") {
            return Plan::from_reply(Reply::slow(text, Duration::from_millis(500), 120));
        }
        Plan::text(&text)
    }
}

/// A call running [`TOOL_COMMAND`] with a known shell tool, shaped as that tool expects.
fn shell_call(name: &str) -> Option<Plan> {
    let arguments = match name {
        // claude
        "Bash" => json!({"command": TOOL_COMMAND, "description": "Print a marker"}),
        // codex (current unified exec tool, and the older argv-style `shell` tool)
        "exec_command" => json!({"cmd": TOOL_COMMAND}),
        "shell" => json!({"command": ["bash", "-lc", TOOL_COMMAND]}),
        // gemini, and the lower-case name agent loops tend to use
        "run_shell_command" | "bash" => json!({"command": TOOL_COMMAND}),
        _ => return None,
    };
    Some(Plan::ToolCall {
        name: name.to_owned(),
        arguments,
    })
}

/// Byte length of the last `max_chars` characters of `text`.
fn tail_len(text: &str, max_chars: usize) -> usize {
    text.char_indices()
        .rev()
        .nth(max_chars.saturating_sub(1))
        .map_or(text.len(), |(i, _)| text.len() - i)
}

/// Splits `text` into at most `parts` non-empty pieces of about equal length, on char
/// boundaries. Clients must reassemble deltas, so pieces may cut words.
pub(super) fn split(text: &str, parts: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    if chars.is_empty() {
        return vec![String::new()];
    }
    let size = chars.len().div_ceil(parts.max(1));
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(prompt: &str, tools: &[&str]) -> Conversation {
        Conversation {
            last_prompt: prompt.into(),
            user_turns: 2,
            tool_result: None,
            tools: tools.iter().map(|t| t.to_string()).collect(),
        }
    }

    fn joined(plan: &Plan) -> String {
        match plan {
            Plan::Text { chunks, .. } => chunks.concat(),
            other => panic!("not text: {other:?}"),
        }
    }

    #[test]
    fn split_keeps_text_and_char_boundaries() {
        assert_eq!(split("héllo wörld", 3).concat(), "héllo wörld");
        assert_eq!(split("héllo wörld", 3).len(), 3);
        assert_eq!(split("ab", 3), ["a", "b"]);
        assert_eq!(split("", 3), [""]);
    }

    #[test]
    fn fallback_text_mentions_turn_and_prompt() {
        let plan = Plan::fallback(&conv("say   hello", &[]), "gemini");
        assert_eq!(
            joined(&plan),
            "Hello from fake gemini! (turn 2) you said: say hello"
        );
    }

    #[test]
    fn fallback_markers() {
        assert_eq!(
            Plan::fallback(&conv("[error] x", &[]), "a"),
            Plan::Error {
                status: 400,
                message: MARKER_ERROR.into()
            }
        );
        assert_eq!(
            Plan::fallback(&conv("[tool] x", &["Read", "exec_command"]), "a"),
            Plan::ToolCall {
                name: "exec_command".into(),
                arguments: json!({"cmd": TOOL_COMMAND})
            }
        );
        // No shell tool offered: an ordinary answer rather than a call the CLI cannot run.
        assert!(matches!(
            Plan::fallback(&conv("[tool] x", &["Read"]), "a"),
            Plan::Text { .. }
        ));
        match Plan::fallback(&conv("[slow] x", &[]), "a") {
            Plan::Text { chunks, delay } => {
                assert_eq!(chunks.len(), 120);
                assert_eq!(delay, Duration::from_millis(500));
            }
            other => panic!("{other:?}"),
        }
        let mut with_result = conv("[tool] x", &["Bash"]);
        with_result.tool_result = Some("fake-tool-ok".into());
        assert_eq!(
            joined(&Plan::fallback(&with_result, "a")),
            "Tool said: fake-tool-ok"
        );
    }

    #[test]
    fn long_prompt_tail_is_cut_on_char_boundary() {
        let prompt = "é".repeat(100);
        let text = joined(&Plan::fallback(&conv(&prompt, &[]), "a"));
        assert!(text.ends_with(&"é".repeat(60)));
        assert!(!text.ends_with(&"é".repeat(61)));
    }
}

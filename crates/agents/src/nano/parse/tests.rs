//! The parser over every real capture in `tests/data/nano/`, plus constructed edge cases.

use super::*;
use serde_json::json;

/// What one run produced: events with their data, token budgets, the verdict.
struct Run {
    lines: Vec<(AgentEvent, String)>,
    budgets: Vec<TokenBudgetReport>,
    exit: AgentExit,
}

impl Run {
    fn events(&self) -> Vec<&AgentEvent> {
        self.lines.iter().map(|(e, _)| e).collect()
    }
}

fn capture(name: &str) -> String {
    let path = format!("{}/tests/data/nano/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Feeds stdout and stderr the way the supervisor does (stderr: non-empty lines, trimmed at
/// the end; the last one is the tail), then finishes.
fn run(stdout: &str, stderr: &str, exit_code: Option<i32>, signal: Option<i32>) -> Run {
    let mut parser = NanoParser::default();
    let mut out = Vec::new();
    for line in stdout.lines() {
        parser.stdout_line(line.as_bytes(), &mut out);
    }
    let mut tail = None;
    for line in stderr.lines().map(str::trim_end).filter(|l| !l.is_empty()) {
        tail = Some(line.to_owned());
        parser.stderr_line(line, &mut out);
    }
    let exit = parser.finish(exit_code, signal, tail);
    let mut run = Run {
        lines: Vec::new(),
        budgets: Vec::new(),
        exit,
    };
    for o in out {
        match o {
            AgentOutput::Line(l) => run.lines.push((l.event, l.raw.get().to_owned())),
            AgentOutput::TokenBudget(b) => run.budgets.push(b),
            other => panic!("unexpected output {other:?}"),
        }
    }
    run
}

fn usage(input: u64, output: u64) -> AgentEvent {
    AgentEvent::Usage {
        input_tokens: input,
        output_tokens: output,
        cache_read_tokens: Some(0),
        cache_write_tokens: Some(0),
        cost_usd: None,
    }
}

fn budget(used: u64) -> TokenBudgetReport {
    TokenBudgetReport {
        used,
        total: 200_000,
        breakdown: None,
    }
}

fn native(id: &str) -> AgentEvent {
    AgentEvent::NativeSession { id: id.into() }
}

fn succeeded(exit: &AgentExit) -> bool {
    matches!(
        exit,
        AgentExit::Exited {
            exit_code: Some(0),
            signal: None,
            reported_success: true,
            error: None,
            ..
        }
    )
}

fn failed_with(exit: &AgentExit) -> (Option<String>, Option<String>) {
    match exit {
        AgentExit::Exited {
            reported_success: false,
            error,
            detail,
            ..
        } => (error.clone(), detail.clone()),
        other => panic!("expected a failure, got {other:?}"),
    }
}

const DRCLAW_ID: &str = "drclaw-nano-11111111-2222-4333-8444-555555555555";

#[test]
fn plain_turn() {
    let stdout = capture("nano.jsonl");
    let run = run(&stdout, &capture("nano.stderr"), Some(0), None);
    assert_eq!(
        run.events(),
        [
            &AgentEvent::Text {
                text: "Hello from fake anthropic! (turn 1) you said: hello there".into(),
                delta: false
            },
            &usage(12, 5),
            &native(DRCLAW_ID),
        ]
    );
    // Data: each line once, unchanged; the native id's data is the field it comes from.
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(run.lines[0].1, lines[0]);
    assert_eq!(run.lines[1].1, lines[1]);
    assert_eq!(run.lines[2].1, format!("\"{DRCLAW_ID}.json\""));
    assert_eq!(run.budgets, [budget(17)]);
    assert!(succeeded(&run.exit));
}

#[test]
fn resumed_turn() {
    let run = run(&capture("nano-resume.jsonl"), "", Some(0), None);
    assert!(matches!(
        run.events()[0],
        AgentEvent::Text { text, delta: false } if text.contains("(turn 2)")
    ));
    assert_eq!(run.events()[1..], [&usage(12, 5), &native(DRCLAW_ID)]);
    assert!(succeeded(&run.exit));
}

#[test]
fn tool_round_trip() {
    let stdout = capture("nano-tool.jsonl");
    let run = run(&stdout, "", Some(0), None);
    let id = "toolu_3d807bb8918f4202a08b";
    assert_eq!(
        run.events(),
        [
            &AgentEvent::ToolCall {
                id: id.into(),
                name: "Bash".into(),
                input: json!({"command": "echo fake-tool-ok", "description": "Print a marker"}),
            },
            &AgentEvent::ToolResult {
                id: id.into(),
                output: json!("fake-tool-ok\n\n\n[exit code: 0]"),
                is_error: false,
            },
            &AgentEvent::Text {
                text: "Tool said: fake-tool-ok\n\n\n[exit code: 0]".into(),
                delta: false
            },
            &usage(24, 6),
            &native("drclaw-nano-tool"),
        ]
    );
    let lines: Vec<&str> = stdout.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(run.lines[i].1, *line);
    }
    assert_eq!(run.budgets, [budget(30)]);
    assert!(succeeded(&run.exit));
}

#[test]
fn streamed_text_is_not_repeated() {
    let run = run(&capture("nano-streaming-verbose.jsonl"), "", Some(0), None);
    assert_eq!(
        run.events(),
        [
            &AgentEvent::Text {
                text: "Hello from fake anthropic! (turn 1) you said: hi streaming".into(),
                delta: true
            },
            // The assistant line repeats what the delta carried.
            &AgentEvent::Other,
            // No --session-file in this capture: no nano_session_file, no native id.
            &usage(12, 5),
        ]
    );
    assert!(succeeded(&run.exit));
}

#[test]
fn api_error() {
    let run = run(&capture("nano-error.jsonl"), "", Some(1), None);
    let message = "Error code: 400 - {'type': 'error', 'error': {'type': 'invalid_request_error', \
                   'message': 'fake error for testing'}}";
    assert_eq!(
        run.events(),
        [
            &usage(0, 0),
            &AgentEvent::Notice {
                level: NoticeLevel::Error,
                message: message.into()
            },
        ]
    );
    // The notice's data is the `errors` array, as nano wrote it.
    assert!(run.lines[1].1.starts_with("[\"Error code: 400"));
    assert_eq!(run.budgets, [budget(0)]);
    assert_eq!(failed_with(&run.exit), (Some(message.into()), None));
}

#[test]
fn no_api_key() {
    let run = run(&capture("nano-no-api-key.jsonl"), "", Some(1), None);
    let (error, _) = failed_with(&run.exit);
    assert!(error.unwrap().starts_with("No API key found."));
    assert!(matches!(
        run.events()[1],
        AgentEvent::Notice { level: NoticeLevel::Error, message } if message.contains("ANTHROPIC_API_KEY")
    ));
}

#[test]
fn max_turns() {
    let run = run(&capture("nano-max-turns.jsonl"), "", Some(1), None);
    assert!(matches!(run.events()[0], AgentEvent::ToolCall { name, .. } if name == "Bash"));
    assert!(matches!(
        run.events()[1],
        AgentEvent::ToolResult {
            is_error: false,
            ..
        }
    ));
    assert_eq!(run.events()[2], &usage(12, 1));
    assert_eq!(
        failed_with(&run.exit),
        (Some("Reached max turns (1)".into()), None)
    );
}

#[test]
fn abort_by_sigterm() {
    let run = run(&capture("nano-abort-sigterm.jsonl"), "", None, Some(15));
    let text: String = run
        .events()
        .iter()
        .map(|e| match e {
            AgentEvent::Text { text, delta: true } => text.as_str(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        text,
        "Hello from fake anthropic! (turn 1) you said: [slow] go tick0 tick1 tick2"
    );
    assert!(run.budgets.is_empty());
    assert_eq!(failed_with(&run.exit), (None, None));
}

#[test]
fn abort_by_sigint() {
    let run = run("", &capture("nano-abort-sigint.stderr"), None, Some(2));
    assert_eq!(run.lines.len(), 3);
    assert!(run.events().iter().all(|e| matches!(
        e,
        AgentEvent::Notice {
            level: NoticeLevel::Warning,
            ..
        }
    )));
    assert_eq!(
        failed_with(&run.exit),
        (None, Some("KeyboardInterrupt".into()))
    );
}

#[test]
fn openai_compat_crash() {
    let run = run(
        "",
        &capture("nano-openai-compat-crash.stderr"),
        Some(1),
        None,
    );
    assert_eq!(
        failed_with(&run.exit),
        (
            None,
            Some("TypeError: 'types.SimpleNamespace' object is not iterable".into())
        )
    );
}

#[test]
fn resume_missing_without_colour_codes() {
    let stderr = capture("nano-resume-missing.stderr");
    let run = run("", &stderr, Some(1), None);
    assert_eq!(
        run.events(),
        [&AgentEvent::Notice {
            level: NoticeLevel::Warning,
            message: "Error: No session found to resume.".into()
        }]
    );
    // The data keeps the line as written, colour codes included.
    assert_eq!(
        run.lines[0].1,
        serde_json::to_string(stderr.trim_end()).unwrap()
    );
    assert_eq!(
        failed_with(&run.exit),
        (None, Some("Error: No session found to resume.".into()))
    );
}

#[test]
fn every_capture_is_covered() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/nano");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    // The session file is used by `sessions` tests; the rest by the tests above.
    assert_eq!(
        names,
        [
            "nano-abort-sigint.stderr",
            "nano-abort-sigterm.jsonl",
            "nano-error.jsonl",
            "nano-max-turns.jsonl",
            "nano-no-api-key.jsonl",
            "nano-openai-compat-crash.stderr",
            "nano-resume-missing.stderr",
            "nano-resume.jsonl",
            "nano-session-file.json",
            "nano-streaming-verbose.jsonl",
            "nano-tool.jsonl",
            "nano.jsonl",
            "nano.stderr",
        ]
    );
}

#[test]
fn thinking_stays_thinking() {
    let run = run(
        concat!(
            r#"{"type": "stream_delta", "uuid": "u", "timestamp": "t", "delta_type": "thinking", "content": "Let me "}"#,
            "\n",
            r#"{"type": "stream_delta", "uuid": "u", "timestamp": "t", "delta_type": "thinking", "content": "think."}"#,
            "\n",
            r#"{"type": "stream_delta", "uuid": "u", "timestamp": "t", "delta_type": "text", "content": "Hi"}"#,
            "\n",
            r#"{"type": "assistant", "message": {"content": [{"type": "thinking", "thinking": "Let me think. More."}, {"type": "text", "text": "Hi"}]}}"#,
            "\n",
        ),
        "",
        None,
        None,
    );
    assert_eq!(
        run.events(),
        [
            &AgentEvent::Thinking {
                text: "Let me ".into(),
                delta: true
            },
            &AgentEvent::Thinking {
                text: "think.".into(),
                delta: true
            },
            &AgentEvent::Text {
                text: "Hi".into(),
                delta: true
            },
            // Only what the deltas missed.
            &AgentEvent::Thinking {
                text: " More.".into(),
                delta: true
            },
        ]
    );
}

#[test]
fn several_tool_calls_in_one_line() {
    let line = concat!(
        r#"{"type": "assistant", "message": {"content": ["#,
        r#"{"type": "text", "text": "I'll run both."}, "#,
        r#"{"type": "tool_use", "id": "a", "name": "Bash", "input": {"command": "ls"}}, "#,
        r#"{"type": "redacted_thinking", "raw": "x"}, "#,
        r#"{"type": "tool_use", "id": "b", "name": "Read", "input": {"file_path": "/x"}}]}}"#,
        "\n",
        r#"{"type": "user", "message": {"role": "user", "content": ["#,
        r#"{"type": "tool_result", "tool_use_id": "a", "content": "Error: no", "is_error": true}, "#,
        r#"{"type": "tool_result", "tool_use_id": "b", "content": [{"type": "text", "text": "img"}], "is_error": false}]}}"#,
    );
    let run = run(line, "", None, None);
    let lines: Vec<&str> = line.lines().collect();
    assert_eq!(run.lines.len(), 5);
    assert_eq!(
        run.lines[0],
        (
            AgentEvent::Text {
                text: "I'll run both.".into(),
                delta: false
            },
            lines[0].to_owned()
        )
    );
    assert_eq!(
        run.lines[1],
        (
            AgentEvent::ToolCall {
                id: "a".into(),
                name: "Bash".into(),
                input: json!({"command": "ls"})
            },
            r#"{"type": "tool_use", "id": "a", "name": "Bash", "input": {"command": "ls"}}"#
                .to_owned()
        )
    );
    assert!(matches!(&run.lines[2].0, AgentEvent::ToolCall { id, .. } if id == "b"));
    assert_eq!(
        run.lines[3],
        (
            AgentEvent::ToolResult {
                id: "a".into(),
                output: json!("Error: no"),
                is_error: true
            },
            lines[1].to_owned()
        )
    );
    assert!(run.lines[4]
        .1
        .starts_with(r#"{"type": "tool_result", "tool_use_id": "b""#));
}

#[test]
fn odd_lines() {
    let run = run(
        concat!(
            "plain text\n",
            "{\"type\": \"future_kind\", \"x\": 1}\n",
            "{\"no_type\": 1}\n",
            "{\"type\": \"stream_delta\", \"delta_type\": \"text\", \"content\": \"\"}\n",
            "{\"type\": \"result\", \"subtype\": \"error_during_execution\", \"is_error\": true}\n",
        ),
        "",
        Some(1),
        None,
    );
    assert_eq!(
        run.events(),
        [
            &AgentEvent::Notice {
                level: NoticeLevel::Info,
                message: "plain text".into()
            },
            &AgentEvent::Other,
            &AgentEvent::Notice {
                level: NoticeLevel::Info,
                message: "{\"no_type\": 1}".into()
            },
            &AgentEvent::Other,
            &AgentEvent::Notice {
                level: NoticeLevel::Error,
                message: "nano-claude-code ended with error_during_execution".into()
            },
        ]
    );
    assert!(run.budgets.is_empty());
}

#[test]
fn ansi_codes() {
    assert_eq!(strip_ansi("\u{1b}[31mred\u{1b}[0m ok"), "red ok");
    assert_eq!(strip_ansi("\u{1b}[1;31mx\u{1b}"), "x");
    assert_eq!(strip_ansi("plain [31m"), "plain [31m");
}

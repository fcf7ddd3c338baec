//! The parser over every real capture in `tests/data/codex/`, plus the item types the
//! captures do not show (from codex's `exec_events.rs`).

use std::path::PathBuf;

use serde_json::json;
use switchboard_protocol::lifecycle::{RunLifecycle, RunState, Terminal, TerminalReason};

use super::*;

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/codex")
}

/// What a run of the parser over one capture produced.
struct Replay {
    lines: Vec<AgentLine>,
    budgets: Vec<TokenBudgetReport>,
    parser: CodexParser,
}

impl Replay {
    fn events(&self) -> Vec<&AgentEvent> {
        self.lines.iter().map(|l| &l.event).collect()
    }

    fn finish(&mut self, exit_code: i32) -> AgentExit {
        self.parser.finish(Some(exit_code), None, None)
    }
}

fn replay_lines<'a>(
    stdout: impl IntoIterator<Item = &'a str>,
    stderr: impl IntoIterator<Item = &'a str>,
) -> Replay {
    let mut parser = CodexParser::default();
    let mut out = Vec::new();
    for line in stdout {
        parser.stdout_line(line.as_bytes(), &mut out);
    }
    // The supervisor drops empty stderr lines and trailing whitespace before the parser.
    for line in stderr
        .into_iter()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
    {
        parser.stderr_line(line, &mut out);
    }
    let mut lines = Vec::new();
    let mut budgets = Vec::new();
    for output in out {
        match output {
            AgentOutput::Line(line) => lines.push(line),
            AgentOutput::TokenBudget(budget) => budgets.push(budget),
            other => panic!("unexpected output {other:?}"),
        }
    }
    Replay {
        lines,
        budgets,
        parser,
    }
}

/// `<name>.jsonl` on stdout, then `<name>.stderr` when there is one.
fn replay(name: &str) -> Replay {
    let read = |ext: &str| std::fs::read_to_string(data_dir().join(format!("{name}.{ext}")));
    let stdout = read("jsonl").unwrap_or_default();
    let stderr = read("stderr").unwrap_or_default();
    replay_lines(stdout.lines(), stderr.lines())
}

fn terminal(exit: &AgentExit, abort: bool) -> Terminal {
    let mut run = RunLifecycle::running();
    if abort {
        run.request_abort();
    }
    run.exit(exit).unwrap()
}

fn success(exit: &AgentExit) -> bool {
    terminal(exit, false).state == RunState::Completed
}

fn text(event: &AgentEvent) -> &str {
    match event {
        AgentEvent::Text { text, delta: false } => text,
        other => panic!("expected whole text, got {other:?}"),
    }
}

fn notice(event: &AgentEvent) -> (NoticeLevel, &str) {
    match event {
        AgentEvent::Notice { level, message } => (*level, message),
        other => panic!("expected a notice, got {other:?}"),
    }
}

const CAPTURES: &[&str] = &[
    "codex",
    "codex-abort-sigint",
    "codex-error",
    "codex-resume",
    "codex-resume-missing",
    "codex-resume-unknown-model",
    "codex-tool",
    "codex-tool-exit3",
    "codex-unknown-model",
];

#[test]
fn every_capture_has_a_test() {
    let mut found: Vec<String> = std::fs::read_dir(data_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .map(|f| f.rsplit_once('.').unwrap().0.to_owned())
        .collect();
    found.sort();
    found.dedup();
    assert_eq!(found, CAPTURES, "a new capture needs a test below");
}

#[test]
fn every_line_is_one_output_with_its_raw_line() {
    for name in CAPTURES {
        let stdout =
            std::fs::read_to_string(data_dir().join(format!("{name}.jsonl"))).unwrap_or_default();
        let replay = replay_lines(stdout.lines(), []);
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(replay.lines.len(), lines.len(), "{name}");
        for (line, out) in lines.iter().zip(&replay.lines) {
            assert_eq!(out.raw.get(), *line, "{name}");
            assert!(
                !matches!(
                    out.event,
                    AgentEvent::Notice {
                        level: NoticeLevel::Info,
                        ..
                    }
                ),
                "{name}: every captured line is codex JSON: {line}"
            );
        }
    }
}

#[test]
fn plain_turn() {
    let mut r = replay("codex");
    let events = r.events();
    assert_eq!(
        events[0],
        &AgentEvent::NativeSession {
            id: "01a21397-a820-7bb3-a349-7756076a360f".into()
        }
    );
    assert_eq!(events[1], &AgentEvent::Other);
    assert_eq!(
        text(events[2]),
        "Hello from fake openai-responses! (turn 1) you said: say hello"
    );
    assert_eq!(
        events[3],
        &AgentEvent::Usage {
            input_tokens: 12,
            output_tokens: 5,
            cache_read_tokens: Some(0),
            cache_write_tokens: Some(0),
            cost_usd: None,
        }
    );
    assert_eq!(
        r.budgets,
        [TokenBudgetReport {
            used: 17,
            total: 200_000,
            breakdown: None
        }]
    );
    // stderr: the /tmp warning stays a warning; the stdin note is routine.
    assert_eq!(notice(events[4]).0, NoticeLevel::Warning);
    assert_eq!(notice(events[5]), (NoticeLevel::Info, STDIN_NOTE));
    let exit = r.finish(0);
    assert!(success(&exit), "{exit:?}");
    // A non-zero exit is never success, whatever codex printed.
    let mut r = replay("codex");
    assert_eq!(terminal(&r.finish(1), false).state, RunState::Failed);
}

#[test]
fn resumed_turn_keeps_the_thread() {
    let mut r = replay("codex-resume");
    let events = r.events();
    assert_eq!(
        events[0],
        &AgentEvent::NativeSession {
            id: "01a21397-a820-7bb3-a349-7756076a360f".into()
        }
    );
    assert!(text(events[2]).contains("(turn 2)"));
    assert!(matches!(
        events[3],
        AgentEvent::Usage {
            input_tokens: 24,
            output_tokens: 10,
            ..
        }
    ));
    assert_eq!(r.budgets[0].used, 34);
    assert!(success(&r.finish(0)));
}

#[test]
fn shell_tool_round_trip() {
    let mut r = replay("codex-tool");
    let events = r.events();
    assert_eq!(
        events[2],
        &AgentEvent::ToolCall {
            id: "item_0".into(),
            name: "shell".into(),
            input: json!({"command": "/bin/bash -lc 'echo fake-tool-ok'"}),
        }
    );
    assert_eq!(
        events[3],
        &AgentEvent::ToolResult {
            id: "item_0".into(),
            output: json!("fake-tool-ok\n"),
            is_error: false,
        }
    );
    assert!(text(events[4]).starts_with("Tool said:"));
    assert!(matches!(events[5], AgentEvent::Usage { .. }));
    assert!(success(&r.finish(0)));
}

#[test]
fn failing_command_is_an_error_result_not_a_failed_run() {
    let mut r = replay("codex-tool-exit3");
    let events = r.events();
    assert!(matches!(events[2], AgentEvent::ToolCall { name, .. } if name == "shell"));
    assert_eq!(
        events[3],
        &AgentEvent::ToolResult {
            id: "item_0".into(),
            output: json!("made\n"),
            is_error: true,
        }
    );
    assert!(success(&r.finish(0)));
}

#[test]
fn api_error_fails_the_run_with_its_text() {
    let mut r = replay("codex-error");
    let events = r.events();
    for event in &events[2..4] {
        let (level, message) = notice(event);
        assert_eq!(level, NoticeLevel::Error);
        assert!(message.contains("fake error for testing"));
    }
    let exit = r.finish(1);
    let AgentExit::Exited {
        reported_success,
        error,
        ..
    } = &exit
    else {
        panic!()
    };
    assert!(!reported_success);
    assert!(error.as_deref().unwrap().contains("fake error for testing"));
    let t = terminal(&exit, false);
    assert_eq!(
        (t.state, t.reason),
        (RunState::Failed, TerminalReason::AgentError)
    );
    // Even had codex exited 0.
    let mut r = replay("codex-error");
    assert_eq!(
        terminal(&r.finish(0), false).reason,
        TerminalReason::AgentError
    );
}

#[test]
fn sigint_abort_ends_without_a_verdict() {
    let mut r = replay("codex-abort-sigint");
    assert_eq!(r.events().len(), 2);
    let exit = r.finish(1);
    assert!(matches!(
        exit,
        AgentExit::Exited {
            reported_success: false,
            error: None,
            ..
        }
    ));
    assert_eq!(terminal(&exit, true).state, RunState::Aborted);
    let t = terminal(&exit, false);
    assert_eq!(
        (t.state, t.reason),
        (RunState::Failed, TerminalReason::Exit)
    );
}

#[test]
fn model_metadata_error_item_is_only_a_warning() {
    for name in ["codex-unknown-model", "codex-resume-unknown-model"] {
        let mut r = replay(name);
        let events = r.events();
        let (level, message) = notice(events[1]);
        assert_eq!(level, NoticeLevel::Warning);
        assert!(message.starts_with("Model metadata for `"), "{name}");
        assert!(text(events[3]).starts_with("Hello from fake"));
        assert!(success(&r.finish(0)), "{name}");
    }
}

#[test]
fn unknown_resume_id_explains_the_exit_without_the_backtrace() {
    let mut r = replay("codex-resume-missing");
    // Every stderr line is a warning notice; none changes anything.
    assert!(r
        .events()
        .iter()
        .all(|e| notice(e).0 == NoticeLevel::Warning));
    let exit = r.finish(1);
    let AgentExit::Exited { detail, error, .. } = &exit else {
        panic!()
    };
    assert_eq!(error, &None);
    assert!(detail
        .as_deref()
        .unwrap()
        .starts_with("Error: thread/resume: thread/resume failed: no rollout found"));
    let t = terminal(&exit, false);
    assert_eq!(
        (t.state, t.reason),
        (RunState::Failed, TerminalReason::Exit)
    );
    assert!(t.error.unwrap().contains("no rollout found"));
}

#[test]
fn stdin_note_is_no_explanation() {
    let mut r = replay("codex-tool-exit3");
    assert!(matches!(
        r.finish(1),
        AgentExit::Exited { detail: None, .. }
    ));
}

#[test]
fn items_the_captures_do_not_show() {
    let r = replay_lines(
        [
            r#"{"type":"item.completed","item":{"id":"item_0","type":"reasoning","text":"**Planning** the edit"}}"#,
            r#"{"type":"item.updated","item":{"id":"item_1","type":"file_change","changes":[{"path":"/w/a.txt","kind":"add"}],"status":"in_progress"}}"#,
            r#"{"type":"item.updated","item":{"id":"item_1","type":"file_change","changes":[{"path":"/w/a.txt","kind":"add"},{"path":"/w/b.txt","kind":"update"}],"status":"in_progress"}}"#,
            r#"{"type":"item.completed","item":{"id":"item_1","type":"file_change","changes":[{"path":"/w/a.txt","kind":"add"}],"status":"failed"}}"#,
            r#"{"type":"item.started","item":{"id":"item_2","type":"mcp_tool_call","server":"docs","tool":"search","arguments":{"q":"x"},"result":null,"error":null,"status":"in_progress"}}"#,
            r#"{"type":"item.completed","item":{"id":"item_2","type":"mcp_tool_call","server":"docs","tool":"search","arguments":{"q":"x"},"result":{"content":[{"type":"text","text":"hit"}],"structured_content":null},"error":null,"status":"completed"}}"#,
            r#"{"type":"item.completed","item":{"id":"item_3","type":"mcp_tool_call","server":"docs","tool":"search","arguments":{},"result":null,"error":{"message":"boom"},"status":"failed"}}"#,
            r#"{"type":"item.started","item":{"id":"ws_1","type":"web_search","query":"","action":{"type":"other"}}}"#,
            r#"{"type":"item.completed","item":{"id":"ws_1","type":"web_search","query":"rust serde","action":{"type":"search","query":"rust serde"}}}"#,
            r#"{"type":"item.started","item":{"id":"item_5","type":"todo_list","items":[{"text":"a","completed":false}]}}"#,
            r#"{"type":"item.updated","item":{"id":"item_5","type":"todo_list","items":[{"text":"a","completed":true}]}}"#,
            r#"{"type":"item.completed","item":{"id":"item_5","type":"todo_list","items":[{"text":"a","completed":true}]}}"#,
            r#"{"type":"item.started","item":{"id":"item_6","type":"collab_tool_call","tool":"spawn_agent","sender_thread_id":"t","receiver_thread_ids":[],"prompt":"go","agents_states":{},"status":"in_progress"}}"#,
            r#"{"type":"item.completed","item":{"id":"item_7","type":"plan","text":"1. do it"}}"#,
            r#"{"type":"item.completed","item":{"id":"item_8","type":"agent_message","text":""}}"#,
            r#"{"type":"item.completed","item":{"id":"item_9","type":"hologram","text":"new"}}"#,
            r#"{"type":"item.plan.delta","item_id":"item_7","delta":"1."}"#,
            r#"{"type":"thread.forked","thread_id":"x"}"#,
        ],
        [],
    );
    let events = r.events();
    assert_eq!(
        events[0],
        &AgentEvent::Thinking {
            text: "**Planning** the edit".into(),
            delta: false
        }
    );
    // A file change may first show up as an update: that is its announcement.
    assert_eq!(
        events[1],
        &AgentEvent::ToolCall {
            id: "item_1".into(),
            name: "file_change".into(),
            input: json!({"changes":[{"path":"/w/a.txt","kind":"add"}]}),
        }
    );
    assert_eq!(events[2], &AgentEvent::Other);
    assert_eq!(
        events[3],
        &AgentEvent::ToolResult {
            id: "item_1".into(),
            output: json!({"changes":[{"path":"/w/a.txt","kind":"add"}],"status":"failed"}),
            is_error: true,
        }
    );
    assert_eq!(
        events[4],
        &AgentEvent::ToolCall {
            id: "item_2".into(),
            name: "mcp__docs__search".into(),
            input: json!({"q":"x"}),
        }
    );
    assert_eq!(
        events[5],
        &AgentEvent::ToolResult {
            id: "item_2".into(),
            output: json!({"content":[{"type":"text","text":"hit"}],"structured_content":null}),
            is_error: false,
        }
    );
    assert_eq!(
        events[6],
        &AgentEvent::ToolResult {
            id: "item_3".into(),
            output: json!({"message":"boom"}),
            is_error: true,
        }
    );
    assert!(matches!(events[7], AgentEvent::ToolCall { name, .. } if name == "web_search"));
    assert_eq!(
        events[8],
        &AgentEvent::ToolResult {
            id: "ws_1".into(),
            output: json!({"query":"rust serde","action":{"type":"search","query":"rust serde"}}),
            is_error: false,
        }
    );
    assert_eq!(
        events[9],
        &AgentEvent::ToolCall {
            id: "item_5".into(),
            name: "todo_list".into(),
            input: json!({"items":[{"text":"a","completed":false}]}),
        }
    );
    assert_eq!(events[10], &AgentEvent::Other);
    assert!(matches!(
        events[11],
        AgentEvent::ToolResult {
            is_error: false,
            ..
        }
    ));
    assert!(
        matches!(events[12], AgentEvent::ToolCall { name, input, .. } if name == "spawn_agent" && input["prompt"] == "go")
    );
    assert_eq!(text(events[13]), "1. do it");
    for event in &events[14..] {
        assert_eq!(event, &&AgentEvent::Other);
    }
}

#[test]
fn retried_error_then_completed_turn_succeeds() {
    let mut r = replay_lines(
        [
            r#"{"type":"turn.started"}"#,
            r#"{"type":"error","message":"Reconnecting... 1/5"}"#,
            r#"{"type":"turn.completed","usage":{"input_tokens":1,"cached_input_tokens":0,"output_tokens":1}}"#,
        ],
        [],
    );
    assert_eq!(notice(r.events()[1]).0, NoticeLevel::Error);
    assert!(success(&r.finish(0)));
}

#[test]
fn failed_turn_wins_and_always_has_an_error() {
    let mut r = replay_lines(
        [
            r#"{"type":"turn.completed","usage":{"input_tokens":1,"cached_input_tokens":0,"output_tokens":1}}"#,
            r#"{"type":"turn.failed","error":{}}"#,
        ],
        [],
    );
    let exit = r.finish(0);
    assert!(matches!(
        &exit,
        AgentExit::Exited { reported_success: false, error: Some(e), .. } if e == "codex reported a failed turn"
    ));
}

#[test]
fn cached_input_is_reported_apart() {
    let r = replay_lines(
        [
            r#"{"type":"turn.completed","usage":{"input_tokens":100,"cached_input_tokens":60,"cache_write_input_tokens":10,"output_tokens":5,"reasoning_output_tokens":3}}"#,
            // Older builds: no cache-write figure.
            r#"{"type":"turn.completed","usage":{"input_tokens":100,"cached_input_tokens":60,"output_tokens":5}}"#,
        ],
        [],
    );
    assert_eq!(
        r.events()[0],
        &AgentEvent::Usage {
            input_tokens: 30,
            output_tokens: 5,
            cache_read_tokens: Some(60),
            cache_write_tokens: Some(10),
            cost_usd: None,
        }
    );
    assert!(matches!(
        r.events()[1],
        AgentEvent::Usage {
            input_tokens: 40,
            cache_write_tokens: None,
            ..
        }
    ));
    assert_eq!(r.budgets[0].used, 105);
    assert_eq!(r.budgets[1].used, 105);
}

#[test]
fn lines_that_are_not_codex_json_are_notices() {
    let r = replay_lines(
        [
            "plain text banner",
            r#"{"no_type":true}"#,
            r#"{"type":"item.completed","item":"not an object"}"#,
            "",
        ],
        [],
    );
    assert_eq!(r.lines.len(), 3);
    for line in &r.lines[..2] {
        assert_eq!(notice(&line.event).0, NoticeLevel::Info);
    }
    assert_eq!(r.lines[0].raw.get(), r#""plain text banner""#);
}

#[test]
fn backtrace_lines() {
    for line in [
        "Stack backtrace:",
        "   0: <unknown>",
        "  11: <unknown>",
        "      at src/main.rs:3",
    ] {
        assert!(is_backtrace(line), "{line}");
    }
    for line in ["Error: thread/resume: failed", "WARNING: proceeding", ": x"] {
        assert!(!is_backtrace(line), "{line}");
    }
}

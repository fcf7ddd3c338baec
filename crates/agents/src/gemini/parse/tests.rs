use super::*;
use serde_json::json;

/// A real capture from `tests/data/gemini/`.
fn capture(name: &str) -> String {
    let path = format!("{}/tests/data/gemini/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

struct Run {
    events: Vec<AgentEvent>,
    budgets: Vec<TokenBudgetReport>,
    parser: GeminiParser,
}

/// Feeds stdout lines, then stderr lines, the way the supervisor does.
fn run(stdout: &str, stderr: &str) -> Run {
    let mut parser = GeminiParser::default();
    let mut out = Vec::new();
    for line in stdout.lines() {
        parser.stdout_line(line.as_bytes(), &mut out);
    }
    for line in stderr.lines().map(str::trim_end).filter(|l| !l.is_empty()) {
        parser.stderr_line(line, &mut out);
    }
    let mut events = Vec::new();
    let mut budgets = Vec::new();
    for output in out {
        match output {
            AgentOutput::Line(line) => events.push(line.event),
            AgentOutput::TokenBudget(budget) => budgets.push(budget),
            other => panic!("unexpected output {other:?}"),
        }
    }
    Run {
        events,
        budgets,
        parser,
    }
}

fn texts(events: &[AgentEvent]) -> Vec<&str> {
    events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::Text { text, delta: true } => Some(text.as_str()),
            AgentEvent::Text { .. } => panic!("gemini streams deltas only"),
            _ => None,
        })
        .collect()
}

fn notices(events: &[AgentEvent]) -> Vec<(NoticeLevel, &str)> {
    events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::Notice { level, message } => Some((*level, message.as_str())),
            _ => None,
        })
        .collect()
}

fn exited(exit: AgentExit) -> (bool, Option<String>, Option<String>) {
    match exit {
        AgentExit::Exited {
            reported_success,
            error,
            detail,
            ..
        } => (reported_success, error, detail),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn every_capture_line_is_one_output_with_its_raw_line() {
    for name in [
        "gemini.jsonl",
        "gemini-resume.jsonl",
        "gemini-tool.jsonl",
        "gemini-error.jsonl",
        "gemini-abort-sigint-norelaunch.jsonl",
    ] {
        let text = capture(name);
        let mut parser = GeminiParser::default();
        for line in text.lines() {
            let mut out = Vec::new();
            parser.stdout_line(line.as_bytes(), &mut out);
            let AgentOutput::Line(first) = &out[0] else {
                panic!("{name}: the line itself comes first")
            };
            assert_eq!(first.raw.get(), line, "{name}");
            assert!(
                !matches!(first.event, AgentEvent::Notice { .. }),
                "{name}: every stdout line is gemini JSON: {line}"
            );
            assert_eq!(
                out.iter()
                    .filter(|o| matches!(o, AgentOutput::Line(_)))
                    .count(),
                1
            );
        }
    }
}

#[test]
fn plain_turn() {
    let r = run(&capture("gemini.jsonl"), &capture("gemini.stderr"));
    assert_eq!(
        r.events[0],
        AgentEvent::NativeSession {
            id: "bbc446d4-3e2f-408a-bc89-2917a48e2d18".into()
        }
    );
    assert_eq!(r.events[1], AgentEvent::Other, "the prompt's echo");
    assert_eq!(
        texts(&r.events),
        ["Hello from fake gemini! (turn 1) you said: say hello"]
    );
    assert_eq!(
        r.events[3],
        AgentEvent::Usage {
            input_tokens: 12,
            output_tokens: 5,
            cache_read_tokens: Some(0),
            cache_write_tokens: None,
            cost_usd: None,
        }
    );
    assert_eq!(r.budgets.len(), 1);
    assert_eq!((r.budgets[0].used, r.budgets[0].total), (17, 1_048_576));
    assert_eq!(
        r.budgets[0].breakdown.as_ref().unwrap()["models"]["gemini-2.5-flash"]["total_tokens"],
        17
    );
    // The constant stderr noise: notices, info level, never a cause.
    let n = notices(&r.events);
    assert_eq!(n.len(), 5);
    assert!(
        n.iter().all(|(level, _)| *level == NoticeLevel::Info),
        "{n:?}"
    );
    let mut parser = r.parser;
    assert_eq!(
        exited(parser.finish(Some(0), None, Some("2.00s".into()))),
        (true, None, Some("2.00s".into()))
    );
}

#[test]
fn resumed_turn() {
    let r = run(
        &capture("gemini-resume.jsonl"),
        &capture("gemini-resume.stderr"),
    );
    assert_eq!(
        r.events[0],
        AgentEvent::NativeSession {
            id: "bbc446d4-3e2f-408a-bc89-2917a48e2d18".into()
        }
    );
    assert_eq!(
        texts(&r.events),
        ["Hello from fake gemini! (turn 2) you said: and again"]
    );
    assert_eq!(r.budgets[0].used, 17);
    let mut parser = r.parser;
    assert!(exited(parser.finish(Some(0), None, None)).0);
}

#[test]
fn tool_round_trip() {
    let r = run(&capture("gemini-tool.jsonl"), "");
    let id = "run_shell_command__run_shell_command_1795625355377_0";
    assert_eq!(
        r.events[2],
        AgentEvent::ToolCall {
            id: id.into(),
            name: "run_shell_command".into(),
            input: json!({"command": "echo fake-tool-ok"}),
        }
    );
    assert_eq!(
        r.events[3],
        AgentEvent::ToolResult {
            id: id.into(),
            output: json!("fake-tool-ok"),
            is_error: false,
        }
    );
    assert_eq!(texts(&r.events).len(), 1);
    assert!(matches!(
        r.events[5],
        AgentEvent::Usage {
            input_tokens: 24,
            output_tokens: 10,
            ..
        }
    ));
    assert_eq!(r.budgets[0].used, 34);
    let mut parser = r.parser;
    assert!(exited(parser.finish(Some(0), None, None)).0);
}

#[test]
fn api_error_fails_with_its_text() {
    let r = run(
        &capture("gemini-error.jsonl"),
        &capture("gemini-error.stderr"),
    );
    assert_eq!(
        r.events[0],
        AgentEvent::NativeSession {
            id: "ce4d2641-57a8-4db4-a10e-02694ebdaccf".into()
        }
    );
    assert!(matches!(
        r.events[2],
        AgentEvent::Usage {
            input_tokens: 0,
            output_tokens: 0,
            ..
        }
    ));
    assert!(r.budgets.is_empty(), "zeros say nothing about the context");
    let n = notices(&r.events);
    assert_eq!(
        n[..3]
            .iter()
            .filter(|(l, _)| *l == NoticeLevel::Info)
            .count(),
        3
    );
    assert_eq!(n[3].0, NoticeLevel::Warning);
    assert!(n[3].1.starts_with("Error when talking to Gemini API"));
    let mut parser = r.parser;
    let (success, error, detail) = exited(parser.finish(Some(144), None, Some("}".into())));
    assert!(!success);
    let error = error.unwrap();
    assert!(error.contains("fake error for testing"), "{error}");
    assert!(
        error.starts_with("[API Error:"),
        "the result's own text: {error}"
    );
    assert_eq!(detail.as_deref(), Some("}"));
}

#[test]
fn abort_without_result_is_not_success() {
    let r = run(&capture("gemini-abort-sigint-norelaunch.jsonl"), "");
    assert_eq!(
        r.events[0],
        AgentEvent::NativeSession {
            id: "09050cf2-417e-4b69-8bc7-b4195ed6471a".into()
        }
    );
    let t = texts(&r.events);
    assert_eq!(t.len(), 10);
    assert_eq!(t[1], " tick0");
    assert!(r.budgets.is_empty());
    let mut parser = r.parser;
    // SIGINT with GEMINI_CLI_NO_RELAUNCH: exit 0, no result line.
    assert_eq!(
        exited(parser.finish(Some(0), None, None)),
        (false, None, None)
    );
}

#[test]
fn failures_before_any_json_are_named_by_exit_code() {
    let case = |code: i32, stderr: &str| {
        let r = run("", stderr);
        assert!(!r.parser.saw_init());
        let mut parser = r.parser;
        let problem = parser.session_problem();
        let (success, error, _) = exited(parser.finish(Some(code), None, None));
        assert!(!success);
        (error, problem)
    };

    let (error, _) = case(41, "Invalid auth method selected.\n");
    let error = error.unwrap();
    assert!(error.contains("could not authenticate"), "{error}");
    assert!(
        error.ends_with("(gemini exit 41): Invalid auth method selected."),
        "{error}"
    );

    let (error, problem) = case(
        42,
        "Warning: 256-color support not detected. Using a terminal …\n\
         Error resuming session: Invalid session identifier \"99999999-2222-4333-8444-555555555555\".\n  \
         Searched for sessions in /home/u/.gemini/tmp/work/chats.\n  \
         Use --list-sessions to see available sessions, then use --resume {number}, --resume {uuid}, or --resume latest.\n",
    );
    assert_eq!(problem, Some(SessionProblem::NotResumable));
    let error = error.unwrap();
    assert!(error.contains("no resumable conversation"), "{error}");
    assert!(
        error.contains("Error resuming session: Invalid session identifier"),
        "{error}"
    );

    let (_, problem) = case(
        42,
        "Error resuming session: No previous sessions found for this project.",
    );
    assert_eq!(problem, Some(SessionProblem::NotResumable));

    let (error, problem) = case(
        42,
        "Error starting session: Session ID \"ffffffff-2222-4333-8444-555555555555\" already exists. Use --resume to resume it, or provide a different ID.",
    );
    assert_eq!(problem, Some(SessionProblem::AlreadyExists));
    assert!(error.unwrap().contains("already has a conversation"));

    let (error, problem) = case(
        42,
        "Cannot use both a positional prompt and the --prompt (-p) flag together",
    );
    assert_eq!(problem, None);
    assert!(error
        .unwrap()
        .starts_with("gemini rejected its input (gemini exit 42): Cannot use both"));

    // Gemini colours this one even on a pipe.
    let (error, _) = case(
        55,
        "\u{1b}[31mGemini CLI is not running in a trusted directory. To proceed, either use `--skip-trust` …\u{1b}[0m",
    );
    let error = error.unwrap();
    assert!(error.contains("untrusted folder"), "{error}");
    assert!(
        error.ends_with("trusted directory. To proceed, either use `--skip-trust` …"),
        "{error}"
    );

    let (error, _) = case(144, "");
    assert_eq!(
        error.as_deref(),
        Some("gemini's model API call failed with HTTP status 400 (gemini exit 144)")
    );
    let (error, _) = case(173, "");
    assert!(error.unwrap().contains("HTTP status 429"));

    // An exit code gemini does not define: the lifecycle's generic text (with the stderr tail).
    assert_eq!(case(1, "boom").0, None);
}

#[test]
fn a_signal_or_a_clean_exit_without_result_sets_no_error() {
    let mut parser = GeminiParser::default();
    assert_eq!(
        exited(parser.finish(None, Some(9), Some("x".into()))),
        (false, None, Some("x".into()))
    );
}

#[test]
fn error_events() {
    let mut r = run(
        concat!(
            r#"{"type":"error","timestamp":"t","severity":"warning","message":"Loop detected"}"#,
            "\n",
            r#"{"type":"error","timestamp":"t","severity":"error","message":"Model returned an empty response"}"#,
            "\n",
            r#"{"type":"result","timestamp":"t","status":"error","stats":{"total_tokens":5,"input_tokens":4,"output_tokens":1,"cached":3,"input":1,"duration_ms":1,"tool_calls":0}}"#,
        ),
        "",
    );
    assert_eq!(
        notices(&r.events),
        [
            (NoticeLevel::Warning, "Loop detected"),
            (NoticeLevel::Error, "Model returned an empty response")
        ]
    );
    assert_eq!(
        r.events[2],
        AgentEvent::Usage {
            input_tokens: 1,
            output_tokens: 1,
            cache_read_tokens: Some(3),
            cache_write_tokens: None,
            cost_usd: None
        }
    );
    assert_eq!(r.budgets[0].used, 5);
    assert_eq!(r.budgets[0].total, DEFAULT_CONTEXT_WINDOW);
    // A result without `error` takes the error event's text.
    assert_eq!(
        exited(r.parser.finish(Some(0), None, None)).1.as_deref(),
        Some("Model returned an empty response")
    );

    // A success result wins over an earlier error event.
    let mut r = run(
        concat!(
            r#"{"type":"error","severity":"error","message":"quota"}"#,
            "\n",
            r#"{"type":"result","status":"success"}"#
        ),
        "",
    );
    assert_eq!(r.events[1], AgentEvent::Other, "a result without stats");
    assert_eq!(
        exited(r.parser.finish(Some(0), None, None)),
        (true, None, None)
    );

    // An error event and then death without a result: the event is the error.
    let mut r = run(
        r#"{"type":"error","severity":"error","message":"quota"}"#,
        "",
    );
    assert_eq!(
        exited(r.parser.finish(Some(1), None, None)).1.as_deref(),
        Some("quota")
    );
}

#[test]
fn failed_tool_reports_its_error_message() {
    let r = run(
        r#"{"type":"tool_result","timestamp":"t","tool_id":"c1","status":"error","error":{"type":"TOOL_EXECUTION_ERROR","message":"Command not allowed"}}"#,
        "",
    );
    assert_eq!(
        r.events[0],
        AgentEvent::ToolResult {
            id: "c1".into(),
            output: json!("Command not allowed"),
            is_error: true
        }
    );
    let r = run(
        r#"{"type":"tool_result","tool_id":"c2","status":"error","output":"partial"}"#,
        "",
    );
    assert!(
        matches!(&r.events[0], AgentEvent::ToolResult { is_error: true, output, .. } if output == "partial")
    );
}

#[test]
fn odd_lines_pass_through() {
    let r = run(
        concat!(
            "plain text\n",
            r#"{"type":"future_event","x":1}"#,
            "\n",
            r#"{"no_type":true}"#,
            "\n",
            r#"{"type":"message","role":"assistant","content":[{"text":"a"},{"text":"b"}]}"#,
            "\n",
            r#"{"type":"message","role":"assistant","content":"whole"}"#,
            "\n",
            r#"{"type":"message","role":"assistant","content":"","delta":true}"#,
            "\n",
            r#"{"type":"init","session_id":""}"#,
        ),
        "",
    );
    assert_eq!(
        r.events,
        [
            AgentEvent::Notice {
                level: NoticeLevel::Info,
                message: "plain text".into()
            },
            AgentEvent::Other,
            AgentEvent::Notice {
                level: NoticeLevel::Info,
                message: r#"{"no_type":true}"#.into()
            },
            AgentEvent::Text {
                text: "ab".into(),
                delta: false
            },
            AgentEvent::Text {
                text: "whole".into(),
                delta: false
            },
            AgentEvent::Other,
            AgentEvent::Other,
        ]
    );
}

#[test]
fn stderr_raw_keeps_the_line_and_the_message_drops_colours() {
    let mut parser = GeminiParser::default();
    let mut out = Vec::new();
    parser.stderr_line("\u{1b}[31mred\u{1b}[0m", &mut out);
    let AgentOutput::Line(line) = &out[0] else {
        panic!()
    };
    assert_eq!(line.raw.get(), r#""\u001b[31mred\u001b[0m""#);
    assert_eq!(
        line.event,
        AgentEvent::Notice {
            level: NoticeLevel::Warning,
            message: "red".into()
        }
    );
}

#[test]
fn noise() {
    for line in [
        "Warning: 256-color support not detected. Using a terminal with at least 256-color support is recommended for a better visual experience.",
        "Ripgrep is not available. Falling back to GrepTool.",
        "[STARTUP] Phase 'cleanup_ops' was started but never ended. Skipping metrics.",
        "YOLO mode is enabled. All tool calls will be automatically approved.",
        "2.00s",
    ] {
        assert!(is_noise(line), "{line}");
    }
    for line in ["s", "Invalid auth method selected.", "1.5 seconds"] {
        assert!(!is_noise(line), "{line}");
    }
}

#[test]
fn context_windows() {
    assert_eq!(context_window(["gemini-2.5-pro"].into_iter()), 1_048_576);
    assert_eq!(
        context_window(["gemini-3-pro-preview"].into_iter()),
        1_048_576
    );
    assert_eq!(
        context_window(["gemini-2.5-flash", "gemini-1.5-pro-002"].into_iter()),
        2_097_152
    );
    assert_eq!(
        context_window(["auto", "custom-model"].into_iter()),
        1_000_000
    );
    assert_eq!(context_window(std::iter::empty()), 1_000_000);
}

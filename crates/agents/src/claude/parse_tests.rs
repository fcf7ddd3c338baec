//! The parser over every real capture (`tests/data/claude/`), plus the permission round trip.

use super::*;
use serde_json::json;
use switchboard_agent_api::{PermissionAsk, PermissionDecision};
use tokio::sync::mpsc::Receiver;

macro_rules! capture {
    ($name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/claude/",
            $name
        ))
    };
}

const PLAIN: &str = capture!("claude.jsonl");
const RESUME: &str = capture!("claude-resume.jsonl");
const TOOL: &str = capture!("claude-tool.jsonl");
const TOOL_PARTIAL: &str = capture!("claude-tool-partial.jsonl");
const ERROR: &str = capture!("claude-error.jsonl");
const ABORT_SIGINT: &str = capture!("claude-abort-sigint.jsonl");
const ABORT_SIGTERM: &str = capture!("claude-abort-sigterm.jsonl");
const STDIN_TWO_TURNS: &str = capture!("claude-stdin-stream-json.jsonl");
const RESUME_UNKNOWN: &str = capture!("claude-resume-unknown.jsonl");
const PERMISSION_DENY: &str = capture!("claude-permission-deny.jsonl");
const PERMISSION_ALLOW_RESUME: &str = capture!("claude-permission-allow-resume.jsonl");
const PERMISSION_ABORT: &str = capture!("claude-permission-abort-sigint.jsonl");

const ALL: &[(&str, &str)] = &[
    ("claude.jsonl", PLAIN),
    ("claude-resume.jsonl", RESUME),
    ("claude-tool.jsonl", TOOL),
    ("claude-tool-partial.jsonl", TOOL_PARTIAL),
    ("claude-error.jsonl", ERROR),
    ("claude-abort-sigint.jsonl", ABORT_SIGINT),
    ("claude-abort-sigterm.jsonl", ABORT_SIGTERM),
    ("claude-stdin-stream-json.jsonl", STDIN_TWO_TURNS),
    ("claude-resume-unknown.jsonl", RESUME_UNKNOWN),
    ("claude-permission-deny.jsonl", PERMISSION_DENY),
    (
        "claude-permission-allow-resume.jsonl",
        PERMISSION_ALLOW_RESUME,
    ),
    ("claude-permission-abort-sigint.jsonl", PERMISSION_ABORT),
];

/// Everything one parser produced, and the stdin it writes to.
struct Run {
    parser: ClaudeParser,
    stdin: Receiver<Vec<u8>>,
    lines: Vec<AgentLine>,
    budgets: Vec<TokenBudgetReport>,
    asks: Vec<PermissionAsk>,
    /// The kinds of output in order: 'L'ine, 'B'udget, 'P'ermission.
    order: String,
}

impl Run {
    fn new() -> Self {
        let (tx, stdin) = mpsc::channel(16);
        Run {
            parser: ClaudeParser::new(tx, Some("claude-sonnet-4-5".into())),
            stdin,
            lines: Vec::new(),
            budgets: Vec::new(),
            asks: Vec::new(),
            order: String::new(),
        }
    }

    fn feed(&mut self, text: &str) -> &mut Self {
        for line in text.lines() {
            let mut out = Vec::new();
            self.parser.stdout_line(line.as_bytes(), &mut out);
            for output in out {
                match output {
                    AgentOutput::Line(l) => {
                        self.order.push('L');
                        self.lines.push(l);
                    }
                    AgentOutput::TokenBudget(b) => {
                        self.order.push('B');
                        self.budgets.push(b);
                    }
                    AgentOutput::Permission(p) => {
                        self.order.push('P');
                        self.asks.push(p);
                    }
                    AgentOutput::Exit(_) => panic!("a parser never reports the exit"),
                }
            }
        }
        self
    }

    fn events(&self) -> Vec<&AgentEvent> {
        self.lines.iter().map(|l| &l.event).collect()
    }

    /// Everything shown as text: deltas and whole segments in order.
    fn text(&self) -> String {
        self.lines
            .iter()
            .filter_map(|l| match &l.event {
                AgentEvent::Text { text, .. } => Some(text.as_str()),
                _ => None,
            })
            .collect()
    }

    fn native_ids(&self) -> Vec<&str> {
        self.lines
            .iter()
            .filter_map(|l| match &l.event {
                AgentEvent::NativeSession { id } => Some(id.as_str()),
                _ => None,
            })
            .collect()
    }

    fn finish(&mut self) -> (bool, Option<String>) {
        match self.parser.finish(Some(0), None, None) {
            AgentExit::Exited {
                reported_success,
                error,
                ..
            } => (reported_success, error),
            other => panic!("unexpected {other:?}"),
        }
    }

    /// The next line written to claude's stdin, as JSON; `None` once stdin is closed.
    async fn written(&mut self) -> Option<Value> {
        let line = self.stdin.recv().await?;
        Some(serde_json::from_slice(&line).unwrap())
    }
}

fn feed(text: &str) -> Run {
    let mut run = Run::new();
    run.feed(text);
    run
}

fn usage_of(run: &Run) -> Vec<&AgentEvent> {
    run.events()
        .into_iter()
        .filter(|e| matches!(e, AgentEvent::Usage { .. }))
        .collect()
}

#[tokio::test]
async fn every_capture_line_is_one_line_with_its_data_unchanged() {
    for (name, text) in ALL {
        let run = feed(text);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(run.lines.len(), lines.len(), "{name}");
        for (line, expected) in run.lines.iter().zip(&lines) {
            assert_eq!(line.raw.get(), *expected, "{name}");
            // Every stdout line of claude is JSON that the typed reading accepts.
            assert!(
                !matches!(&line.event, AgentEvent::Notice { level: NoticeLevel::Info, message } if !message.starts_with("[Request interrupted")),
                "{name}: {:?}",
                line.event
            );
        }
    }
}

#[tokio::test]
async fn plain_turn_streams_deltas_and_succeeds() {
    let mut run = feed(PLAIN);
    assert_eq!(run.native_ids(), ["11111111-2222-4333-8444-555555555555"]);
    let events = run.events();
    assert_eq!(
        *events[0],
        AgentEvent::NativeSession {
            id: "11111111-2222-4333-8444-555555555555".into()
        }
    );
    assert_eq!(*events[1], AgentEvent::Other, "system/status");
    assert_eq!(
        *events[4],
        AgentEvent::Text {
            text: "Hello from fake anthropic! (turn 1) you said: say hello".into(),
            delta: true
        }
    );
    assert_eq!(
        *events[5],
        AgentEvent::Other,
        "the assistant line repeats the deltas"
    );
    assert_eq!(
        run.text(),
        "Hello from fake anthropic! (turn 1) you said: say hello"
    );
    assert!(matches!(
        usage_of(&run)[..],
        [AgentEvent::Usage {
            input_tokens: 12,
            output_tokens: 5,
            cache_read_tokens: Some(0),
            cache_write_tokens: Some(0),
            cost_usd: Some(cost),
        }] if (cost - 0.000111).abs() < 1e-12
    ));
    assert_eq!(
        run.budgets,
        [TokenBudgetReport {
            used: 17,
            total: 200_000,
            breakdown: None
        }]
    );
    assert!(
        run.order.ends_with("LB"),
        "the budget follows the result line"
    );
    assert_eq!(run.finish(), (true, None));
    assert_eq!(run.written().await, None, "stdin closes after the result");
}

#[tokio::test]
async fn resume_turn_is_a_whole_segment() {
    let mut run = feed(RESUME);
    assert_eq!(run.native_ids(), ["11111111-2222-4333-8444-555555555555"]);
    assert_eq!(
        *run.events()[1],
        AgentEvent::Text {
            text: "Hello from fake anthropic! (turn 2) you said: and again".into(),
            delta: false
        }
    );
    assert_eq!(run.finish(), (true, None));
}

#[tokio::test]
async fn tool_round_trip_without_partial_messages() {
    let mut run = feed(TOOL);
    let events = run.events();
    assert_eq!(
        *events[1],
        AgentEvent::ToolCall {
            id: "toolu_aa13c3c0abf5434f910a".into(),
            name: "Bash".into(),
            input: json!({"command":"echo fake-tool-ok","description":"Print a marker"}),
        }
    );
    assert_eq!(
        *events[2],
        AgentEvent::ToolResult {
            id: "toolu_aa13c3c0abf5434f910a".into(),
            output: json!("fake-tool-ok"),
            is_error: false,
        }
    );
    assert_eq!(
        *events[3],
        AgentEvent::Text {
            text: "Tool said: fake-tool-ok".into(),
            delta: false
        }
    );
    // `claude-opus-4-8[1m]`: claude reports the window in `modelUsage`. Without partial
    // messages, the last call's usage is the one its `assistant` line carries.
    assert_eq!(
        run.budgets,
        [TokenBudgetReport {
            used: 13,
            total: 1_000_000,
            breakdown: None
        }]
    );
    assert!(matches!(
        usage_of(&run)[0],
        AgentEvent::Usage { input_tokens: 24, output_tokens: 25, cost_usd: Some(c), .. } if (*c - 0.000745).abs() < 1e-12
    ));
    assert_eq!(run.finish(), (true, None));
}

#[tokio::test]
async fn tool_round_trip_with_partial_messages() {
    let mut run = feed(TOOL_PARTIAL);
    let events = run.events();
    assert_eq!(
        *events[3],
        AgentEvent::Other,
        "content_block_start tool_use"
    );
    assert_eq!(*events[4], AgentEvent::Other, "input_json_delta");
    assert!(matches!(
        events[5],
        AgentEvent::ToolCall { id, name, input }
            if id == "toolu_990b2927d55348a59078" && name == "Bash" && input["command"] == "echo fake-tool-ok"
    ));
    assert!(matches!(
        events[9],
        AgentEvent::ToolResult { id, output, is_error: false }
            if id == "toolu_990b2927d55348a59078" && output == "fake-tool-ok"
    ));
    assert_eq!(
        *events[13],
        AgentEvent::Text {
            text: "Tool said: fake-tool-ok".into(),
            delta: true
        }
    );
    assert_eq!(*events[14], AgentEvent::Other);
    assert_eq!(run.text(), "Tool said: fake-tool-ok");
    // The turn made two calls (24 in / 25 out in all); the window holds the last one:
    // 12 in (message_start) + 5 out (message_delta).
    assert_eq!(
        run.budgets,
        [TokenBudgetReport {
            used: 17,
            total: 200_000,
            breakdown: None
        }]
    );
    assert_eq!(run.finish(), (true, None));
}

#[tokio::test]
async fn api_error_fails_although_the_subtype_says_success() {
    let mut run = feed(ERROR);
    assert_eq!(
        *run.events()[1],
        AgentEvent::Notice {
            level: NoticeLevel::Error,
            message: "API Error: 400 fake error for testing".into()
        }
    );
    // `modelUsage` is empty: the window follows from the init line's `…[1m]` model.
    assert_eq!(
        run.budgets,
        [TokenBudgetReport {
            used: 0,
            total: 1_000_000,
            breakdown: None
        }]
    );
    assert_eq!(
        run.finish(),
        (false, Some("API Error: 400 fake error for testing".into()))
    );
}

#[tokio::test]
async fn sigint_abort_ends_with_an_error_result() {
    let mut run = feed(ABORT_SIGINT);
    assert_eq!(
        run.text(),
        "Hello from fake anthropic! (turn 1) you said: [slow] count tick0 tick1 tick2 tick3 \
         tick4 tick5 tick6 tick7 tick8 tick9 tick10"
    );
    let events = run.events();
    assert_eq!(
        *events[16],
        AgentEvent::Other,
        "the flush repeats the deltas"
    );
    assert_eq!(
        *events[17],
        AgentEvent::Notice {
            level: NoticeLevel::Info,
            message: "[Request interrupted by user]".into()
        }
    );
    let (success, error) = run.finish();
    assert!(!success);
    assert!(error.unwrap().contains("ede_diagnostic"));
}

#[tokio::test]
async fn sigterm_abort_has_no_verdict() {
    let mut run = feed(ABORT_SIGTERM);
    assert!(run.text().ends_with("tick9"));
    assert!(run.budgets.is_empty());
    assert_eq!(run.finish(), (false, None));
    assert_eq!(run.written().await, None, "finish closes stdin");
}

#[tokio::test]
async fn two_turns_in_one_process() {
    let mut run = feed(STDIN_TWO_TURNS);
    assert_eq!(run.native_ids().len(), 2);
    assert_eq!(
        run.text(),
        "Hello from fake anthropic! (turn 1) you said: first via stdinHello from fake \
         anthropic! (turn 2) you said: second via stdin"
    );
    assert_eq!(run.budgets.len(), 2);
    assert!(run.budgets.iter().all(|b| b.total == 1_000_000));
    assert_eq!(run.finish(), (true, None));
}

#[tokio::test]
async fn unknown_resume_id_reports_claude_error() {
    let mut run = feed(RESUME_UNKNOWN);
    assert!(run.native_ids().is_empty());
    assert_eq!(
        run.finish(),
        (
            false,
            Some(
                "No conversation found with session ID: 0d0c7a40-4b7e-4c39-9a43-2a4f3a9d1eff"
                    .into()
            )
        )
    );
}

#[tokio::test]
async fn permission_capture_asks_and_writes_the_decision() {
    let mut run = Run::new();
    let mut lines = PERMISSION_DENY.lines();
    // Up to and including the control request.
    for line in lines.by_ref() {
        run.feed(line);
        if line.contains("\"control_request\"") {
            break;
        }
    }
    assert_eq!(
        *run.events()[0],
        AgentEvent::Other,
        "the answer to initialize"
    );
    assert!(
        run.order.ends_with("LLP"),
        "the assistant line, the request line, then the ask"
    );
    let ask = run.asks.pop().unwrap();
    assert_eq!(ask.request_id, "552b9752-5f73-4f29-82ce-de86eb0b0745");
    assert_eq!(ask.tool_name, "Bash");
    assert_eq!(
        ask.input,
        json!({"command":"touch created.txt && echo made","description":"Print a marker"})
    );
    ask.reply
        .send(PermissionDecision::deny("no thanks"))
        .unwrap();
    assert_eq!(
        run.written().await.unwrap(),
        json!({"type":"control_response","response":{"subtype":"success",
            "request_id":"552b9752-5f73-4f29-82ce-de86eb0b0745",
            "response":{"behavior":"deny","message":"no thanks"}}})
    );
    // Claude's answer to the deny.
    for line in lines {
        run.feed(line);
    }
    assert!(run.events().iter().any(|e| matches!(
        e,
        AgentEvent::ToolResult { output, is_error: true, .. } if output == "no thanks"
    )));
    assert_eq!(run.text(), "Tool said: no thanks");
    assert_eq!(run.finish(), (true, None));
    assert_eq!(run.written().await, None);
}

#[tokio::test]
async fn permission_capture_allow_on_resume() {
    let mut run = feed(PERMISSION_ALLOW_RESUME);
    assert_eq!(run.asks.len(), 1);
    let ask = run.asks.pop().unwrap();
    assert_eq!(ask.request_id, "2dfaf9c4-a0f4-4e78-acdf-c8885c646a17");
    assert!(run.events().iter().any(|e| matches!(
        e,
        AgentEvent::ToolResult { output, is_error: false, .. } if output == "made"
    )));
    assert_eq!(run.finish(), (true, None));
    // The result closed stdin before the (late) decision: nothing is written, and the
    // decision task does not hold stdin open.
    let _ = ask.reply.send(PermissionDecision {
        allow: true,
        message: None,
        updated_input: None,
        remember: false,
    });
    assert_eq!(run.written().await, None);
}

#[tokio::test]
async fn permission_capture_cancelled_by_sigint() {
    let mut run = feed(PERMISSION_ABORT);
    assert_eq!(run.asks.len(), 1);
    let events = run.events();
    let cancel = run
        .lines
        .iter()
        .position(|l| l.raw.get().contains("control_cancel_request"))
        .unwrap();
    assert_eq!(*events[cancel], AgentEvent::Other);
    assert!(matches!(
        events[cancel + 1],
        AgentEvent::ToolResult { is_error: true, .. }
    ));
    assert_eq!(
        *events[cancel + 2],
        AgentEvent::Notice {
            level: NoticeLevel::Info,
            message: "[Request interrupted by user for tool use]".into()
        }
    );
    let (success, error) = run.finish();
    assert!(!success && error.is_some());
}

// ---- the permission round trip, line by line ----

fn can_use_tool(request_id: &str, tool: &str, command: &str) -> String {
    json!({"type":"control_request","request_id":request_id,"request":{
        "subtype":"can_use_tool","tool_name":tool,"display_name":tool,
        "input":{"command":command},"tool_use_id":"toolu_1"}})
    .to_string()
}

fn allow(remember: bool, updated_input: Option<Value>) -> PermissionDecision {
    PermissionDecision {
        allow: true,
        message: None,
        updated_input,
        remember,
    }
}

fn response(request_id: &str, body: Value) -> Value {
    json!({"type":"control_response","response":{"subtype":"success","request_id":request_id,"response":body}})
}

#[tokio::test]
async fn permission_round_trip() {
    let mut run = Run::new();
    run.feed(&can_use_tool("r1", "Bash", "touch x"));
    assert_eq!(run.order, "LP");
    assert_eq!(run.lines[0].event, AgentEvent::Other);
    let ask = run.asks.remove(0);
    assert_eq!(
        (ask.request_id.as_str(), ask.tool_name.as_str()),
        ("r1", "Bash")
    );
    assert_eq!(ask.input, json!({"command":"touch x"}));
    ask.reply
        .send(allow(false, Some(json!({"command":"touch y"}))))
        .unwrap();
    assert_eq!(
        run.written().await.unwrap(),
        response(
            "r1",
            json!({"behavior":"allow","updatedInput":{"command":"touch y"}})
        )
    );

    // Without updated input, the original input is allowed.
    run.feed(&can_use_tool("r2", "Bash", "touch x"));
    run.asks.remove(0).reply.send(allow(false, None)).unwrap();
    assert_eq!(
        run.written().await.unwrap(),
        response(
            "r2",
            json!({"behavior":"allow","updatedInput":{"command":"touch x"}})
        )
    );

    // A deny without a message, and a dropped reply, both say "denied".
    run.feed(&can_use_tool("r3", "Bash", "touch x"));
    run.asks
        .remove(0)
        .reply
        .send(PermissionDecision {
            allow: false,
            message: None,
            updated_input: None,
            remember: false,
        })
        .unwrap();
    assert_eq!(
        run.written().await.unwrap(),
        response("r3", json!({"behavior":"deny","message":"denied"}))
    );
    run.feed(&can_use_tool("r4", "Bash", "touch x"));
    drop(run.asks.remove(0));
    assert_eq!(
        run.written().await.unwrap(),
        response("r4", json!({"behavior":"deny","message":"denied"}))
    );
    // Not remembered: the tool still asks.
    run.feed(&can_use_tool("r5", "Bash", "touch x"));
    assert_eq!(run.asks.len(), 1);
}

#[tokio::test]
async fn remembered_tool_is_allowed_without_asking() {
    let mut run = Run::new();
    run.feed(&can_use_tool("r1", "Bash", "touch x"));
    run.asks.remove(0).reply.send(allow(true, None)).unwrap();
    assert_eq!(
        run.written().await.unwrap(),
        response(
            "r1",
            json!({"behavior":"allow","updatedInput":{"command":"touch x"}})
        )
    );
    run.feed(&can_use_tool("r2", "Bash", "rm -rf build"));
    assert_eq!(run.order, "LPL", "no second ask for Bash");
    assert_eq!(
        run.written().await.unwrap(),
        response(
            "r2",
            json!({"behavior":"allow","updatedInput":{"command":"rm -rf build"}})
        )
    );
    // Another tool still asks.
    run.feed(&can_use_tool("r3", "Write", "x"));
    assert_eq!(run.asks.len(), 1);
    assert_eq!(run.asks[0].tool_name, "Write");
}

#[tokio::test]
async fn a_denied_remember_remembers_nothing() {
    let mut run = Run::new();
    run.feed(&can_use_tool("r1", "Bash", "x"));
    run.asks
        .remove(0)
        .reply
        .send(PermissionDecision {
            allow: false,
            message: Some("no".into()),
            updated_input: None,
            remember: true,
        })
        .unwrap();
    run.written().await.unwrap();
    run.feed(&can_use_tool("r2", "Bash", "x"));
    assert_eq!(run.asks.len(), 1);
}

#[tokio::test]
async fn unknown_control_requests_get_an_error_answer() {
    let mut run = Run::new();
    run.feed(r#"{"type":"control_request","request_id":"h1","request":{"subtype":"hook_callback","callback_id":"x"}}"#);
    run.feed(r#"{"type":"control_request","request_id":"h2","request":"not an object"}"#);
    assert_eq!(run.order, "LL");
    for id in ["h1", "h2"] {
        assert_eq!(
            run.written().await.unwrap(),
            json!({"type":"control_response","response":{"subtype":"error","request_id":id,"error":"unsupported"}})
        );
    }
}

#[tokio::test]
async fn a_pending_ask_does_not_keep_stdin_open() {
    let mut run = Run::new();
    run.feed(&can_use_tool("r1", "Bash", "x"));
    let ask = run.asks.remove(0);
    run.feed(TOOL.lines().last().unwrap());
    // The result dropped the only sender: the pending ask's task holds a weak one.
    assert_eq!(run.written().await, None);
    drop(ask);
    // After the result, a question cannot be answered any more, so none is asked.
    run.feed(&can_use_tool("r2", "Bash", "x"));
    assert!(run.asks.is_empty());
}

#[tokio::test]
async fn thinking_streams_and_its_block_is_not_repeated() {
    let run = feed(concat!(
        r#"{"type":"stream_event","event":{"type":"message_start","message":{"id":"m1","usage":{"input_tokens":100,"output_tokens":1,"cache_read_input_tokens":1000,"cache_creation_input_tokens":10}}},"parent_tool_use_id":null}"#,
        "\n",
        r#"{"type":"stream_event","event":{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}},"parent_tool_use_id":null}"#,
        "\n",
        r#"{"type":"stream_event","event":{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Let me "}},"parent_tool_use_id":null}"#,
        "\n",
        r#"{"type":"stream_event","event":{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"think."}},"parent_tool_use_id":null}"#,
        "\n",
        r#"{"type":"stream_event","event":{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"abc"}},"parent_tool_use_id":null}"#,
        "\n",
        r#"{"type":"assistant","message":{"id":"m1","model":"claude-sonnet-4-5","content":[{"type":"thinking","thinking":"Let me think.","signature":"abc"}],"usage":{"input_tokens":100,"output_tokens":1}},"parent_tool_use_id":null}"#,
        "\n",
        r#"{"type":"stream_event","event":{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}},"parent_tool_use_id":null}"#,
        "\n",
        r#"{"type":"stream_event","event":{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Done"}},"parent_tool_use_id":null}"#,
        "\n",
        r#"{"type":"assistant","message":{"id":"m1","model":"claude-sonnet-4-5","content":[{"type":"text","text":"Done, really."}]},"parent_tool_use_id":null}"#,
        "\n",
        r#"{"type":"stream_event","event":{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":40}},"parent_tool_use_id":null}"#,
        "\n",
        r#"{"type":"result","subtype":"success","is_error":false,"result":"Done, really.","usage":{"input_tokens":100,"output_tokens":40,"cache_read_input_tokens":1000,"cache_creation_input_tokens":10},"modelUsage":{"claude-sonnet-4-5":{"contextWindow":200000}}}"#,
    ));
    let events = run.events();
    assert_eq!(
        *events[2],
        AgentEvent::Thinking {
            text: "Let me ".into(),
            delta: true
        }
    );
    assert_eq!(*events[4], AgentEvent::Other, "signature_delta");
    assert_eq!(
        *events[5],
        AgentEvent::Other,
        "the thinking block repeats its deltas"
    );
    // A whole block that goes beyond its deltas adds only the rest.
    assert_eq!(
        *events[8],
        AgentEvent::Text {
            text: ", really.".into(),
            delta: true
        }
    );
    assert_eq!(run.text(), "Done, really.");
    assert_eq!(run.budgets[0].used, 100 + 40 + 1000 + 10);
}

#[tokio::test]
async fn subagent_prose_stays_in_data_but_its_tools_show() {
    let run = feed(concat!(
        r#"{"type":"stream_event","event":{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"inner"}},"parent_tool_use_id":"toolu_task"}"#,
        "\n",
        r#"{"type":"assistant","message":{"id":"m2","content":[{"type":"text","text":"inner"}]},"parent_tool_use_id":"toolu_task"}"#,
        "\n",
        r#"{"type":"assistant","message":{"id":"m2","content":[{"type":"tool_use","id":"toolu_in","name":"Read","input":{"file_path":"/x"}}]},"parent_tool_use_id":"toolu_task"}"#,
        "\n",
        r#"{"type":"user","message":{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_in","content":[{"type":"text","text":"data"}]}]},"parent_tool_use_id":"toolu_task"}"#,
    ));
    let events = run.events();
    assert_eq!(*events[0], AgentEvent::Other);
    assert_eq!(*events[1], AgentEvent::Other);
    assert!(matches!(events[2], AgentEvent::ToolCall { name, .. } if name == "Read"));
    assert!(matches!(
        events[3],
        AgentEvent::ToolResult { output, is_error: false, .. } if output[0]["text"] == "data"
    ));
}

#[tokio::test]
async fn odd_lines() {
    let mut run = feed(concat!(
        "Error: something plain\n",
        r#"{"type":"control_response","response":{"subtype":"error","request_id":"init-1","error":"not ready"}}"#,
        "\n",
        r#"{"type":"keep_alive"}"#,
        "\n",
        r#"{"no_type":1}"#,
        "\n",
        r#"{"type":"system","subtype":"init","session_id":"","model":"x"}"#,
        "\n",
        r#"{"type":"result","subtype":"error_max_turns","is_error":true,"usage":null}"#,
    ));
    let events = run.events();
    assert_eq!(
        *events[0],
        AgentEvent::Notice {
            level: NoticeLevel::Info,
            message: "Error: something plain".into()
        }
    );
    assert_eq!(run.lines[0].raw.get(), r#""Error: something plain""#);
    assert!(matches!(
        events[1],
        AgentEvent::Notice { level: NoticeLevel::Warning, message } if message.contains("not ready")
    ));
    assert_eq!(*events[2], AgentEvent::Other);
    assert!(matches!(
        events[3],
        AgentEvent::Notice {
            level: NoticeLevel::Info,
            ..
        }
    ));
    assert_eq!(*events[4], AgentEvent::Other, "init without an id");
    assert_eq!(*events[5], AgentEvent::Other, "result without usage");
    assert!(run.budgets.is_empty());
    assert_eq!(
        run.finish(),
        (
            false,
            Some("claude ended the turn with error_max_turns".into())
        )
    );
}

#[tokio::test]
async fn api_status_is_the_error_when_there_is_no_text() {
    let mut run = feed(
        r#"{"type":"result","subtype":"success","is_error":true,"api_error_status":529,"result":""}"#,
    );
    assert_eq!(
        run.finish(),
        (false, Some("claude API error (status 529)".into()))
    );
}

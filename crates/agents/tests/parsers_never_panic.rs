//! Property tests: every provider's line parser survives arbitrary input (random bytes, and
//! JSON shaped like its own lines with random fields) without panicking, turns each non-empty
//! line into output, and still gives a verdict at the end. They run in the normal suite; the
//! `fuzz/` targets run the same parsers for long campaigns.

use proptest::prelude::*;
use serde_json::{json, Value};
use switchboard_agent_api::AgentOutput;
use switchboard_agents::claude::ClaudeParser;
use switchboard_agents::codex::CodexParser;
use switchboard_agents::cursor::CursorParser;
use switchboard_agents::gemini::GeminiParser;
use switchboard_agents::nano::NanoParser;
use switchboard_agents::supervisor::OutputParser;

fn parsers() -> Vec<(&'static str, Box<dyn OutputParser>)> {
    let (stdin, _) = tokio::sync::mpsc::channel(1024);
    vec![
        (
            "claude",
            Box::new(ClaudeParser::new(stdin, None)) as Box<dyn OutputParser>,
        ),
        ("codex", Box::new(CodexParser::default())),
        ("cursor", Box::new(CursorParser::default())),
        ("gemini", Box::new(GeminiParser::default())),
        ("nano", Box::new(NanoParser::default())),
    ]
}

/// Line types the providers print, so random JSON often hits a real branch.
const TYPES: &[&str] = &[
    "system",
    "user",
    "assistant",
    "result",
    "stream_event",
    "control_request",
    "control_response",
    "thinking",
    "tool_call",
    "error",
    "thread.started",
    "turn.started",
    "turn.completed",
    "turn.failed",
    "item.started",
    "item.updated",
    "item.completed",
    "init",
    "message",
    "tool_use",
    "tool_result",
    "stream_delta",
    "interaction_query",
    "retry",
    "connection",
];

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("type".to_owned()),
                    Just("subtype".to_owned()),
                    Just("message".to_owned()),
                    Just("content".to_owned()),
                    Just("item".to_owned()),
                    Just("event".to_owned()),
                    Just("usage".to_owned()),
                    Just("session_id".to_owned()),
                    Just("is_error".to_owned()),
                    "[a-z_]{1,12}",
                ],
                inner,
                0..8
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn provider_like_line() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::sample::select(TYPES),
        prop::option::of(".{0,12}"),
        any_json(),
    )
        .prop_map(|(kind, subtype, body)| {
            let mut line = match body {
                Value::Object(map) => Value::Object(map),
                other => json!({ "payload": other }),
            };
            line["type"] = json!(kind);
            if let Some(subtype) = subtype {
                line["subtype"] = json!(subtype);
            }
            line.to_string().into_bytes()
        })
}

fn check(lines: &[Vec<u8>]) {
    for (name, mut parser) in parsers() {
        for line in lines {
            let mut out = Vec::new();
            parser.stdout_line(line, &mut out);
            let non_empty = !line.trim_ascii().is_empty();
            let lines_out = out
                .iter()
                .filter(|o| matches!(o, AgentOutput::Line(_)))
                .count();
            assert!(
                !non_empty || lines_out >= 1,
                "{name}: a non-empty line produced no frame"
            );
            for output in &out {
                if let AgentOutput::Line(line) = output {
                    // The raw value is valid JSON the frame can embed.
                    serde_json::from_str::<Value>(line.raw.get()).expect("raw is JSON");
                }
            }
            let mut err = Vec::new();
            parser.stderr_line(&String::from_utf8_lossy(line), &mut err);
        }
        let _ = parser.finish(Some(0), None, Some("tail".into()));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes(lines in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..200), 1..8)) {
        check(&lines);
    }

    #[test]
    fn provider_shaped_json(lines in prop::collection::vec(provider_like_line(), 1..12)) {
        check(&lines);
    }
}

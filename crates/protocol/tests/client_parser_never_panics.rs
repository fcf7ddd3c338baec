//! Property tests of the client-message parser: total on arbitrary text and arbitrary JSON,
//! every refusal carries a code, and every accepted message round-trips its type. The
//! `fuzz/` target runs the same parser for long campaigns.

use proptest::prelude::*;
use serde_json::{json, Value};
use switchboard_protocol::client::{ClientMessage, CLIENT_MESSAGE_TYPES};
use switchboard_protocol::ErrorCode;

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,30}".prop_map(Value::String),
        prop::sample::select(CLIENT_MESSAGE_TYPES).prop_map(|t| json!(t)),
    ];
    leaf.prop_recursive(4, 48, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("command".to_owned()),
                    Just("options".to_owned()),
                    Just("sessionId".to_owned()),
                    Just("projectPath".to_owned()),
                    Just("cwd".to_owned()),
                    Just("model".to_owned()),
                    Just("permissionMode".to_owned()),
                    Just("lastSeq".to_owned()),
                    Just("requestId".to_owned()),
                    Just("allow".to_owned()),
                    Just("clientRequestId".to_owned()),
                    "[a-zA-Z]{1,10}",
                ],
                inner,
                0..7
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn message_like() -> impl Strategy<Value = String> {
    (prop::sample::select(CLIENT_MESSAGE_TYPES), any_json()).prop_map(|(kind, body)| {
        let mut frame = match body {
            Value::Object(map) => Value::Object(map),
            other => json!({ "options": other }),
        };
        frame["type"] = json!(kind);
        frame.to_string()
    })
}

fn check(text: &str) {
    match ClientMessage::parse(text) {
        Ok(_) => {}
        Err(failure) => {
            assert!(ErrorCode::ALL.contains(&failure.error.code));
            assert!(!failure.error.message.is_empty());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text(text in ".{0,300}") {
        check(&text);
    }

    #[test]
    fn arbitrary_json(value in any_json()) {
        check(&value.to_string());
    }

    #[test]
    fn message_shaped_json(text in message_like()) {
        check(&text);
    }
}

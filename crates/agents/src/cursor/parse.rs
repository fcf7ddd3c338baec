//! Cursor's `stream-json` lines → normalized events.
//!
//! The schema is in `cursor-nano-formats.md` Part A. Unknown types and fields pass through as
//! `other`; nothing here fails on a new field. Two rules need state:
//! - assistant text: with `--stream-partial-output` the CLI sends deltas and then "flush"
//!   lines that repeat text already sent. A flush that starts with the text streamed since the
//!   last flush contributes only what is new (often nothing); without partial output every
//!   assistant line is a whole segment;
//! - the verdict: a run succeeds only with a `result` line of `subtype:"success"` that is not
//!   an error. A stream that ends without one failed, whatever the exit code.

use std::borrow::Cow;

use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use switchboard_agent_api::{AgentLine, AgentOutput, TokenBudgetReport};
use switchboard_protocol::event::{AgentEvent, NoticeLevel};
use switchboard_protocol::lifecycle::AgentExit;

use crate::json_line;
use crate::supervisor::OutputParser;

/// Cursor does not report its context window; this is the seed's default.
const CONTEXT_WINDOW: u64 = 200_000;

#[derive(Default)]
pub struct CursorParser {
    /// Text streamed as deltas since the last flush.
    streamed: String,
    reported_success: bool,
    error: Option<String>,
}

/// One line. The nested parts stay raw slices of the line until an event needs them: most
/// lines are assistant text, and building a JSON tree for every one of them is the parser's
/// largest cost on a chatty run.
#[derive(Deserialize)]
struct Line<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    #[serde(default, borrow)]
    subtype: Option<&'a str>,
    #[serde(default)]
    session_id: Option<String>,
    #[serde(default)]
    message: Message,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    call_id: Option<String>,
    #[serde(default, borrow)]
    tool_call: Option<&'a RawValue>,
    #[serde(default, borrow)]
    timestamp_ms: Option<&'a RawValue>,
    #[serde(default, borrow)]
    model_call_id: Option<&'a RawValue>,
    #[serde(default)]
    is_error: Option<bool>,
    #[serde(default, borrow)]
    result: Option<&'a RawValue>,
    #[serde(default)]
    usage: Option<Usage>,
}

/// A raw part of a line as a JSON tree (`Null` for JSON `null`).
fn tree(raw: Option<&RawValue>) -> Option<Value> {
    raw.and_then(|raw| serde_json::from_str(raw.get()).ok())
        .filter(|value: &Value| !value.is_null())
}

/// `message`, read in the line's own pass: it is most of an assistant line's bytes, and
/// taking it as a raw slice to parse again later scanned it twice. Any shape reads without
/// failing the line.
#[derive(Default)]
enum Message {
    /// Absent, or `null`.
    #[default]
    None,
    Text(String),
    /// An object: the text of its `content` (see [`ContentText`]); `None` when `content` has
    /// another shape, which reads as no text.
    Object {
        text: Option<String>,
    },
    /// Any other value.
    Other,
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum MessageKey {
    Content,
    #[serde(other)]
    Other,
}

/// `message.content`: a string, or the text of every text part joined (a part without a
/// string `type` counts as text). `None` for any other shape, or an array holding a part
/// that is not an object.
struct ContentText(Option<String>);

/// One element of `message.content`.
enum ContentPart<'a> {
    /// An object; its text when it is a text part with a string `text`.
    Object(Option<Cow<'a, str>>),
    NotAnObject,
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum PartKey {
    Type,
    Text,
    #[serde(other)]
    Other,
}

/// A string, borrowed from the line when it has no escapes; `None` for any other value.
#[derive(Default)]
struct MaybeText<'a>(Option<Cow<'a, str>>);

/// Implements visitor methods that read the named shapes as `$value` ("something else"),
/// consuming arrays and objects whole: `scalars` (booleans and numbers), `unit` (`null`),
/// `seq`, `map`.
macro_rules! other_shapes {
    ($value:expr; $($shape:ident),+) => {
        $(other_shapes!(@$shape $value);)+
    };
    (@scalars $value:expr) => {
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok($value)
        }
    };
    (@unit $value:expr) => {
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok($value)
        }
    };
    (@seq $value:expr) => {
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut items: A,
        ) -> Result<Self::Value, A::Error> {
            while items.next_element::<IgnoredAny>()?.is_some() {}
            Ok($value)
        }
    };
    (@map $value:expr) => {
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok($value)
        }
    };
}

impl<'de> Deserialize<'de> for Message {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Message;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any value")
            }
            fn visit_str<E>(self, text: &str) -> Result<Message, E> {
                Ok(Message::Text(text.to_owned()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Message, A::Error> {
                // No `content` reads as empty text.
                let mut text = Some(String::new());
                while let Some(key) = map.next_key::<MessageKey>()? {
                    match key {
                        MessageKey::Content => text = map.next_value::<ContentText>()?.0,
                        MessageKey::Other => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(Message::Object { text })
            }
            other_shapes!(Message::None; unit);
            other_shapes!(Message::Other; scalars, seq);
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl<'de> Deserialize<'de> for ContentText {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = ContentText;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("message content")
            }
            fn visit_str<E>(self, text: &str) -> Result<ContentText, E> {
                Ok(ContentText(Some(text.to_owned())))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut parts: A,
            ) -> Result<ContentText, A::Error> {
                let mut text = Some(String::new());
                while let Some(part) = parts.next_element::<ContentPart<'de>>()? {
                    match (part, &mut text) {
                        // The first part is taken whole (a text with escapes is owned and
                        // moves, one without is copied once, at its size); later ones append.
                        (ContentPart::Object(Some(part_text)), Some(text)) if text.is_empty() => {
                            *text = part_text.into_owned()
                        }
                        (ContentPart::Object(Some(part_text)), Some(text)) => {
                            text.push_str(&part_text)
                        }
                        (ContentPart::Object(None), _) => {}
                        // Keep reading: the rest of the line must still be consumed.
                        (ContentPart::NotAnObject, _) => text = None,
                        (_, None) => {}
                    }
                }
                Ok(ContentText(text))
            }
            other_shapes!(ContentText(None); scalars, unit, map);
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for ContentPart<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = ContentPart<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a content part")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<ContentPart<'de>, A::Error> {
                let mut kind: Option<&'de RawValue> = None;
                let mut text = MaybeText(None);
                while let Some(key) = map.next_key::<PartKey>()? {
                    match key {
                        PartKey::Type => kind = map.next_value()?,
                        PartKey::Text => text = map.next_value()?,
                        PartKey::Other => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                let is_text =
                    kind.is_none_or(|k| k.get() == r#""text""# || !k.get().starts_with('"'));
                Ok(ContentPart::Object(text.0.filter(|_| is_text)))
            }
            fn visit_str<E>(self, _: &str) -> Result<ContentPart<'de>, E> {
                Ok(ContentPart::NotAnObject)
            }
            other_shapes!(ContentPart::NotAnObject; scalars, unit, seq);
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for MaybeText<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Text;
        impl<'de> serde::de::Visitor<'de> for Text {
            type Value = MaybeText<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any value")
            }
            fn visit_borrowed_str<E>(self, text: &'de str) -> Result<MaybeText<'de>, E> {
                Ok(MaybeText(Some(Cow::Borrowed(text))))
            }
            fn visit_str<E>(self, text: &str) -> Result<MaybeText<'de>, E> {
                Ok(MaybeText(Some(Cow::Owned(text.to_owned()))))
            }
            other_shapes!(MaybeText(None); scalars, unit, seq, map);
        }
        deserializer.deserialize_any(Text)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Usage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    #[serde(default)]
    cache_read_tokens: Option<u64>,
    #[serde(default)]
    cache_write_tokens: Option<u64>,
}

impl CursorParser {
    /// The event of a line; `text` is the whole line, for the rare part read as a tree.
    fn event(&mut self, line: Line<'_>, text: &str, out: &mut Vec<AgentOutput>) -> AgentEvent {
        match (line.kind, line.subtype) {
            ("system", Some("init")) => match line.session_id {
                Some(id) if !id.is_empty() => AgentEvent::NativeSession { id },
                _ => AgentEvent::Other,
            },
            ("thinking", Some("delta")) => match line.text {
                Some(text) if !text.is_empty() => AgentEvent::Thinking { text, delta: true },
                _ => AgentEvent::Other,
            },
            ("assistant", _) => {
                let text = match line.message {
                    Message::Object { text: Some(text) } => text,
                    _ => String::new(),
                };
                let is_delta = line.timestamp_ms.is_some() && line.model_call_id.is_none();
                self.assistant(text, is_delta)
            }
            ("tool_call", Some("started")) => {
                let (name, input, _) = tool_parts(tree(line.tool_call).as_ref());
                AgentEvent::ToolCall {
                    id: line.call_id.unwrap_or_default(),
                    name,
                    input,
                }
            }
            ("tool_call", Some("completed")) => {
                let (_, _, result) = tool_parts(tree(line.tool_call).as_ref());
                let is_error = result
                    .as_ref()
                    .and_then(Value::as_object)
                    .is_some_and(|outcome| {
                        !outcome
                            .keys()
                            .any(|k| SUCCESS_OUTCOMES.contains(&k.as_str()))
                    });
                AgentEvent::ToolResult {
                    id: line.call_id.unwrap_or_default(),
                    output: result.unwrap_or(Value::Null),
                    is_error,
                }
            }
            ("result", subtype) => {
                let result = tree(line.result);
                let text = result.as_ref().and_then(Value::as_str).unwrap_or_default();
                if subtype == Some("success") && line.is_error != Some(true) {
                    self.reported_success = true;
                } else {
                    self.error = Some(if text.is_empty() {
                        "cursor reported an error result".into()
                    } else {
                        text.to_owned()
                    });
                }
                match line.usage {
                    Some(usage) => {
                        let used = usage.input_tokens
                            + usage.output_tokens
                            + usage.cache_read_tokens.unwrap_or(0)
                            + usage.cache_write_tokens.unwrap_or(0);
                        out.push(AgentOutput::TokenBudget(TokenBudgetReport {
                            used,
                            total: CONTEXT_WINDOW,
                            breakdown: None,
                        }));
                        AgentEvent::Usage {
                            input_tokens: usage.input_tokens,
                            output_tokens: usage.output_tokens,
                            cache_read_tokens: usage.cache_read_tokens,
                            cache_write_tokens: usage.cache_write_tokens,
                            cost_usd: None,
                        }
                    }
                    None => AgentEvent::Other,
                }
            }
            ("error", _) => {
                let message = match line.message {
                    Message::Text(message) => message,
                    Message::None => "cursor reported an error".into(),
                    // An error as an object: shown as its JSON (rare, so parsed again here).
                    Message::Object { .. } | Message::Other => serde_json::from_str::<Value>(text)
                        .ok()
                        .and_then(|line| line.get("message").map(Value::to_string))
                        .unwrap_or_else(|| "cursor reported an error".into()),
                };
                self.error = Some(message.clone());
                AgentEvent::Notice {
                    level: NoticeLevel::Error,
                    message,
                }
            }
            _ => AgentEvent::Other,
        }
    }

    fn assistant(&mut self, text: String, is_delta: bool) -> AgentEvent {
        if is_delta {
            self.streamed.push_str(&text);
            return if text.is_empty() {
                AgentEvent::Other
            } else {
                AgentEvent::Text { text, delta: true }
            };
        }
        // A flush, or a whole segment when nothing was streamed.
        let streamed = std::mem::take(&mut self.streamed);
        if streamed.is_empty() {
            return if text.is_empty() {
                AgentEvent::Other
            } else {
                AgentEvent::Text { text, delta: false }
            };
        }
        match text.strip_prefix(streamed.as_str()) {
            Some("") => AgentEvent::Other,
            Some(extra) => AgentEvent::Text {
                text: extra.to_owned(),
                delta: true,
            },
            None => AgentEvent::Text { text, delta: false },
        }
    }
}

/// Outcome keys that mean the tool worked (`cursor-nano-formats.md` A.5).
const SUCCESS_OUTCOMES: &[&str] = &[
    "success",
    "approved",
    "async",
    "stillRunning",
    "accepted",
    "modified",
    "complete",
    "registered",
    "startSuccess",
    "saveSuccess",
    "discardSuccess",
];

/// `(name, args, result)` of a `tool_call` object. The tool is the one key ending in
/// `ToolCall` (newer builds put other keys beside it), or the generic `function` form.
fn tool_parts(tool_call: Option<&Value>) -> (String, Value, Option<Value>) {
    let Some(Value::Object(fields)) = tool_call else {
        return ("unknown".into(), Value::Null, None);
    };
    if let Some((key, body)) = fields.iter().find(|(k, _)| k.ends_with("ToolCall")) {
        let name = key.trim_end_matches("ToolCall").to_owned();
        let args = body.get("args").cloned().unwrap_or(Value::Null);
        return (name, args, body.get("result").cloned());
    }
    if let Some(function) = fields.get("function") {
        let name = function
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("function")
            .to_owned();
        let args = match function.get("arguments") {
            Some(Value::String(s)) => {
                serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.clone()))
            }
            Some(other) => other.clone(),
            None => Value::Null,
        };
        return (name, args, fields.get("result").cloned());
    }
    ("unknown".into(), Value::Null, None)
}

impl OutputParser for CursorParser {
    fn stdout_line(&mut self, line: &[u8], out: &mut Vec<AgentOutput>) {
        let (parsed, text) = match json_line::read::<Line<'_>>(line, str::to_owned) {
            json_line::JsonLine::Json { parsed, text } => (parsed, text),
            json_line::JsonLine::Plain(notice) => return out.push(notice),
            json_line::JsonLine::Blank => return,
        };
        let raw = json_line::raw(text);
        let mut extra = Vec::new();
        let event = self.event(parsed, text, &mut extra);
        out.push(AgentOutput::Line(AgentLine { event, raw }));
        out.append(&mut extra);
    }

    fn finish(
        &mut self,
        exit_code: Option<i32>,
        signal: Option<i32>,
        stderr_tail: Option<String>,
    ) -> AgentExit {
        let error = if self.reported_success {
            None
        } else {
            self.error.take()
        };
        AgentExit::Exited {
            exit_code,
            signal,
            reported_success: self.reported_success,
            error,
            detail: stderr_tail,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(lines: &[&str]) -> (Vec<AgentEvent>, CursorParser) {
        let mut parser = CursorParser::default();
        let mut out = Vec::new();
        for line in lines {
            parser.stdout_line(line.as_bytes(), &mut out);
        }
        let events = out
            .into_iter()
            .filter_map(|o| match o {
                AgentOutput::Line(l) => Some(l.event),
                _ => None,
            })
            .collect();
        (events, parser)
    }

    const SID: &str = "5b1f0c2e-8a4d-4c3e-9f7a-2d6b1e0a9c11";

    #[test]
    fn plain_turn() {
        let (events, mut parser) = events(&[
            r#"{"type":"system","subtype":"init","apiKeySource":"env","cwd":"/srv/demo","session_id":"5b1f0c2e-8a4d-4c3e-9f7a-2d6b1e0a9c11","model":"Auto","permissionMode":"default"}"#,
            r#"{"type":"user","message":{"role":"user","content":[{"type":"text","text":"Say hello"}]},"session_id":"5b1f0c2e-8a4d-4c3e-9f7a-2d6b1e0a9c11"}"#,
            r#"{"type":"assistant","message":{"role":"assistant","content":[{"type":"text","text":"Hello! What should we work on?"}]},"session_id":"5b1f0c2e-8a4d-4c3e-9f7a-2d6b1e0a9c11"}"#,
            r#"{"type":"result","subtype":"success","duration_ms":2140,"duration_api_ms":2140,"is_error":false,"result":"Hello! What should we work on?","session_id":"5b1f0c2e-8a4d-4c3e-9f7a-2d6b1e0a9c11","request_id":"0c9e6a4b","usage":{"inputTokens":1204,"outputTokens":9,"cacheReadTokens":0,"cacheWriteTokens":0}}"#,
        ]);
        assert_eq!(events[0], AgentEvent::NativeSession { id: SID.into() });
        assert_eq!(events[1], AgentEvent::Other);
        assert_eq!(
            events[2],
            AgentEvent::Text {
                text: "Hello! What should we work on?".into(),
                delta: false
            }
        );
        assert!(matches!(
            events[3],
            AgentEvent::Usage {
                input_tokens: 1204,
                output_tokens: 9,
                ..
            }
        ));
        assert!(matches!(
            parser.finish(Some(0), None, None),
            AgentExit::Exited {
                reported_success: true,
                error: None,
                ..
            }
        ));
    }

    #[test]
    fn shell_tool_round_trip() {
        let (events, _) = events(&[
            r#"{"type":"tool_call","subtype":"started","call_id":"toolu_vrtx_01EchoCall","tool_call":{"shellToolCall":{"args":{"command":"echo fake-tool-ok","workingDirectory":"","timeout":30000}}},"session_id":"x"}"#,
            r#"{"type":"tool_call","subtype":"completed","call_id":"toolu_vrtx_01EchoCall","tool_call":{"toolCallId":"toolu_vrtx_01EchoCall","shellToolCall":{"args":{"command":"echo fake-tool-ok"},"result":{"success":{"exitCode":0,"stdout":"fake-tool-ok\n"}}}},"session_id":"x"}"#,
            r#"{"type":"tool_call","subtype":"completed","call_id":"c2","tool_call":{"shellToolCall":{"args":{},"result":{"rejected":{"reason":""}}}},"session_id":"x"}"#,
        ]);
        assert_eq!(
            events[0],
            AgentEvent::ToolCall {
                id: "toolu_vrtx_01EchoCall".into(),
                name: "shell".into(),
                input: serde_json::json!({"command":"echo fake-tool-ok","workingDirectory":"","timeout":30000})
            }
        );
        assert!(
            matches!(&events[1], AgentEvent::ToolResult { is_error: false, output, .. } if output["success"]["exitCode"] == 0)
        );
        assert!(matches!(
            &events[2],
            AgentEvent::ToolResult { is_error: true, .. }
        ));
    }

    #[test]
    fn partial_output_skips_flushes() {
        let (events, _) = events(&[
            r#"{"type":"assistant","message":{"role":"assistant","content":[{"type":"text","text":"Hello! "}]},"session_id":"s","timestamp_ms":1}"#,
            r#"{"type":"assistant","message":{"role":"assistant","content":[{"type":"text","text":"What now?"}]},"session_id":"s","timestamp_ms":2}"#,
            r#"{"type":"assistant","message":{"role":"assistant","content":[{"type":"text","text":"Hello! What now?"}]},"session_id":"s","timestamp_ms":3,"model_call_id":"m"}"#,
            r#"{"type":"assistant","message":{"role":"assistant","content":[{"type":"text","text":"Next."}]},"session_id":"s"}"#,
        ]);
        let text: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                AgentEvent::Text { text, .. } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(text, ["Hello! ", "What now?", "Next."]);
    }

    #[test]
    fn failures() {
        let (seen, mut parser) = events(&[
            "plain text banner",
            r#"{"type":"error","message":"quota exceeded for this workspace"}"#,
        ]);
        assert!(matches!(
            &seen[0],
            AgentEvent::Notice {
                level: NoticeLevel::Info,
                ..
            }
        ));
        assert!(matches!(
            &seen[1],
            AgentEvent::Notice {
                level: NoticeLevel::Error,
                ..
            }
        ));
        assert!(matches!(
            parser.finish(Some(0), None, None),
            AgentExit::Exited { reported_success: false, error: Some(e), .. } if e.contains("quota")
        ));
        let (_, mut parser) = events(&[
            r#"{"type":"result","subtype":"error","is_error":true,"result":"boom","session_id":"s"}"#,
        ]);
        assert!(matches!(
            parser.finish(Some(0), None, None),
            AgentExit::Exited { error: Some(e), .. } if e == "boom"
        ));
    }

    #[test]
    fn message_text_shapes() {
        let (events, _) = events(&[
            r#"{"type":"assistant","message":{"content":"plain \"quoted\""}}"#,
            r#"{"type":"assistant","message":{"content":[{"type":"text","text":"a\nb"},{"type":"image","text":"no"},{"text":"c"},{"type":"text","text":7}]}}"#,
            r#"{"type":"assistant","message":{"content":42}}"#,
            r#"{"type":"assistant","message":null}"#,
            // A part that is not an object voids the text; the rest of the line still reads.
            r#"{"type":"assistant","message":{"content":[{"text":"x"},"y",{"text":"z"}],"role":"assistant"},"session_id":"s"}"#,
            r#"{"type":"assistant","message":"just a string"}"#,
            r#"{"type":"assistant","message":{"role":"assistant","content":[{"text":"k","type":"text","extra":{"a":[1]}}]}}"#,
            r#"{"type":"assistant","message":[1,{"content":"no"}]}"#,
        ]);
        let text = |e: &AgentEvent| match e {
            AgentEvent::Text { text, .. } => Some(text.clone()),
            _ => None,
        };
        assert_eq!(text(&events[0]).as_deref(), Some("plain \"quoted\""));
        assert_eq!(text(&events[1]).as_deref(), Some("a\nbc"));
        assert_eq!(events[2], AgentEvent::Other);
        assert_eq!(events[3], AgentEvent::Other);
        assert_eq!(events[4], AgentEvent::Other);
        assert_eq!(events[5], AgentEvent::Other);
        assert_eq!(text(&events[6]).as_deref(), Some("k"));
        assert_eq!(events[7], AgentEvent::Other);
        assert_eq!(events.len(), 8, "every line parsed as JSON: {events:?}");
    }

    #[test]
    fn error_messages_of_any_shape() {
        let (events, _) = events(&[
            r#"{"type":"error","message":"quota \"exceeded\""}"#,
            r#"{"type":"error","message":{"code":429,"detail":"slow down"}}"#,
            r#"{"type":"error"}"#,
        ]);
        let message = |e: &AgentEvent| match e {
            AgentEvent::Notice { message, .. } => message.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(message(&events[0]), r#"quota "exceeded""#);
        assert_eq!(message(&events[1]), r#"{"code":429,"detail":"slow down"}"#);
        assert_eq!(message(&events[2]), "cursor reported an error");
    }

    #[test]
    fn data_is_the_line_unchanged() {
        let mut parser = CursorParser::default();
        let mut out = Vec::new();
        let line = r#"{"type":"user",  "future_field":[1,2],"session_id":"s"}"#;
        parser.stdout_line(line.as_bytes(), &mut out);
        let AgentOutput::Line(l) = &out[0] else {
            panic!()
        };
        assert_eq!(l.raw.get(), line);
    }
}

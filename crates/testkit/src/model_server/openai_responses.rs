//! OpenAI Responses API (`POST /v1/responses`), the only wire API codex 0.169 accepts for a
//! custom provider.
//!
//! Text stream: `response.created`, `response.in_progress`, `response.output_item.added`
//! (message), `response.content_part.added`, `response.output_text.delta`…,
//! `response.output_text.done`, `response.content_part.done`, `response.output_item.done`,
//! `response.completed` (with usage). A tool call replaces the message item with a
//! `function_call` item and its `response.function_call_arguments.delta`/`.done` events.
//! Codex only finishes a turn on `response.completed`, and reads items from
//! `response.output_item.done`.

use axum::response::Response;
use serde_json::{json, Value};

use super::plan::{split, Plan};
use super::sse::{self, StreamCtx, TimedBody, EVENT_STREAM};
use super::{new_id, unix_now, wants_stream};

pub(super) fn respond(plan: Plan, body: &Value, ctx: &StreamCtx) -> Response {
    let stream = wants_stream(body);
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("fake-model");
    let response = json!({
        "id": new_id("resp_"),
        "object": "response",
        "created_at": unix_now(),
        "model": model,
        "status": "in_progress",
        "output": [],
    });
    let (chunks, delay, item) = match plan {
        Plan::Error { status, message } => {
            return sse::json(status, &error_body(status, &message))
        }
        Plan::Hang => return sse::hang(stream, ctx),
        Plan::Text { chunks, delay } => {
            let item = json!({
                "type": "message",
                "id": new_id("msg_"),
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": chunks.concat(), "annotations": []}],
            });
            (chunks, delay, item)
        }
        Plan::ToolCall { name, arguments } => {
            let item = json!({
                "type": "function_call",
                "id": new_id("fc_"),
                "status": "completed",
                "call_id": new_id("call_"),
                "name": name,
                // The Responses API carries arguments as a JSON string, not an object.
                "arguments": arguments.to_string(),
            });
            (Vec::new(), Default::default(), item)
        }
    };
    let usage = json!({
        "input_tokens": 12,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": chunks.len() + 4,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": chunks.len() + 16,
    });
    let mut completed = response.clone();
    completed["status"] = json!("completed");
    completed["output"] = json!([item]);
    completed["usage"] = usage;
    if !stream {
        return sse::json(200, &completed);
    }

    let mut out = Events::default();
    out.emit("response.created", json!({"response": response}));
    out.emit("response.in_progress", json!({"response": response}));
    let item_id = item["id"].clone();
    if item["type"] == "function_call" {
        let mut added = item.clone();
        added["status"] = json!("in_progress");
        added["arguments"] = json!("");
        out.emit(
            "response.output_item.added",
            json!({"output_index": 0, "item": added}),
        );
        let arguments = item["arguments"].as_str().unwrap_or_default();
        for piece in split(arguments, 3) {
            out.emit(
                "response.function_call_arguments.delta",
                json!({"item_id": item_id, "output_index": 0, "delta": piece}),
            );
        }
        out.emit(
            "response.function_call_arguments.done",
            json!({"item_id": item_id, "output_index": 0, "arguments": arguments}),
        );
    } else {
        let mut added = item.clone();
        added["status"] = json!("in_progress");
        added["content"] = json!([]);
        out.emit(
            "response.output_item.added",
            json!({"output_index": 0, "item": added}),
        );
        let part = |text: &str| json!({"type": "output_text", "text": text, "annotations": []});
        let at = json!({"item_id": item_id, "output_index": 0, "content_index": 0});
        out.emit("response.content_part.added", with(&at, "part", part("")));
        for chunk in &chunks {
            out.emit("response.output_text.delta", with(&at, "delta", json!(chunk)));
            out.body.pause(delay);
        }
        let full = chunks.concat();
        out.emit("response.output_text.done", with(&at, "text", json!(full)));
        out.emit("response.content_part.done", with(&at, "part", part(&full)));
    }
    out.emit(
        "response.output_item.done",
        json!({"output_index": 0, "item": item}),
    );
    out.emit("response.completed", json!({"response": completed}));
    out.body.respond(EVENT_STREAM, ctx)
}

/// Adds `type` and the running `sequence_number` every Responses event carries.
#[derive(Default)]
struct Events {
    body: TimedBody,
    sequence: u64,
}

impl Events {
    fn emit(&mut self, kind: &str, mut fields: Value) {
        fields["type"] = json!(kind);
        fields["sequence_number"] = json!(self.sequence);
        self.sequence += 1;
        self.body.event(kind, &fields);
    }
}

fn with(base: &Value, key: &str, value: Value) -> Value {
    let mut out = base.clone();
    out[key] = value;
    out
}

/// OpenAI's error shape (shared by Responses and Chat Completions).
pub(super) fn error_body(status: u16, message: &str) -> Value {
    let (kind, code) = match status {
        400 => ("invalid_request_error", Value::Null),
        401 => ("invalid_request_error", json!("invalid_api_key")),
        403 => ("invalid_request_error", Value::Null),
        404 => ("invalid_request_error", json!("model_not_found")),
        429 => ("rate_limit_exceeded", json!("rate_limit_exceeded")),
        _ => ("server_error", Value::Null),
    };
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
}

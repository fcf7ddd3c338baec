//! Anthropic Messages API (`POST /v1/messages`), as Claude Code streams it.
//!
//! Stream: `message_start`, `content_block_start`, `ping`, `content_block_delta`…,
//! `content_block_stop`, `message_delta` (stop reason + usage), `message_stop`; each frame
//! carries an `event:` line naming its `type`.

use serde_json::{json, Value};

use super::plan::{split, Plan};
use super::sse::{self, StreamCtx, TimedBody, EVENT_STREAM};
use super::{new_id, wants_stream};
use axum::response::Response;

const INPUT_TOKENS: u64 = 12;

pub(super) fn respond(plan: Plan, body: &Value, ctx: &StreamCtx) -> Response {
    let stream = wants_stream(body);
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("claude-fake");
    match plan {
        Plan::Error { status, message } => sse::json(status, &error_body(status, &message)),
        Plan::Hang => sse::hang(stream, ctx),
        Plan::Text { chunks, delay } => {
            let output_tokens = chunks.len() as u64 + 4;
            if !stream {
                let text = chunks.concat();
                let content = json!([{"type": "text", "text": text}]);
                return sse::json(200, &message(model, content, "end_turn", output_tokens));
            }
            let mut out = start(model);
            let block = json!({"type": "text", "text": ""});
            out.event(
                "content_block_start",
                &json!({"type": "content_block_start", "index": 0, "content_block": block}),
            );
            // Real streams interleave pings; clients must skip them.
            out.event("ping", &json!({"type": "ping"}));
            for chunk in &chunks {
                let delta = json!({"type": "text_delta", "text": chunk});
                out.event(
                    "content_block_delta",
                    &json!({"type": "content_block_delta", "index": 0, "delta": delta}),
                );
                out.pause(delay);
            }
            finish(&mut out, "end_turn", output_tokens);
            out.respond(EVENT_STREAM, ctx)
        }
        Plan::ToolCall { name, arguments } => {
            let id = new_id("toolu_");
            if !stream {
                let content =
                    json!([{"type": "tool_use", "id": id, "name": name, "input": arguments}]);
                return sse::json(200, &message(model, content, "tool_use", 20));
            }
            let mut out = start(model);
            let block = json!({"type": "tool_use", "id": id, "name": name, "input": {}});
            out.event(
                "content_block_start",
                &json!({"type": "content_block_start", "index": 0, "content_block": block}),
            );
            // The input arrives as JSON text in pieces; the client parses it at block stop.
            for piece in split(&arguments.to_string(), 3) {
                let delta = json!({"type": "input_json_delta", "partial_json": piece});
                out.event(
                    "content_block_delta",
                    &json!({"type": "content_block_delta", "index": 0, "delta": delta}),
                );
            }
            finish(&mut out, "tool_use", 20);
            out.respond(EVENT_STREAM, ctx)
        }
    }
}

/// `POST /v1/messages/count_tokens`.
pub(super) fn count_tokens() -> Response {
    sse::json(200, &json!({"input_tokens": 42}))
}

fn usage(output_tokens: u64) -> Value {
    json!({
        "input_tokens": INPUT_TOKENS,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    })
}

fn message(model: &str, content: Value, stop_reason: &str, output_tokens: u64) -> Value {
    json!({
        "id": new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": null,
        "usage": usage(output_tokens),
    })
}

fn start(model: &str) -> TimedBody {
    let mut out = TimedBody::new();
    let mut message = message(model, json!([]), "", 1);
    message["stop_reason"] = Value::Null;
    out.event(
        "message_start",
        &json!({"type": "message_start", "message": message}),
    );
    out
}

fn finish(out: &mut TimedBody, stop_reason: &str, output_tokens: u64) {
    out.event(
        "content_block_stop",
        &json!({"type": "content_block_stop", "index": 0}),
    );
    out.event(
        "message_delta",
        &json!({
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": null},
            "usage": {"output_tokens": output_tokens},
        }),
    );
    out.event("message_stop", &json!({"type": "message_stop"}));
}

/// Anthropic's error shape; the `type` follows the status as the real API does.
pub(super) fn error_body(status: u16, message: &str) -> Value {
    let kind = match status {
        400 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        _ => "api_error",
    };
    json!({"type": "error", "error": {"type": kind, "message": message}})
}

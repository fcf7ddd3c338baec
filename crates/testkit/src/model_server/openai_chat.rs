//! OpenAI Chat Completions (`POST /v1/chat/completions`), streamed and plain. Codex no
//! longer speaks it; it is here for OpenAI-compatible agent loops.
//!
//! Stream: `data:` chunks only (no `event:` lines). The first chunk carries
//! `delta.role`; text follows as `delta.content`; a tool call as `delta.tool_calls` whose
//! `function.arguments` string is split across several chunks (clients must concatenate
//! by `index`). Then a chunk with `finish_reason`, a `choices: []` chunk with `usage`
//! when `stream_options.include_usage` is set, and `data: [DONE]`.

use axum::response::Response;
use serde_json::{json, Value};

use super::plan::{split, Plan};
use super::sse::{self, StreamCtx, TimedBody, EVENT_STREAM};
use super::{new_id, openai_responses, unix_now, wants_stream};

/// How many pieces a tool call's arguments are cut into, so clients exercise reassembly.
const ARGUMENT_PIECES: usize = 4;

pub(super) fn respond(plan: Plan, body: &Value, ctx: &StreamCtx) -> Response {
    let stream = wants_stream(body);
    let include_usage = body
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("fake-model");
    let id = new_id("chatcmpl-");
    let created = unix_now();
    let chunk = |choices: Value| {
        json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": choices,
        })
    };
    let delta = |delta: Value, finish: Value| {
        chunk(json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]))
    };

    let (deltas, delay, message, finish) = match plan {
        Plan::Error { status, message } => {
            return sse::json(status, &openai_responses::error_body(status, &message))
        }
        Plan::Hang => return sse::hang(stream, ctx),
        Plan::Text { chunks, delay } => {
            let mut deltas = vec![json!({"role": "assistant", "content": ""})];
            deltas.extend(chunks.iter().map(|c| json!({"content": c})));
            let message = json!({"role": "assistant", "content": chunks.concat()});
            (deltas, delay, message, "stop")
        }
        Plan::ToolCall { name, arguments } => {
            let call_id = new_id("call_");
            let arguments = arguments.to_string();
            let mut deltas = vec![json!({
                "role": "assistant",
                "content": null,
                "tool_calls": [{"index": 0, "id": call_id, "type": "function",
                                "function": {"name": name, "arguments": ""}}],
            })];
            deltas.extend(split(&arguments, ARGUMENT_PIECES).into_iter().map(|piece| {
                json!({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
            }));
            let message = json!({
                "role": "assistant",
                "content": null,
                "tool_calls": [{"id": call_id, "type": "function",
                                "function": {"name": name, "arguments": arguments}}],
            });
            (deltas, Default::default(), message, "tool_calls")
        }
    };
    let completion_tokens = deltas.len() + 3;
    let usage = json!({
        "prompt_tokens": 12,
        "completion_tokens": completion_tokens,
        "total_tokens": 12 + completion_tokens,
    });

    if !stream {
        return sse::json(
            200,
            &json!({
                "id": id,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "message": message, "logprobs": null,
                             "finish_reason": finish}],
                "usage": usage,
            }),
        );
    }
    let mut out = TimedBody::new();
    for (i, d) in deltas.into_iter().enumerate() {
        out.data(&delta(d, Value::Null));
        // The first delta only announces the role; pace the content after it.
        if i > 0 {
            out.pause(delay);
        }
    }
    out.data(&delta(json!({}), json!(finish)));
    if include_usage {
        let mut last = chunk(json!([]));
        last["usage"] = usage;
        out.data(&last);
    }
    out.done();
    out.respond(EVENT_STREAM, ctx)
}

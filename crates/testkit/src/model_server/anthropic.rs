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
                return sse::json(
                    200,
                    &message(model, content, Some("end_turn"), output_tokens),
                );
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
                return sse::json(200, &message(model, content, Some("tool_use"), 20));
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

/// A whole message; `stop_reason` is `None` in `message_start`, before the turn ends.
fn message(model: &str, content: Value, stop_reason: Option<&str>, output_tokens: u64) -> Value {
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
    let message = message(model, json!([]), None, 1);
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::test_client::post;
    use super::super::{ModelServer, Reply, Script};

    fn ask(stream: bool, prompt: &str) -> serde_json::Value {
        json!({
            "model": "claude-test",
            "stream": stream,
            "tools": [{"name": "Bash", "input_schema": {}}],
            "messages": [{"role": "user", "content": prompt}],
        })
    }

    #[tokio::test]
    async fn text_stream_has_the_event_sequence_and_reassembles() {
        let script = Script::new().then(Reply::text("Hello there, Claude!"));
        let server = ModelServer::start(script).await.unwrap();
        let resp = post(server.addr(), "/v1/messages?beta=true", &ask(true, "hi")).await;
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("content-type"), Some("text/event-stream"));
        let events = resp.sse();
        let names: Vec<&str> = events.iter().filter_map(|e| e.event.as_deref()).collect();
        assert_eq!(
            names,
            [
                "message_start",
                "content_block_start",
                "ping",
                "content_block_delta",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        // Every frame's data names its own type, matching the event line.
        for event in &events {
            assert_eq!(event.json()["type"], event.event.as_deref().unwrap());
        }
        let text: String = events
            .iter()
            .filter_map(|e| e.json()["delta"]["text"].as_str().map(str::to_owned))
            .collect();
        assert_eq!(text, "Hello there, Claude!");
        assert_eq!(events[0].json()["message"]["model"], "claude-test");
        let end = events[7].json();
        assert_eq!(end["delta"]["stop_reason"], "end_turn");
        assert!(end["usage"]["output_tokens"].as_u64().unwrap() > 0);
        assert_eq!(server.requests()[0].query.as_deref(), Some("beta=true"));
    }

    #[tokio::test]
    async fn tool_use_streams_input_json_in_pieces() {
        let args = json!({"command": "ls -la", "description": "List"});
        let script = Script::new().then(Reply::tool_call("Bash", args.clone()));
        let server = ModelServer::start(script).await.unwrap();
        let events = post(server.addr(), "/v1/messages", &ask(true, "x"))
            .await
            .sse();
        let start = events[1].json();
        assert_eq!(start["content_block"]["type"], "tool_use");
        assert_eq!(start["content_block"]["name"], "Bash");
        assert!(start["content_block"]["id"]
            .as_str()
            .unwrap()
            .starts_with("toolu_"));
        let pieces: Vec<String> = events
            .iter()
            .map(|e| e.json())
            .filter(|e| e["delta"]["type"] == "input_json_delta")
            .map(|e| e["delta"]["partial_json"].as_str().unwrap().to_owned())
            .collect();
        assert!(pieces.len() > 1);
        let input: serde_json::Value = serde_json::from_str(&pieces.concat()).unwrap();
        assert_eq!(input, args);
        let delta = events
            .iter()
            .find(|e| e.event.as_deref() == Some("message_delta"));
        assert_eq!(delta.unwrap().json()["delta"]["stop_reason"], "tool_use");
    }

    #[tokio::test]
    async fn plain_message_and_error_shape() {
        let script = Script::new()
            .then(Reply::tool_call("Bash", json!({"command": "true"})))
            .then(Reply::error(429, "slow down"));
        let server = ModelServer::start(script).await.unwrap();
        let message = post(server.addr(), "/v1/messages", &ask(false, "x"))
            .await
            .json();
        assert_eq!(message["type"], "message");
        assert_eq!(message["stop_reason"], "tool_use");
        assert_eq!(message["content"][0]["input"]["command"], "true");

        let error = post(server.addr(), "/v1/messages", &ask(false, "x")).await;
        assert_eq!(error.status, 429);
        assert_eq!(
            error.json(),
            json!({"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}})
        );
    }

    #[tokio::test]
    async fn marker_tool_round_trip() {
        let server = ModelServer::start(Script::new()).await.unwrap();
        let call = post(server.addr(), "/v1/messages", &ask(false, "[tool] go"))
            .await
            .json();
        let block = &call["content"][0];
        assert_eq!(block["name"], "Bash");
        assert_eq!(block["input"]["command"], "echo fake-tool-ok");

        let follow_up = json!({
            "stream": false,
            "messages": [
                {"role": "user", "content": "[tool] go"},
                {"role": "assistant", "content": [block]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": block["id"],
                    "content": "fake-tool-ok\n", "is_error": false}]},
            ],
        });
        let answer = post(server.addr(), "/v1/messages", &follow_up).await.json();
        assert_eq!(answer["content"][0]["text"], "Tool said: fake-tool-ok\n");
        let error = post(server.addr(), "/v1/messages", &ask(true, "[error]")).await;
        assert_eq!(error.status, 400);
        assert_eq!(error.json()["error"]["type"], "invalid_request_error");
    }
}

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
        Plan::Error { status, message } => return sse::json(status, &error_body(status, &message)),
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
            out.emit(
                "response.output_text.delta",
                with(&at, "delta", json!(chunk)),
            );
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

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::super::test_client::post;
    use super::super::{ModelServer, Reply, Script};

    fn ask(stream: bool, prompt: &str) -> Value {
        json!({
            "model": "gpt-5.5",
            "stream": stream,
            "tools": [{"type": "function", "name": "exec_command"}],
            "input": [
                {"type": "message", "role": "user",
                 "content": [{"type": "input_text", "text": "<environment_context/>"}]},
                {"type": "message", "role": "user",
                 "content": [{"type": "input_text", "text": prompt}]},
            ],
        })
    }

    #[tokio::test]
    async fn text_stream_events_in_order_with_sequence_numbers() {
        let script = Script::new().then(Reply::text("codex hello"));
        let server = ModelServer::start(script).await.unwrap();
        let events = post(server.addr(), "/v1/responses", &ask(true, "hi"))
            .await
            .sse();
        let names: Vec<&str> = events.iter().filter_map(|e| e.event.as_deref()).collect();
        assert_eq!(
            names,
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.completed"
            ]
        );
        for (i, event) in events.iter().enumerate() {
            let data = event.json();
            assert_eq!(data["type"], event.event.as_deref().unwrap());
            assert_eq!(data["sequence_number"], i);
        }
        let text: String = events
            .iter()
            .filter(|e| e.event.as_deref() == Some("response.output_text.delta"))
            .map(|e| e.json()["delta"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(text, "codex hello");
        let done = events[9].json();
        assert_eq!(done["item"]["content"][0]["text"], "codex hello");
        let completed = events[10].json();
        assert_eq!(completed["response"]["status"], "completed");
        assert_eq!(completed["response"]["model"], "gpt-5.5");
        assert!(
            completed["response"]["usage"]["output_tokens"]
                .as_u64()
                .unwrap()
                > 0
        );
    }

    #[tokio::test]
    async fn function_call_item_and_marker_round_trip() {
        let server = ModelServer::start(Script::new()).await.unwrap();
        let events = post(server.addr(), "/v1/responses", &ask(true, "[tool] go"))
            .await
            .sse();
        let names: Vec<&str> = events.iter().filter_map(|e| e.event.as_deref()).collect();
        assert_eq!(names[2], "response.output_item.added");
        assert!(names.contains(&"response.function_call_arguments.delta"));
        assert_eq!(
            names[names.len() - 3],
            "response.function_call_arguments.done"
        );
        assert_eq!(names[names.len() - 2], "response.output_item.done");
        let item = events[events.len() - 2].json()["item"].clone();
        assert_eq!(item["type"], "function_call");
        assert_eq!(item["name"], "exec_command");
        let arguments: Value = serde_json::from_str(item["arguments"].as_str().unwrap()).unwrap();
        assert_eq!(arguments, json!({"cmd": "echo fake-tool-ok"}));

        let mut follow_up = ask(false, "[tool] go");
        let input = follow_up["input"].as_array_mut().unwrap();
        input.push(item.clone());
        input.push(
            json!({"type": "function_call_output", "call_id": item["call_id"],
                          "output": "fake-tool-ok\n"}),
        );
        let answer = post(server.addr(), "/v1/responses", &follow_up)
            .await
            .json();
        assert_eq!(answer["status"], "completed");
        assert_eq!(
            answer["output"][0]["content"][0]["text"],
            "Tool said: fake-tool-ok\n"
        );
    }

    #[tokio::test]
    async fn error_shape_and_turn_count() {
        let server = ModelServer::start(Script::new().then(Reply::error(400, "bad")))
            .await
            .unwrap();
        let error = post(server.addr(), "/v1/responses", &ask(true, "x")).await;
        assert_eq!(error.status, 400);
        assert_eq!(error.json()["error"]["message"], "bad");
        assert_eq!(error.json()["error"]["type"], "invalid_request_error");

        let mut second = ask(false, "and again");
        let input = second["input"].as_array_mut().unwrap();
        input.insert(
            1,
            json!({"type": "message", "role": "user",
                               "content": [{"type": "input_text", "text": "first"}]}),
        );
        let answer = post(server.addr(), "/v1/responses", &second).await.json();
        let text = answer["output"][0]["content"][0]["text"].as_str().unwrap();
        assert!(text.contains("(turn 2)"), "{text}");
    }
}

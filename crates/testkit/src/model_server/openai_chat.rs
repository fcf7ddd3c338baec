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
            deltas.extend(split(&arguments, ARGUMENT_PIECES).into_iter().map(
                |piece| json!({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}),
            ));
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::{json, Value};

    use tokio::io::AsyncReadExt;

    use super::super::test_client::{post, send, SseEvent};
    use super::super::{ModelServer, Reply, Script};

    fn ask(stream: bool, include_usage: bool) -> Value {
        json!({
            "model": "local-model",
            "stream": stream,
            "stream_options": {"include_usage": include_usage},
            "tools": [{"type": "function", "function": {"name": "bash", "parameters": {}}}],
            "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"}],
        })
    }

    /// Chunks before `[DONE]`, checking that `[DONE]` is the last frame and that no frame
    /// has an `event:` line.
    fn chunks(events: &[SseEvent]) -> Vec<Value> {
        assert_eq!(events.last().unwrap().data, "[DONE]");
        assert!(events.iter().all(|e| e.event.is_none()));
        events[..events.len() - 1]
            .iter()
            .map(SseEvent::json)
            .collect()
    }

    #[tokio::test]
    async fn text_stream_with_usage_chunk_and_done() {
        let script = Script::new().then(Reply::text("chat reply text"));
        let server = ModelServer::start(script).await.unwrap();
        let chunks = chunks(
            &post(server.addr(), "/v1/chat/completions", &ask(true, true))
                .await
                .sse(),
        );
        assert!(chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk"));
        assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
        let text: String = chunks
            .iter()
            .filter_map(|c| {
                c["choices"][0]["delta"]["content"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect();
        assert_eq!(text, "chat reply text");
        let finish = &chunks[chunks.len() - 2];
        assert_eq!(finish["choices"][0]["finish_reason"], "stop");
        let usage = chunks.last().unwrap();
        assert_eq!(usage["choices"], json!([]));
        assert!(usage["usage"]["total_tokens"].as_u64().unwrap() > 0);
    }

    #[tokio::test]
    async fn tool_call_arguments_are_split_and_reassemble() {
        let args = json!({"command": "printf 'a b c'", "timeout": 30});
        let script = Script::new().then(Reply::tool_call("bash", args.clone()));
        let server = ModelServer::start(script).await.unwrap();
        let chunks = chunks(
            &post(server.addr(), "/v1/chat/completions", &ask(true, false))
                .await
                .sse(),
        );
        // Without include_usage the finish chunk is the last one.
        assert_eq!(
            chunks.last().unwrap()["choices"][0]["finish_reason"],
            "tool_calls"
        );
        assert!(chunks.iter().all(|c| c.get("usage").is_none()));

        // Reassemble the way clients must: by tool-call index.
        let mut calls: BTreeMap<u64, (String, String, String)> = BTreeMap::new();
        let mut argument_chunks = 0;
        for chunk in &chunks {
            for call in chunk["choices"][0]["delta"]["tool_calls"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let entry = calls.entry(call["index"].as_u64().unwrap()).or_default();
                if let Some(id) = call["id"].as_str() {
                    entry.0 = id.to_owned();
                }
                if let Some(name) = call["function"]["name"].as_str() {
                    entry.1 = name.to_owned();
                }
                if let Some(piece) = call["function"]["arguments"].as_str() {
                    if !piece.is_empty() {
                        argument_chunks += 1;
                    }
                    entry.2.push_str(piece);
                }
            }
        }
        assert!(argument_chunks >= 3, "arguments must be split");
        let (id, name, arguments) = &calls[&0];
        assert!(id.starts_with("call_"));
        assert_eq!(name, "bash");
        assert_eq!(serde_json::from_str::<Value>(arguments).unwrap(), args);
    }

    #[tokio::test]
    async fn faults_break_the_stream_part_way() {
        use super::super::Fault;
        let script = Script::new()
            .then(Reply::faulty(Reply::text("cut short"), Fault::CutAfter(2)))
            .then(Reply::faulty(
                Reply::text("garbled"),
                Fault::MalformedAfter(1),
            ));
        let server = ModelServer::start(script).await.unwrap();
        // A cut body is not a complete HTTP response: read the raw bytes.
        let mut stream = send(
            server.addr(),
            "POST",
            "/v1/chat/completions",
            Some(&ask(true, true)),
        )
        .await;
        let mut raw = Vec::new();
        let _ = stream.read_to_end(&mut raw).await;
        let raw = String::from_utf8_lossy(&raw);
        assert!(raw.starts_with("HTTP/1.1 200"));
        assert_eq!(raw.matches("data: ").count(), 2, "{raw}");
        assert!(!raw.contains("[DONE]"));
        assert!(
            !raw.ends_with("0\r\n\r\n"),
            "the chunked body must not end cleanly"
        );

        let garbled = post(server.addr(), "/v1/chat/completions", &ask(true, true))
            .await
            .sse();
        assert_eq!(garbled[1].data, "{not json");
        assert_eq!(garbled.last().unwrap().data, "[DONE]");
    }

    #[tokio::test]
    async fn plain_completion_error_and_marker_round_trip() {
        let script = Script::new().then(Reply::error(500, "boom"));
        let server = ModelServer::start(script).await.unwrap();
        let error = post(server.addr(), "/v1/chat/completions", &ask(false, false)).await;
        assert_eq!(error.status, 500);
        assert_eq!(error.json()["error"]["type"], "server_error");

        let mut tool = ask(false, false);
        tool["messages"][1]["content"] = json!("[tool] run it");
        let call = post(server.addr(), "/v1/chat/completions", &tool)
            .await
            .json();
        assert_eq!(call["choices"][0]["finish_reason"], "tool_calls");
        let message = call["choices"][0]["message"].clone();
        let function = &message["tool_calls"][0]["function"];
        assert_eq!(function["name"], "bash");
        let arguments: Value =
            serde_json::from_str(function["arguments"].as_str().unwrap()).unwrap();
        assert_eq!(arguments["command"], "echo fake-tool-ok");

        let messages = tool["messages"].as_array_mut().unwrap();
        messages.push(message.clone());
        messages.push(
            json!({"role": "tool", "tool_call_id": message["tool_calls"][0]["id"],
                             "content": "fake-tool-ok"}),
        );
        let answer = post(server.addr(), "/v1/chat/completions", &tool)
            .await
            .json();
        assert_eq!(answer["object"], "chat.completion");
        assert_eq!(
            answer["choices"][0]["message"]["content"],
            "Tool said: fake-tool-ok"
        );
        assert_eq!(answer["choices"][0]["finish_reason"], "stop");
    }
}

//! Gemini API (`POST /v1beta/models/{model}:{method}`), as gemini-cli calls it.
//!
//! `streamGenerateContent?alt=sse` streams `data:` frames, each a whole
//! `GenerateContentResponse` holding one chunk; the last one adds `finishReason` and
//! `usageMetadata`. Without `alt=sse` the same objects come as one JSON array, streamed
//! piece by piece. `generateContent` answers one object; `countTokens` and the embedding
//! methods answer fixed JSON.

use axum::response::Response;
use serde_json::{json, Value};

use super::plan::Plan;
use super::sse::{self, StreamCtx, TimedBody, EVENT_STREAM, JSON};

/// The Gemini methods this server knows (the part of the path after the colon).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Method {
    StreamGenerateContent,
    GenerateContent,
    CountTokens,
    EmbedContent,
    BatchEmbedContents,
}

impl Method {
    pub(super) fn parse(name: &str) -> Option<Method> {
        Some(match name {
            "streamGenerateContent" => Method::StreamGenerateContent,
            "generateContent" => Method::GenerateContent,
            "countTokens" => Method::CountTokens,
            "embedContent" => Method::EmbedContent,
            "batchEmbedContents" => Method::BatchEmbedContents,
            _ => return None,
        })
    }
}

/// Answers for methods that never take a scripted reply: token counts and embeddings.
pub(super) fn auxiliary(method: Method, body: &Value) -> Option<Response> {
    match method {
        Method::CountTokens => Some(sse::json(200, &json!({"totalTokens": 42}))),
        Method::EmbedContent => Some(sse::json(200, &json!({"embedding": embedding()}))),
        Method::BatchEmbedContents => {
            let count = body
                .get("requests")
                .and_then(Value::as_array)
                .map_or(1, Vec::len);
            let embeddings = vec![embedding(); count];
            Some(sse::json(200, &json!({"embeddings": embeddings})))
        }
        Method::StreamGenerateContent | Method::GenerateContent => None,
    }
}

/// The answer to a JSON-mode generation, which must not take a scripted reply either:
/// gemini-cli's model router and next-speaker check ask for
/// `responseMimeType: application/json` around the real turn. One blob satisfies both
/// schemas.
pub(super) fn side_call(body: &Value) -> Option<Plan> {
    json_mode(body).then(|| {
        let blob = json!({
            "reasoning": "fake",
            "model_choice": "flash",
            "next_speaker": "user",
            "complexity_reasoning": "fake",
            "complexity_score": 1,
        });
        Plan::Text {
            chunks: vec![blob.to_string()],
            delay: Default::default(),
        }
    })
}

fn json_mode(body: &Value) -> bool {
    let config = body.get("generationConfig");
    let field = |key: &str| config.and_then(|c| c.get(key));
    field("responseMimeType").and_then(Value::as_str) == Some("application/json")
        || field("responseJsonSchema").is_some()
        || field("responseSchema").is_some()
}

fn embedding() -> Value {
    json!({"values": vec![0.0_f64; 8]})
}

/// Renders a model turn. `sse` is whether the query asked for `alt=sse`.
pub(super) fn respond(
    plan: Plan,
    model: &str,
    method: Method,
    sse: bool,
    ctx: &StreamCtx,
) -> Response {
    let stream = method == Method::StreamGenerateContent;
    let model = json!(model);
    let (parts, delay) = match plan {
        Plan::Error { status, message } => return sse::json(status, &error_body(status, &message)),
        Plan::Hang => return sse::hang(stream && sse, ctx),
        Plan::Text { chunks, delay } => {
            let parts: Vec<Value> = chunks.into_iter().map(|t| json!({"text": t})).collect();
            (parts, delay)
        }
        Plan::ToolCall { name, arguments } => {
            let part = json!({"functionCall": {"name": name, "args": arguments}});
            (vec![part], Default::default())
        }
    };
    if !stream {
        // One response with all text joined into a single part, as the real API does.
        let merged = merge_text(parts);
        return sse::json(200, &response(merged, true, &model));
    }
    let count = parts.len();
    let mut out = TimedBody::new();
    if !sse {
        out.raw("[".into());
    }
    for (i, part) in parts.into_iter().enumerate() {
        let last = i + 1 == count;
        let chunk = response(vec![part], last, &model);
        if sse {
            out.data(&chunk);
        } else {
            let separator = if i == 0 { "" } else { ",\n" };
            out.raw(format!("{separator}{chunk}"));
        }
        out.pause(delay);
    }
    if !sse {
        out.raw("]".into());
    }
    out.respond(if sse { EVENT_STREAM } else { JSON }, ctx)
}

/// Joins consecutive text parts; function calls stay separate parts.
fn merge_text(parts: Vec<Value>) -> Vec<Value> {
    let mut merged: Vec<Value> = Vec::new();
    for part in parts {
        let prev_text = merged
            .last()
            .and_then(|p| p.get("text"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        match (prev_text, part.get("text").and_then(Value::as_str)) {
            (Some(prev), Some(text)) => {
                *merged.last_mut().expect("has a last part") = json!({"text": prev + text});
            }
            _ => merged.push(part),
        }
    }
    merged
}

fn response(parts: Vec<Value>, last: bool, model: &Value) -> Value {
    let mut candidate = json!({"content": {"parts": parts, "role": "model"}, "index": 0});
    let mut out = json!({"candidates": [], "modelVersion": model});
    if last {
        candidate["finishReason"] = json!("STOP");
        out["usageMetadata"] = json!({
            "promptTokenCount": 12,
            "candidatesTokenCount": 5,
            "totalTokenCount": 17,
        });
    }
    out["candidates"] = json!([candidate]);
    out
}

/// Google's error shape: HTTP code, message and the canonical status name.
pub(super) fn error_body(status: u16, message: &str) -> Value {
    let name = match status {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ABORTED",
        429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        501 => "UNIMPLEMENTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "INTERNAL",
    };
    json!({"error": {"code": status, "message": message, "status": name}})
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::super::test_client::post;
    use super::super::{ModelServer, Reply, Script};

    const STREAM: &str = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse";
    const GENERATE: &str = "/v1beta/models/gemini-2.5-flash:generateContent";

    fn ask(prompt: &str) -> Value {
        json!({
            "contents": [{"role": "user", "parts": [{"text": prompt}]}],
            "tools": [{"functionDeclarations": [{"name": "run_shell_command"}]}],
            "generationConfig": {"temperature": 0},
        })
    }

    #[tokio::test]
    async fn sse_stream_text_with_finish_and_usage_on_the_last_chunk() {
        let script = Script::new().then(Reply::text("gemini says hi"));
        let server = ModelServer::start(script).await.unwrap();
        let resp = post(server.addr(), STREAM, &ask("hi")).await;
        assert_eq!(resp.header("content-type"), Some("text/event-stream"));
        let chunks: Vec<Value> = resp.sse().iter().map(|e| e.json()).collect();
        assert_eq!(chunks.len(), 3);
        let text: String = chunks
            .iter()
            .map(|c| {
                c["candidates"][0]["content"]["parts"][0]["text"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(text, "gemini says hi");
        let last = chunks.last().unwrap();
        assert_eq!(last["candidates"][0]["finishReason"], "STOP");
        assert_eq!(last["candidates"][0]["content"]["role"], "model");
        assert_eq!(last["usageMetadata"]["totalTokenCount"], 17);
        assert_eq!(last["modelVersion"], "gemini-2.5-flash");
        assert!(chunks[0]["candidates"][0].get("finishReason").is_none());
        assert_eq!(server.requests()[0].query.as_deref(), Some("alt=sse"));
    }

    #[tokio::test]
    async fn function_call_and_round_trip() {
        let server = ModelServer::start(Script::new()).await.unwrap();
        let chunks: Vec<Value> = post(server.addr(), STREAM, &ask("[tool] run it"))
            .await
            .sse()
            .iter()
            .map(|e| e.json())
            .collect();
        assert_eq!(chunks.len(), 1);
        let part = &chunks[0]["candidates"][0]["content"]["parts"][0];
        assert_eq!(
            part["functionCall"],
            json!({"name": "run_shell_command", "args": {"command": "echo fake-tool-ok"}})
        );

        let mut follow_up = ask("[tool] run it");
        let contents = follow_up["contents"].as_array_mut().unwrap();
        contents.push(json!({"role": "model", "parts": [part]}));
        contents.push(json!({"role": "user", "parts": [{"functionResponse": {
            "name": "run_shell_command", "response": {"output": "fake-tool-ok"}}}]}));
        let answer = post(server.addr(), GENERATE, &follow_up).await.json();
        assert_eq!(
            answer["candidates"][0]["content"]["parts"],
            json!([{"text": "Tool said: fake-tool-ok"}])
        );
    }

    #[tokio::test]
    async fn side_calls_do_not_take_scripted_replies() {
        let script = Script::new().then(Reply::text("the real turn"));
        let server = ModelServer::start(script).await.unwrap();
        let count = post(server.addr(), "/v1beta/models/m:countTokens", &ask("x")).await;
        assert_eq!(count.json()["totalTokens"], 42);

        // gemini-cli's router asks for JSON before the real turn.
        let mut router = ask("x");
        router["generationConfig"]["responseMimeType"] = json!("application/json");
        let routed = post(
            server.addr(),
            "/v1beta/models/gemini-3.5-flash-lite:generateContent",
            &router,
        )
        .await
        .json();
        let blob = routed["candidates"][0]["content"]["parts"][0]["text"]
            .as_str()
            .unwrap();
        let blob: Value = serde_json::from_str(blob).unwrap();
        assert_eq!(blob["next_speaker"], "user");
        assert_eq!(server.remaining(), 1);

        let answer = post(server.addr(), GENERATE, &ask("x")).await.json();
        assert_eq!(
            answer["candidates"][0]["content"]["parts"][0]["text"],
            "the real turn"
        );
    }

    #[tokio::test]
    async fn error_shape_and_json_array_stream_without_alt_sse() {
        let script = Script::new()
            .then(Reply::error(429, "quota"))
            .then(Reply::text("array form"));
        let server = ModelServer::start(script).await.unwrap();
        let error = post(server.addr(), STREAM, &ask("x")).await;
        assert_eq!(error.status, 429);
        assert_eq!(
            error.json(),
            json!({"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}})
        );

        let path = "/v1beta/models/gemini-2.5-flash:streamGenerateContent";
        let array = post(server.addr(), path, &ask("x")).await;
        assert_eq!(array.header("content-type"), Some("application/json"));
        let chunks = array.json();
        let text: String = chunks
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                c["candidates"][0]["content"]["parts"][0]["text"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(text, "array form");
    }
}

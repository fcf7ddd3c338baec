//! One streamed Chat Completions call: POST, then the SSE body, chunk by chunk.
//!
//! reqwest does HTTP (rustls, no native TLS); `eventsource-stream` parses the event stream.
//! Every failure becomes a [`LoopError`] with what the client needs to know: an error status
//! with a short body, a connection that cannot be made, a stream that goes silent for too
//! long, is cut before the model finished, or carries a line that is not JSON.

use std::time::Duration;

use eventsource_stream::Eventsource;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use serde_json::Value;

use super::endpoint::{ApiKey, BaseUrl};
use super::error::{short, LoopError};

/// Time to open a connection to the model API.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// The most of an error body read.
const ERROR_BODY_MAX: usize = 16 * 1024;

/// A client for one endpoint.
#[derive(Debug, Clone)]
pub struct ChatClient {
    http: reqwest::Client,
    url: String,
    key: Option<ApiKey>,
    /// Silence longer than this, before the headers or between chunks, fails the call.
    idle_timeout: Duration,
}

/// One item of a stream, or why it stopped.
pub type ItemResult = Result<StreamItem, LoopError>;

/// What a stream yields: a parsed chunk, or the end of the stream (`[DONE]`).
#[derive(Debug, PartialEq)]
pub enum StreamItem {
    Chunk(Value),
    Done,
}

/// The HTTP client an agent keeps for all its runs. Building one loads TLS roots and starts a
/// connection pool, so a client per run would pay that on every prompt and never reuse a
/// connection to the model API.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .build()
        // Only a broken TLS backend fails here, and rustls is compiled in.
        .expect("the HTTP client builds")
}

impl ChatClient {
    /// `http` is shared (a clone of the agent's [`http_client`]).
    pub fn new(
        http: reqwest::Client,
        base: &BaseUrl,
        key: Option<ApiKey>,
        idle_timeout: Duration,
    ) -> ChatClient {
        ChatClient {
            http,
            url: base.chat_completions(),
            key,
            idle_timeout,
        }
    }

    /// Sends the request; on a 2xx answer, returns its chunks.
    pub async fn stream(&self, body: &Value) -> Result<BoxStream<'static, ItemResult>, LoopError> {
        let mut request = self
            .http
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .body(body.to_string());
        if let Some(key) = &self.key {
            request = request.bearer_auth(key.expose());
        }
        let response = tokio::time::timeout(self.idle_timeout, request.send())
            .await
            .map_err(|_| self.timeout())?
            .map_err(|e| LoopError::Connect {
                url: self.url.clone(),
                message: error_chain(&e),
            })?;
        let status = response.status();
        if !status.is_success() {
            let body = read_error_body(response).await;
            return Err(classify(&self.url, status.as_u16(), &body));
        }
        let is_json = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if is_json {
            // A server that ignores `stream: true` answers with one whole completion.
            let body = tokio::time::timeout(self.idle_timeout, response.bytes())
                .await
                .map_err(|_| self.timeout())?
                .map_err(|e| LoopError::StreamCut(short(&error_chain(&e))))?;
            let chunk = whole_completion_as_chunk(&body)?;
            return Ok(futures_util::stream::iter([Ok(chunk), Ok(StreamItem::Done)]).boxed());
        }
        let idle = self.idle_timeout;
        let events = response.bytes_stream().eventsource();
        Ok(futures_util::stream::unfold(
            (Box::pin(events), false),
            move |(mut events, ended)| async move {
                if ended {
                    return None;
                }
                let item = match tokio::time::timeout(idle, events.next()).await {
                    Err(_) => Err(LoopError::Timeout {
                        secs: idle.as_secs(),
                    }),
                    // The body ended: the caller decides whether the answer was complete.
                    Ok(None) => return None,
                    Ok(Some(Err(e))) => Err(LoopError::StreamCut(short(&e.to_string()))),
                    Ok(Some(Ok(event))) => parse_event(&event.data),
                };
                let ended = !matches!(item, Ok(StreamItem::Chunk(_)));
                Some((item, (events, ended)))
            },
        )
        .boxed())
    }

    fn timeout(&self) -> LoopError {
        LoopError::Timeout {
            secs: self.idle_timeout.as_secs(),
        }
    }
}

/// A non-streamed `chat.completion` as one streamed chunk: its message becomes the delta.
fn whole_completion_as_chunk(body: &[u8]) -> Result<StreamItem, LoopError> {
    let text = String::from_utf8_lossy(body);
    let value: Value =
        serde_json::from_slice(body).map_err(|_| LoopError::Malformed(short(&text)))?;
    let choice = value
        .pointer("/choices/0")
        .ok_or_else(|| LoopError::Malformed(short(&text)))?;
    let mut chunk = serde_json::json!({"choices": [{
        "index": 0,
        "delta": choice.get("message").cloned().unwrap_or(Value::Null),
        "finish_reason": choice.get("finish_reason").cloned().unwrap_or(Value::Null),
    }]});
    if let Some(usage) = value.get("usage") {
        chunk["usage"] = usage.clone();
    }
    Ok(StreamItem::Chunk(chunk))
}

/// One event's data: `[DONE]`, a chunk, or an error object sent inside the stream.
fn parse_event(data: &str) -> Result<StreamItem, LoopError> {
    let data = data.trim();
    if data == "[DONE]" {
        return Ok(StreamItem::Done);
    }
    let value: Value = serde_json::from_str(data).map_err(|_| LoopError::Malformed(short(data)))?;
    if let Some(error) = value.get("error").filter(|e| !e.is_null()) {
        let message = error
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| error.to_string());
        return Err(LoopError::InStream(short(&message)));
    }
    if !value.is_object() {
        return Err(LoopError::Malformed(short(data)));
    }
    Ok(StreamItem::Chunk(value))
}

/// An error status as the client should see it. A 400 (or 413) that speaks of the context
/// length means the conversation has grown too long: that one gets its own message.
pub fn classify(url: &str, status: u16, body: &str) -> LoopError {
    let lower = body.to_ascii_lowercase();
    let about_context = lower.contains("context length")
        || lower.contains("context_length")
        || lower.contains("context window")
        || lower.contains("maximum context")
        || lower.contains("too many tokens")
        || lower.contains("prompt is too long");
    if (status == 400 || status == 413) && about_context {
        return LoopError::ContextTooLong {
            status,
            body: short(body),
        };
    }
    LoopError::Status {
        url: url.to_owned(),
        status,
        body: short(body),
    }
}

async fn read_error_body(mut response: reqwest::Response) -> String {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        body.extend_from_slice(&chunk);
        if body.len() >= ERROR_BODY_MAX {
            body.truncate(ERROR_BODY_MAX);
            break;
        }
    }
    String::from_utf8_lossy(&body).into_owned()
}

/// reqwest's errors hide the useful part (connection refused, DNS) in their sources.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_parse_into_chunks_done_or_errors() {
        assert_eq!(parse_event("[DONE]").unwrap(), StreamItem::Done);
        assert!(matches!(
            parse_event("{\"choices\":[]}").unwrap(),
            StreamItem::Chunk(_)
        ));
        assert!(matches!(
            parse_event("{not json"),
            Err(LoopError::Malformed(_))
        ));
        assert!(matches!(parse_event("42"), Err(LoopError::Malformed(_))));
        let err =
            parse_event("{\"error\":{\"message\":\"Rate limited\",\"code\":429}}").unwrap_err();
        assert_eq!(
            err.to_string(),
            "the model API reported an error mid-stream: Rate limited"
        );
    }

    #[test]
    fn a_whole_completion_becomes_one_chunk() {
        let body = br#"{"choices":[{"index":0,"finish_reason":"tool_calls","message":{"role":"assistant","content":null,
            "tool_calls":[{"id":"c1","type":"function","function":{"name":"LS","arguments":"{}"}}]}}],
            "usage":{"prompt_tokens":3,"completion_tokens":1}}"#;
        let StreamItem::Chunk(chunk) = whole_completion_as_chunk(body).unwrap() else {
            panic!("not a chunk")
        };
        let mut assembler = super::super::delta::Assembler::default();
        assembler.push(&chunk);
        assert!(assembler.finished());
        let answer = assembler.finish();
        assert_eq!(answer.tool_calls[0].id, "c1");
        assert_eq!(answer.usage.unwrap().prompt_tokens, 3);
        assert!(whole_completion_as_chunk(b"{}").is_err());
    }

    #[test]
    fn context_length_errors_are_recognised() {
        let body = r#"{"error":{"message":"This model's maximum context length is 8192 tokens"}}"#;
        assert!(matches!(
            classify("u", 400, body),
            LoopError::ContextTooLong { status: 400, .. }
        ));
        assert!(matches!(
            classify("u", 500, body),
            LoopError::Status { status: 500, .. }
        ));
        let other = classify(
            "http://h/v1/chat/completions",
            401,
            "{\"error\":\"bad key\"}",
        );
        assert_eq!(
            other.to_string(),
            "the model API at http://h/v1/chat/completions answered HTTP 401: {\"error\":\"bad key\"}"
        );
    }
}

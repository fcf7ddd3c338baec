//! A scripted model API server for tests that drive real agent CLIs (claude, codex,
//! gemini) or our own agent loop against 127.0.0.1.
//!
//! One server speaks four wire APIs at once — Anthropic Messages, OpenAI Responses, OpenAI
//! Chat Completions and Gemini — and answers each generation request with the next
//! [`Reply`] of its [`Script`]. With an empty queue it answers from markers in the prompt
//! (`[tool]`, `[error]`, `[slow]`), like the reference fake in `/work/shared/tools`. Every
//! request, including ones it does not understand (404), is recorded for assertions.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use switchboard_testkit::model_server::{ModelServer, Reply, Script};
//! let server = ModelServer::start(Script::new().then(Reply::text("hello"))).await?;
//! // ANTHROPIC_BASE_URL = server.url(), or base_url = format!("{}/v1", server.url()) …
//! assert!(server.requests().is_empty());
//! # Ok(()) }
//! ```
//!
//! Modules: `script` (the queue), `plan` (reply or marker → neutral plan), `conversation`
//! (reading request bodies), `route` (path → API), one renderer per API, and `sse` (JSON
//! and timed streaming bodies).

mod anthropic;
mod conversation;
mod gemini;
mod openai_chat;
mod openai_responses;
mod plan;
mod route;
mod script;
mod sse;
#[cfg(test)]
mod test_client;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::response::Response;
use axum::Router;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use plan::Plan;
use route::Route;
use sse::StreamCtx;

pub use script::{Fault, Reply, Script};

/// Bodies are read whole before answering; CLI requests with long histories and dozens of
/// tool schemas are far above axum's 2 MB default, so allow much more.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// One request as the server saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    pub method: String,
    /// Path without the query, e.g. `/v1/messages`.
    pub path: String,
    /// Raw query string, e.g. `beta=true` or `alt=sse`.
    pub query: Option<String>,
    /// Header names are lower-case; repeated headers are joined with `, `.
    pub headers: BTreeMap<String, String>,
    /// The body parsed as JSON, or `Null` when empty or not JSON.
    pub body: Value,
}

impl RecordedRequest {
    /// A header by (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// The running server. Dropping it stops accepting connections and ends slow and hanging
/// streams.
pub struct ModelServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

struct Shared {
    script: Mutex<Script>,
    requests: Mutex<Vec<RecordedRequest>>,
    streams: StreamCtx,
}

impl ModelServer {
    /// Binds 127.0.0.1 on a free port and serves `script`.
    pub async fn start(script: Script) -> anyhow::Result<ModelServer> {
        Self::start_on(0, script).await
    }

    /// Binds 127.0.0.1:`port` (0 picks a free one) and serves `script`.
    pub async fn start_on(port: u16, script: Script) -> anyhow::Result<ModelServer> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))
            .await
            .with_context(|| format!("binding 127.0.0.1:{port}"))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            script: Mutex::new(script),
            requests: Mutex::new(Vec::new()),
            streams: StreamCtx::default(),
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let shutdown = shared.streams.shutdown.clone();
        tokio::spawn(async move {
            // Errors here only mean the listener died; tests see that as refused requests.
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown.cancelled_owned())
                .await;
        });
        Ok(ModelServer { addr, shared })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash or `/v1`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request seen so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    /// Appends a reply to the queue.
    pub fn push(&self, reply: Reply) {
        lock(&self.shared.script).push(reply);
    }

    /// How many scripted replies are still queued.
    pub fn remaining(&self) -> usize {
        lock(&self.shared.script).len()
    }

    /// How many streamed responses the client abandoned before their end (what an abort
    /// looks like from the server side).
    pub fn disconnects(&self) -> usize {
        self.shared.streams.disconnects.load(Ordering::Relaxed)
    }
}

impl Drop for ModelServer {
    fn drop(&mut self) {
        self.shared.streams.shutdown.cancel();
    }
}

/// A poisoned lock only means a test thread panicked; the data is still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The single handler: record, route, answer.
async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_BODY)
        .await
        .unwrap_or_default();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    lock(&shared.requests).push(record(&parts, body.clone()));
    let route = Route::parse(&parts.method, parts.uri.path());
    let mut fault = None;
    let response = shared.answer(route, &parts, &body, &mut fault);
    match fault {
        Some(fault) => sse::break_body(response, fault),
        None => response,
    }
}

fn record(parts: &Parts, body: Value) -> RecordedRequest {
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in &parts.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        headers
            .entry(name.as_str().to_owned())
            .and_modify(|joined| {
                joined.push_str(", ");
                joined.push_str(&value);
            })
            .or_insert(value);
    }
    RecordedRequest {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers,
        body,
    }
}

impl Shared {
    /// The answer to one request; `fault` is set when the reply's body must break.
    fn answer(
        &self,
        route: Route,
        parts: &Parts,
        body: &Value,
        fault: &mut Option<Fault>,
    ) -> Response {
        let streams = &self.streams;
        match route {
            Route::Probe => sse::json(200, &json!({})),
            Route::Models => models(),
            Route::AnthropicCountTokens => anthropic::count_tokens(),
            Route::AnthropicMessages => {
                anthropic::respond(self.plan(body, "anthropic", fault), body, streams)
            }
            Route::Responses => {
                openai_responses::respond(self.plan(body, "openai-responses", fault), body, streams)
            }
            Route::ChatCompletions => {
                openai_chat::respond(self.plan(body, "openai-chat", fault), body, streams)
            }
            Route::Gemini { model, method } => {
                if let Some(response) = gemini::auxiliary(method, body) {
                    return response;
                }
                let plan =
                    gemini::side_call(body).unwrap_or_else(|| self.plan(body, "gemini", fault));
                let alt_sse = parts
                    .uri
                    .query()
                    .is_some_and(|q| q.split('&').any(|pair| pair == "alt=sse"));
                gemini::respond(plan, &model, method, alt_sse, streams)
            }
            Route::Unknown => sse::json(
                404,
                &json!({"error": {
                    "type": "not_found_error",
                    "code": 404,
                    "message": format!("scripted model server: no route for {} {}",
                                       parts.method, parts.uri.path()),
                }}),
            ),
        }
    }

    /// The next scripted reply, or the marker fallback when the queue is empty.
    fn plan(&self, body: &Value, api: &str, fault: &mut Option<Fault>) -> Plan {
        let next = lock(&self.script).next();
        match next {
            Some(Reply::Faulty { reply, fault: f }) => {
                *fault = Some(f);
                Plan::from_reply(*reply)
            }
            Some(reply) => Plan::from_reply(reply),
            None => Plan::fallback(&conversation::read(body), api),
        }
    }
}

/// `GET …/models`: one model, in both the OpenAI (`data`) and Gemini (`models`) shapes.
fn models() -> Response {
    sse::json(
        200,
        &json!({
            "object": "list",
            "data": [{"id": "fake-model", "object": "model", "created": 0, "owned_by": "fake"}],
            "models": [],
        }),
    )
}

/// A fresh id with an API's usual prefix (`msg_`, `toolu_`, `resp_`, `call_` …).
fn new_id(prefix: &str) -> String {
    let hex = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}{}", &hex[..24])
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Whether the body asked for a streamed answer (`"stream": true`).
fn wants_stream(body: &Value) -> bool {
    body.get("stream").and_then(Value::as_bool).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use serde_json::json;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use tokio::net::TcpStream;

    use super::test_client::{parse_sse, post, read_head, request, send};
    use super::*;

    /// Polls `check` for up to a second; abandoned streams are noticed asynchronously.
    async fn eventually(check: impl Fn() -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(1);
        while Instant::now() < deadline {
            if check() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        check()
    }

    #[tokio::test]
    async fn probe_answers_and_unknown_paths_are_404_and_recorded() {
        let server = ModelServer::start(Script::new()).await.unwrap();
        assert!(server.url().starts_with("http://127.0.0.1:"));
        assert_eq!(request(server.addr(), "HEAD", "/", None).await.status, 200);
        assert_eq!(request(server.addr(), "GET", "/", None).await.status, 200);

        let body = json!({"q": 1});
        let missing = post(server.addr(), "/v1/embeddings?x=1", &body).await;
        assert_eq!(missing.status, 404);
        assert!(missing.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/v1/embeddings"));

        let seen = server.requests();
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[0].method, "HEAD");
        assert_eq!(seen[2].path, "/v1/embeddings");
        assert_eq!(seen[2].query.as_deref(), Some("x=1"));
        assert_eq!(seen[2].body, body);
        assert_eq!(seen[2].header("X-API-Key"), Some("test-key"));
        assert_eq!(seen[2].headers["content-type"], "application/json");
    }

    #[tokio::test]
    async fn non_json_bodies_are_recorded_as_null() {
        let server = ModelServer::start(Script::new()).await.unwrap();
        let mut stream = TcpStream::connect(server.addr()).await.unwrap();
        stream
            .write_all(
                b"POST /x HTTP/1.1\r\nhost: h\r\ncontent-length: 3\r\nconnection: close\r\n\r\nabc",
            )
            .await
            .unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.unwrap();
        assert!(raw.starts_with(b"HTTP/1.1 404"));
        assert_eq!(server.requests()[0].body, Value::Null);
    }

    #[tokio::test]
    async fn queue_is_consumed_in_order_across_apis_and_side_calls_skip_it() {
        let script = Script::new()
            .then(Reply::text("first"))
            .then(Reply::error(503, "busy"))
            .then(Reply::text("third"));
        let server = ModelServer::start(script).await.unwrap();
        let addr = server.addr();
        let ask = json!({"messages": [{"role": "user", "content": "hi"}]});

        post(addr, "/v1/messages/count_tokens", &ask).await;
        request(addr, "GET", "/v1/models", None).await;
        assert_eq!(server.remaining(), 3);

        let first = post(addr, "/v1/messages", &ask).await;
        assert_eq!(first.json()["content"][0]["text"], "first");
        let second = post(addr, "/v1/chat/completions", &ask).await;
        assert_eq!(second.status, 503);
        server.push(Reply::text("pushed"));
        let third = post(addr, "/v1/responses", &ask).await;
        assert_eq!(third.json()["output"][0]["content"][0]["text"], "third");
        let fourth = post(addr, "/v1/messages", &ask).await;
        assert_eq!(fourth.json()["content"][0]["text"], "pushed");
        assert_eq!(server.remaining(), 0);

        // Empty queue: the marker fallback, counting user turns.
        let fallback = post(addr, "/v1/messages", &ask).await;
        assert_eq!(
            fallback.json()["content"][0]["text"],
            "Hello from fake anthropic! (turn 1) you said: hi"
        );
        assert_eq!(server.requests().len(), 7);
    }

    #[tokio::test]
    async fn hang_sends_headers_only_and_notices_the_client_leaving() {
        let server = ModelServer::start(Script::new().then(Reply::Hang))
            .await
            .unwrap();
        let body = json!({"stream": true, "messages": [{"role": "user", "content": "x"}]});
        let mut stream = send(server.addr(), "POST", "/v1/messages", Some(&body)).await;
        let (status, _) = read_head(&mut stream).await;
        assert_eq!(status, 200);
        let mut buf = [0u8; 64];
        let more = tokio::time::timeout(Duration::from_millis(150), stream.read(&mut buf)).await;
        assert!(more.is_err(), "nothing may follow the headers");
        assert_eq!(server.disconnects(), 0);
        drop(stream);
        assert!(eventually(|| server.disconnects() == 1).await);
    }

    #[tokio::test]
    async fn slow_stream_paces_deltas_and_counts_an_abort() {
        let reply = Reply::slow("start", Duration::from_millis(40), 100);
        let server = ModelServer::start(Script::new().then(reply)).await.unwrap();
        let body = json!({"stream": true, "messages": [{"role": "user", "content": "x"}]});
        let began = Instant::now();
        let mut stream = send(server.addr(), "POST", "/v1/messages", Some(&body)).await;
        let (_, mut seen) = read_head(&mut stream).await;
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&seen).contains("tick1") {
            let n = stream.read(&mut buf).await.unwrap();
            seen.extend_from_slice(&buf[..n]);
        }
        // Two pauses must have passed before the third delta, but not a hundred.
        let elapsed = began.elapsed();
        assert!(elapsed >= Duration::from_millis(80), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
        assert!(String::from_utf8_lossy(&seen).contains("\"text\":\"start\""));
        drop(stream);
        assert!(eventually(|| server.disconnects() == 1).await);
    }

    #[tokio::test]
    async fn dropping_the_server_ends_hanging_streams() {
        let server = ModelServer::start(Script::new().then(Reply::Hang))
            .await
            .unwrap();
        let body = json!({"stream": true, "contents": []});
        let path = "/v1beta/models/m:streamGenerateContent?alt=sse";
        let mut stream = send(server.addr(), "POST", path, Some(&body)).await;
        read_head(&mut stream).await;
        drop(server);
        let mut rest = Vec::new();
        tokio::time::timeout(Duration::from_secs(1), stream.read_to_end(&mut rest))
            .await
            .expect("stream ends once the server is dropped")
            .unwrap();
        assert!(parse_sse(&String::from_utf8_lossy(&rest)).len() <= 1);
    }
}

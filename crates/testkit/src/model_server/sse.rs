//! Response bodies: plain JSON, and timed streams (SSE frames with pauses between them,
//! or headers and then nothing for [`Plan::Hang`](super::plan::Plan::Hang)).
//!
//! Streams are built up front as a list of steps and played back by one small state
//! machine, so each API module only says *what* to send, never how to pace it.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::script::Fault;

pub(super) const EVENT_STREAM: &str = "text/event-stream";
pub(super) const JSON: &str = "application/json";

/// What every streamed body shares with the server: the shutdown signal (so slow and
/// hanging streams end when the server is dropped) and the count of streams the client
/// abandoned mid-way.
#[derive(Debug, Clone, Default)]
pub(super) struct StreamCtx {
    pub shutdown: CancellationToken,
    pub disconnects: Arc<AtomicUsize>,
}

enum Step {
    Send(String),
    Pause(Duration),
    /// Send nothing more until the server shuts down (or the client leaves).
    Hang,
}

/// A body played back step by step. Content type is decided at [`TimedBody::respond`].
#[derive(Default)]
pub(super) struct TimedBody {
    steps: Vec<Step>,
}

impl TimedBody {
    pub(super) fn new() -> Self {
        Self::default()
    }

    /// An SSE frame with an `event:` line (Anthropic and the Responses API name events).
    pub(super) fn event(&mut self, name: &str, data: &Value) {
        self.raw(format!("event: {name}\ndata: {data}\n\n"));
    }

    /// An SSE frame with only a `data:` line (Chat Completions, Gemini).
    pub(super) fn data(&mut self, data: &Value) {
        self.raw(format!("data: {data}\n\n"));
    }

    /// Chat Completions' end-of-stream sentinel.
    pub(super) fn done(&mut self) {
        self.raw("data: [DONE]\n\n".to_owned());
    }

    /// Bytes as they are (used for Gemini's JSON-array stream).
    pub(super) fn raw(&mut self, text: String) {
        self.steps.push(Step::Send(text));
    }

    pub(super) fn pause(&mut self, delay: Duration) {
        if !delay.is_zero() {
            self.steps.push(Step::Pause(delay));
        }
    }

    pub(super) fn hang(&mut self) {
        self.steps.push(Step::Hang);
    }

    pub(super) fn respond(self, content_type: &'static str, ctx: &StreamCtx) -> Response {
        let watch = Watch {
            ctx: ctx.clone(),
            finished: false,
        };
        let stream = futures_util::stream::unfold(
            (self.steps.into_iter(), watch),
            |(mut steps, mut watch)| async move {
                loop {
                    match steps.next() {
                        Some(Step::Send(text)) => {
                            return Some((Ok::<_, Infallible>(text), (steps, watch)))
                        }
                        Some(Step::Pause(delay)) => {
                            tokio::select! {
                                _ = tokio::time::sleep(delay) => {}
                                _ = watch.ctx.shutdown.cancelled() => break,
                            }
                        }
                        Some(Step::Hang) => {
                            watch.ctx.shutdown.cancelled().await;
                            break;
                        }
                        None => break,
                    }
                }
                watch.finish();
                None
            },
        );
        let mut response = Body::from_stream(stream).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        response
    }
}

/// Counts a disconnect when a stream is dropped before it played to the end: hyper drops
/// the body when a write to the client fails or the connection closes.
struct Watch {
    ctx: StreamCtx,
    finished: bool,
}

impl Watch {
    fn finish(&mut self) {
        self.finished = true;
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if !self.finished {
            self.ctx.disconnects.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// How long a cut body pauses before the cut, so the frames before it are flushed.
const CUT_FLUSH: Duration = Duration::from_millis(50);
/// The data of a [`Fault::MalformedAfter`] event.
const MALFORMED_EVENT: &[u8] = b"data: {not json\n\n";

/// Breaks a rendered body as `fault` says. Bodies are sent a frame per chunk (see
/// [`TimedBody`]), so counting chunks counts frames.
pub(super) fn break_body(response: Response, fault: Fault) -> Response {
    let (parts, body) = response.into_parts();
    let after = match fault {
        Fault::CutAfter(n) | Fault::MalformedAfter(n) => n,
    };
    let frames = Box::pin(body.into_data_stream());
    let stream = futures_util::stream::unfold(
        (frames, 0usize, false),
        move |(mut frames, sent, ended)| async move {
            if ended {
                return None;
            }
            if sent == after {
                return Some(match fault {
                    // An error from the body makes hyper drop the connection mid-body. It
                    // writes what it buffered only when the body makes it wait, so wait a
                    // moment first: the frames before the cut must reach the client.
                    Fault::CutAfter(_) => {
                        tokio::time::sleep(CUT_FLUSH).await;
                        (
                            Err(std::io::Error::other("scripted cut")),
                            (frames, sent + 1, true),
                        )
                    }
                    Fault::MalformedAfter(_) => (
                        Ok(Bytes::from_static(MALFORMED_EVENT)),
                        (frames, sent + 1, false),
                    ),
                });
            }
            match frames.next().await {
                Some(Ok(bytes)) => Some((Ok(bytes), (frames, sent + 1, false))),
                Some(Err(e)) => Some((Err(std::io::Error::other(e)), (frames, sent + 1, true))),
                None => None,
            }
        },
    );
    Response::from_parts(parts, Body::from_stream(stream))
}

/// A complete JSON response.
pub(super) fn json(status: u16, body: &Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static(JSON))],
        body.to_string(),
    )
        .into_response()
}

/// Headers, then silence until the client gives up.
pub(super) fn hang(streaming: bool, ctx: &StreamCtx) -> Response {
    let mut body = TimedBody::new();
    body.hang();
    body.respond(if streaming { EVENT_STREAM } else { JSON }, ctx)
}

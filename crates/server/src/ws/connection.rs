//! One WebSocket connection.
//!
//! The reader handles client messages one at a time, in order. Everything the connection
//! sends is written by one writer task ([`super::writer`]): replies and notifications reach
//! it through one bounded queue, together with the requests to follow a session or stop;
//! the frames of the followed sessions it takes from their live fan-outs itself. When the
//! socket is slow the writer waits, the queue fills, the live receivers lag, and they are
//! caught up from the journal later: the server never buffers without bound for a slow
//! client, and the client never silently misses a frame.
//!
//! Generic over the socket's halves so it can be driven without a network in unit tests.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::ws::Message;
use futures_util::{Sink, Stream, StreamExt};
use serde::Serialize;
use switchboard_core::fanout::LiveReceiver;
use switchboard_core::session::RunReply;
use switchboard_core::SessionHandle;
use switchboard_protocol::client::{AgentCommand, ClientMessage, PermissionResponse};
use switchboard_protocol::server::{
    encode_reply, AbortOutcome, ErrorFrame, SessionAbortedNotFound, SessionBusy, BUSY_MESSAGE,
};
use switchboard_protocol::{now_ms, ErrorCode, ProtocolError, Provider, SessionId};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::writer::{self, Following, Outgoing};
use crate::app::AppState;

/// Messages per second, with a burst allowance.
struct TokenBucket {
    tokens: f64,
    burst: f64,
    per_sec: f64,
    refilled: Instant,
}

impl TokenBucket {
    fn new(per_sec: u32, burst: u32) -> Self {
        Self {
            tokens: f64::from(burst),
            burst: f64::from(burst),
            per_sec: f64::from(per_sec),
            refilled: Instant::now(),
        }
    }

    fn take(&mut self) -> bool {
        let now = Instant::now();
        let elapsed = now.duration_since(self.refilled).as_secs_f64();
        self.refilled = now;
        self.tokens = (self.tokens + elapsed * self.per_sec).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

pub async fn serve_connection<W, R>(sink: W, mut stream: R, state: AppState)
where
    W: Sink<Message> + Unpin + Send + 'static,
    R: Stream<Item = Result<Message, axum::Error>> + Unpin + Send,
{
    let (out, queue) = mpsc::channel::<Outgoing>(state.connection_queue_frames.max(1));
    // Every connection hears that the agents' own stores changed outside Switchboard (the
    // seed's broadcast); session list updates, and store changes our own runs made, only
    // after `watch-sessions`.
    let watching = Arc::new(AtomicBool::new(false));
    let notifications = state.api.forward(out.clone(), Arc::clone(&watching));
    // Pings travel beside the queue so a full queue cannot delay them.
    let (ping, pings) = mpsc::channel::<()>(1);
    let following = Following::default();
    let writer = tokio::spawn(writer::run(sink, queue, pings, Arc::clone(&following)));
    let shutdown = state.shutdown.clone();
    let limits = state.limits.clone();
    let mut rate = TokenBucket::new(limits.messages_per_sec, limits.message_burst);
    let mut connection = Connection {
        state,
        out,
        following,
        watching,
    };
    // Liveness: a half-open connection (a laptop lid closed mid-stream) sends nothing, not
    // even pongs; it is dropped after `idle_timeout`, and its sessions carry on.
    let mut last_heard = Instant::now();
    let mut ping_tick = tokio::time::interval(limits.ping_interval);
    ping_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            message = stream.next() => {
                last_heard = Instant::now();
                match message {
                    Some(Ok(Message::Text(text))) => {
                        if rate.take() {
                            connection.on_text(text.as_str()).await;
                        } else {
                            let message = format!(
                                "more than {} messages per second; this one was not handled",
                                limits.messages_per_sec
                            );
                            connection.error(ProtocolError::new(ErrorCode::RateLimited, message), None, None).await;
                        }
                    }
                    Some(Ok(Message::Binary(_))) => {
                        connection
                            .error(ProtocolError::new(ErrorCode::BadFrame, "binary frames are not accepted; send JSON text"), None, None)
                            .await
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                }
            }
            _ = ping_tick.tick() => {
                if last_heard.elapsed() > limits.idle_timeout {
                    tracing::debug!("dropping a connection that stopped answering pings");
                    break;
                }
                let _ = ping.try_send(());
            }
            _ = shutdown.cancelled() => break,
        }
        if connection.out.is_closed() {
            break;
        }
    }
    // Closing a connection never stops a session: only this connection's subscriptions end
    // (with the writer, which holds their receivers).
    // The notification task holds a sender of the queue: the writer only ends once it is
    // gone too.
    notifications.abort();
    drop(connection);
    let _ = writer.await;
}

struct Connection {
    state: AppState,
    out: mpsc::Sender<Outgoing>,
    /// The sessions the writer delivers to this connection.
    following: Following,
    /// Whether the client asked for the session list updates (`watch-sessions`).
    watching: Arc<AtomicBool>,
}

impl Connection {
    async fn on_text(&mut self, text: &str) {
        if text.len() > self.state.max_frame_bytes {
            let message = format!(
                "frame of {} bytes exceeds the limit of {} bytes",
                text.len(),
                self.state.max_frame_bytes
            );
            return self
                .error(
                    ProtocolError::new(ErrorCode::FrameTooLarge, message),
                    None,
                    None,
                )
                .await;
        }
        match ClientMessage::parse(text) {
            Ok(message) => self.dispatch(message).await,
            Err(failure) => {
                self.error(
                    failure.error,
                    failure.request_type,
                    failure.client_request_id,
                )
                .await
            }
        }
    }

    async fn dispatch(&mut self, message: ClientMessage) {
        match message {
            ClientMessage::Command(command) => self.command(*command).await,
            ClientMessage::Abort {
                session_ref,
                provider,
                request_type,
                client_request_id,
            } => {
                self.abort(&session_ref, provider, request_type, client_request_id)
                    .await
            }
            ClientMessage::CheckSessionStatus {
                session_ref,
                provider,
                last_seq,
            } => {
                self.attach(&session_ref, provider, last_seq, "check-session-status")
                    .await
            }
            ClientMessage::Subscribe {
                session_ref,
                last_seq,
            } => {
                self.attach(&session_ref, None, Some(last_seq), "subscribe")
                    .await
            }
            ClientMessage::Unsubscribe { session_ref } => self.unsubscribe(&session_ref).await,
            // Opt-in, so a client that follows only its own sessions sees only their frames.
            // (External store changes already reach every connection.)
            ClientMessage::WatchSessions => self.watching.store(true, Ordering::Relaxed),
            ClientMessage::UnwatchSessions => self.watching.store(false, Ordering::Relaxed),
            ClientMessage::GetActiveSessions => {
                let sessions = self.state.registry.active_sessions();
                self.reply("active-sessions", &sessions).await;
            }
            ClientMessage::PermissionResponse(response) => self.permission(response).await,
            // Accepted for seed clients; Switchboard sends no telemetry anywhere.
            ClientMessage::TelemetrySettings => {}
        }
    }

    async fn command(&mut self, command: AgentCommand) {
        let request_type = command.request_type.clone();
        let client_request_id = command.client_request_id.clone();
        let registry = self.state.registry.clone();
        let (handle, prepared) = match registry.prepare(command).await {
            Ok(prepared) => prepared,
            Err(e) => return self.error(e, Some(request_type), client_request_id).await,
        };
        // Subscribed before the command reaches the session, so this connection sees every
        // frame of the run from `session-accepted` on.
        if let Err(e) = self.ensure_subscribed(&handle).await {
            return self.error(e, Some(request_type), client_request_id).await;
        }
        match registry.submit(&handle, prepared).await {
            RunReply::Accepted | RunReply::Queued { .. } => {}
            RunReply::Busy => {
                let busy = SessionBusy {
                    session_id: handle.id,
                    provider: handle.provider,
                    request_type,
                    client_request_id,
                    is_processing: true,
                    reason: "session-already-active".into(),
                    message: BUSY_MESSAGE.into(),
                    reported_at: now_ms(),
                    project_name: handle.project_name.clone(),
                };
                self.reply("session-busy", &busy).await;
            }
            RunReply::Rejected(e) => self.error(e, Some(request_type), client_request_id).await,
        }
    }

    async fn abort(
        &mut self,
        session_ref: &str,
        provider: Option<Provider>,
        request_type: &'static str,
        client_request_id: Option<String>,
    ) {
        let registry = self.state.registry.clone();
        // Attach first: the answer (`session-aborted`) and the terminal state are journaled
        // frames, and the connection that asked must see them.
        if let Ok(Some(handle)) = registry.find(session_ref, provider).await {
            if let Err(e) = self.ensure_subscribed(&handle).await {
                return self
                    .error(e, Some(request_type.into()), client_request_id)
                    .await;
            }
        }
        match registry.abort(session_ref, provider).await {
            Ok((_, AbortOutcome::NotFound)) => {
                let reply = SessionAbortedNotFound {
                    session_id: session_ref.to_owned(),
                    provider,
                    success: false,
                    outcome: AbortOutcome::NotFound,
                };
                self.reply("session-aborted", &reply).await;
            }
            Ok(_) => {}
            Err(e) => {
                self.error(e, Some(request_type.into()), client_request_id)
                    .await
            }
        }
    }

    /// `subscribe` and `check-session-status`: a status reply, then (for a given `lastSeq`)
    /// every journaled frame after it, then live frames.
    async fn attach(
        &mut self,
        session_ref: &str,
        provider: Option<Provider>,
        last_seq: Option<u64>,
        request_type: &str,
    ) {
        let registry = self.state.registry.clone();
        // Our own ids are found whatever provider the client names (the seed defaulted it to
        // claude); the hint only narrows the search among native ids.
        let attached = match registry.attach(session_ref, None).await {
            Err(e) if e.code == ErrorCode::UnknownSession && provider.is_some() => {
                registry.attach(session_ref, provider).await
            }
            other => other,
        };
        let (handle, live) = match attached {
            Ok(attached) => attached,
            Err(e) => return self.error(e, Some(request_type.into()), None).await,
        };
        if let Err(e) = self.check_subscriber_room(&handle) {
            return self.error(e, Some(request_type.into()), None).await;
        }
        if last_seq.is_some() {
            // A replay restarts this session's stream; the old one stops first (in the
            // writer's order), so none of its frames can follow the status reply.
            self.unfollow(handle.id).await;
        }
        let status = handle.status();
        self.reply("session-status", &status).await;
        // Without a replay a session already followed keeps its position.
        self.follow(&handle, live, last_seq.unwrap_or(status.last_seq))
            .await;
    }

    async fn unsubscribe(&mut self, session_ref: &str) {
        match self.state.registry.find(session_ref, None).await {
            Ok(Some(handle)) => self.unfollow(handle.id).await,
            Ok(None) => {
                let e = ProtocolError::new(
                    ErrorCode::UnknownSession,
                    format!("no session {session_ref:?}"),
                );
                self.error(e, Some("unsubscribe".into()), None).await
            }
            Err(e) => self.error(e, Some("unsubscribe".into()), None).await,
        }
    }

    async fn permission(&mut self, response: PermissionResponse) {
        if let Err(e) = self.state.registry.permission_response(response).await {
            self.error(e, Some("claude-permission-response".into()), None)
                .await;
        }
    }

    /// Subscribes this connection to a session it acts on, from the journal's current head,
    /// unless it is subscribed already.
    async fn ensure_subscribed(
        &mut self,
        handle: &Arc<SessionHandle>,
    ) -> Result<(), ProtocolError> {
        if self.is_following(handle.id) {
            return Ok(());
        }
        let live = match self.state.registry.attach_handle(handle) {
            Some(live) => live,
            None => {
                self.state
                    .registry
                    .attach(&handle.id.to_string(), None)
                    .await?
                    .1
            }
        };
        self.check_subscriber_room(handle)?;
        let from = handle.journal.head();
        self.follow(handle, live, from).await;
        Ok(())
    }

    fn is_following(&self, session: SessionId) -> bool {
        self.following.lock().contains(&session)
    }

    /// Refuses one more subscriber when the session has as many as it allows (this
    /// connection's own subscription does not count against it).
    fn check_subscriber_room(&self, handle: &SessionHandle) -> Result<(), ProtocolError> {
        let mine = self.is_following(handle.id);
        // The receiver just created for this attach is one of the counted subscribers.
        let others = handle
            .subscriber_count()
            .saturating_sub(1 + usize::from(mine));
        if others >= self.state.limits.subscribers_per_session {
            return Err(ProtocolError::new(
                ErrorCode::TooManySubscribers,
                format!(
                    "session {} already has {} subscribers",
                    handle.id, self.state.limits.subscribers_per_session
                ),
            ));
        }
        Ok(())
    }

    async fn follow(&mut self, handle: &Arc<SessionHandle>, live: LiveReceiver, delivered: u64) {
        self.following.lock().insert(handle.id);
        let follow = Outgoing::Follow {
            session: handle.id,
            journal: Arc::clone(&handle.journal),
            live,
            delivered,
        };
        let _ = self.out.send(follow).await;
    }

    async fn unfollow(&mut self, session: SessionId) {
        self.following.lock().remove(&session);
        let _ = self.out.send(Outgoing::Unfollow(session)).await;
    }

    async fn reply<B: Serialize>(&self, frame_type: &str, body: &B) {
        let _ = self.out.send(encode_reply(frame_type, body).into()).await;
    }

    async fn error(
        &self,
        error: ProtocolError,
        request_type: Option<String>,
        client_request_id: Option<String>,
    ) {
        let mut frame = ErrorFrame::new(error.code, error.message);
        frame.request_type = request_type;
        frame.client_request_id = client_request_id;
        let _ = self.out.send(frame.encode().into()).await;
    }
}

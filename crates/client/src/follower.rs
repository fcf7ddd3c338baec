//! Follows one session's journal across dropped connections: it reconnects, subscribes again
//! with the highest `seq` it has handed out, and drops anything at or below it, so the caller
//! sees every journaled frame exactly once, in order.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::connection::Connection;
use crate::error::ClientError;
use crate::frame::Frame;
use crate::messages;
use crate::target::ServerTarget;

/// How long the follower keeps trying to get a lost connection back.
pub const DEFAULT_RECONNECT_WINDOW: Duration = Duration::from_secs(300);
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Hands out a session's journaled frames once each: a `seq` at or below the last one handed
/// out is a replayed duplicate.
#[derive(Debug, Clone, Copy, Default)]
pub struct SeqFilter {
    last_seq: u64,
}

impl SeqFilter {
    pub fn after(last_seq: u64) -> Self {
        Self { last_seq }
    }

    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Whether a frame with this seq is new (and, if so, records it).
    pub fn admit(&mut self, seq: u64) -> bool {
        if seq <= self.last_seq {
            return false;
        }
        self.last_seq = seq;
        true
    }
}

/// What [`Follower::next`] yields.
#[derive(Debug)]
pub enum FollowEvent {
    /// A frame: a new journaled frame of the session, or a reply (no `seq`).
    Frame(Box<Frame>),
    /// The connection dropped; the follower is about to reconnect.
    Disconnected(String),
    /// Subscribed again, from this seq.
    Reconnected { last_seq: u64 },
}

pub struct Follower {
    target: ServerTarget,
    session: String,
    filter: SeqFilter,
    connection: Option<Connection>,
    /// Messages that could not be sent on a connection that died; sent after resubscribing.
    outbox: Vec<String>,
    reconnect_window: Duration,
}

impl Follower {
    /// Takes over a connection that is already subscribed to `session` (the one a command was
    /// sent on), having handed out everything up to `last_seq`.
    pub fn resume(
        target: ServerTarget,
        connection: Connection,
        session: String,
        last_seq: u64,
    ) -> Self {
        Self {
            target,
            session,
            filter: SeqFilter::after(last_seq),
            connection: Some(connection),
            outbox: Vec::new(),
            reconnect_window: DEFAULT_RECONNECT_WINDOW,
        }
    }

    /// Connects and subscribes to `session`, replaying every frame after `last_seq`.
    pub async fn attach(
        target: ServerTarget,
        session: String,
        last_seq: u64,
    ) -> Result<Self, ClientError> {
        let mut connection = Connection::open(&target).await?;
        connection
            .send(&messages::subscribe(&session, last_seq))
            .await?;
        Ok(Self::resume(target, connection, session, last_seq))
    }

    pub fn with_reconnect_window(mut self, window: Duration) -> Self {
        self.reconnect_window = window;
        self
    }

    pub fn session(&self) -> &str {
        &self.session
    }

    pub fn last_seq(&self) -> u64 {
        self.filter.last_seq()
    }

    /// The next frame, or news of the connection.
    pub async fn next(&mut self) -> Result<FollowEvent, ClientError> {
        loop {
            let Some(connection) = self.connection.as_mut() else {
                self.reconnect().await?;
                return Ok(FollowEvent::Reconnected {
                    last_seq: self.last_seq(),
                });
            };
            let frame = match connection.recv().await {
                Ok(Some(frame)) => frame,
                Ok(None) => return Ok(self.lost("the server closed the connection".into())),
                Err(ClientError::Connection(e)) => return Ok(self.lost(e)),
                Err(other) => return Err(other),
            };
            let of_this_session = frame.session_id() == Some(self.session.as_str());
            match frame.seq() {
                Some(seq) if of_this_session && !self.filter.admit(seq) => continue,
                _ => return Ok(FollowEvent::Frame(Box::new(frame))),
            }
        }
    }

    /// Sends a message on the live connection, or after the next resubscription.
    pub async fn send<M: Serialize>(&mut self, message: &M) -> Result<(), ClientError> {
        let text = serde_json::to_string(message)
            .map_err(|e| ClientError::Usage(format!("cannot encode a message: {e}")))?;
        if let Some(connection) = self.connection.as_mut() {
            if connection.send_text(text.clone()).await.is_ok() {
                return Ok(());
            }
            self.lost("sending failed".into());
        }
        self.outbox.push(text);
        Ok(())
    }

    pub async fn close(mut self) {
        if let Some(connection) = self.connection.take() {
            connection.close().await;
        }
    }

    fn lost(&mut self, why: String) -> FollowEvent {
        tracing::debug!(session = %self.session, %why, "connection lost");
        self.connection = None;
        FollowEvent::Disconnected(why)
    }

    async fn reconnect(&mut self) -> Result<(), ClientError> {
        let started = Instant::now();
        let mut backoff = FIRST_BACKOFF;
        loop {
            match self.try_resubscribe().await {
                Ok(connection) => {
                    self.connection = Some(connection);
                    return Ok(());
                }
                // Nothing a retry fixes.
                Err(
                    e @ (ClientError::Unauthorized
                    | ClientError::TlsUnsupported { .. }
                    | ClientError::Usage(_)),
                ) => return Err(e),
                Err(e) => tracing::debug!(error = %e, "reconnect failed"),
            }
            if started.elapsed() + backoff > self.reconnect_window {
                return Err(ClientError::GaveUp {
                    secs: self.reconnect_window.as_secs(),
                });
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    async fn try_resubscribe(&mut self) -> Result<Connection, ClientError> {
        let mut connection = Connection::open(&self.target).await?;
        connection
            .send(&messages::subscribe(&self.session, self.last_seq()))
            .await?;
        for text in &self.outbox {
            connection.send_text(text.clone()).await?;
        }
        self.outbox.clear();
        Ok(connection)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_drops_replayed_frames_and_keeps_gaps() {
        let mut filter = SeqFilter::after(3);
        let handed_out: Vec<u64> = [2, 3, 4, 5, 4, 5, 6, 9, 7, 10]
            .into_iter()
            .filter(|&seq| filter.admit(seq))
            .collect();
        // A crash gap (6 → 9) passes; anything at or below the last seq is a duplicate.
        assert_eq!(handed_out, vec![4, 5, 6, 9, 10]);
        assert_eq!(filter.last_seq(), 10);
    }
}

//! A connection's writer: the one task that owns the socket's sending half.
//!
//! It writes, in one place, everything the connection sends: replies and notifications from
//! its queue, and the journaled frames of every session the connection follows, which it
//! takes straight from those sessions' live fan-outs (a `StreamMap` of receivers). There is
//! no task per subscription in between: a relayed frame costs one wake-up of this task, not
//! two, and one flush covers whatever was ready at once.
//!
//! Order: the queue carries the requests to follow or stop following a session along with
//! the replies, so a `session-status` reply always precedes the frames of the subscription
//! it answers, and a replay's old stream stops before its status reply goes out.
//!
//! Backpressure: when the socket is slow this task waits in `feed`/`flush`. The queue then
//! fills and the reader waits to queue its next reply; the live receivers fall behind and
//! skip frames, which are read back from the journal once the socket drains. Nothing is
//! buffered without bound, and nothing is lost.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use axum::extract::ws::{Message, Utf8Bytes};
use bytes::Bytes;
use futures_util::{FutureExt, Sink, SinkExt};
use parking_lot::Mutex;
use switchboard_core::fanout::{Live, LiveReceiver};
use switchboard_core::frame::Frame;
use switchboard_core::journal::Journal;
use switchboard_core::subscription::{Placement, Subscription};
use switchboard_protocol::server::ErrorFrame;
use switchboard_protocol::{ErrorCode, SessionId};
use tokio::sync::mpsc;
use tokio_stream::{StreamExt, StreamMap};

/// The most frames written before a flush.
const WRITE_BATCH: usize = 256;

/// What the rest of the connection hands to the writer.
pub(crate) enum Outgoing {
    /// A reply or a notification, sent as it is.
    Frame(Bytes),
    /// Deliver a session's frames after `delivered`: from the journal, then live.
    Follow {
        session: SessionId,
        journal: Arc<Journal>,
        /// Registered before this request was queued, so no frame falls between the
        /// journal and the live stream.
        live: LiveReceiver,
        /// Where a session not followed yet starts. A session followed already keeps its
        /// position and only takes the new receiver and journal (it may have been loaded
        /// again); a `lastSeq` replay sends [`Outgoing::Unfollow`] first, so it starts anew.
        delivered: u64,
    },
    /// Stop delivering a session's frames.
    Unfollow(SessionId),
}

impl From<Bytes> for Outgoing {
    fn from(bytes: Bytes) -> Self {
        Outgoing::Frame(bytes)
    }
}

impl From<Vec<u8>> for Outgoing {
    fn from(bytes: Vec<u8>) -> Self {
        Outgoing::Frame(bytes.into())
    }
}

/// The sessions a connection follows, shared by its reader and writer: the reader adds and
/// removes as it asks the writer to follow or stop, and the writer removes a session whose
/// subscription ended on its own (the session left memory, or its journal failed). The
/// reader counts them against the per-session subscriber limit.
pub(crate) type Following = Arc<Mutex<HashSet<SessionId>>>;

/// Runs until the queue closes or the socket fails, then closes the socket.
pub(crate) async fn run<W>(
    sink: W,
    mut queue: mpsc::Receiver<Outgoing>,
    mut pings: mpsc::Receiver<()>,
    following: Following,
) where
    W: Sink<Message> + Unpin,
{
    let mut writer = Writer {
        sink,
        unflushed: 0,
        subscriptions: HashMap::new(),
        live: StreamMap::new(),
        following,
    };
    loop {
        // Everything that is ready now goes out under one flush.
        if writer.write_ready(&mut queue).await.is_err() {
            break;
        }
        let step = tokio::select! {
            item = queue.recv() => match item {
                Some(item) => writer.handle(item).await,
                None => break,
            },
            Some((session, live)) = writer.live.next(), if !writer.live.is_empty() => {
                writer.on_live(session, live).await
            }
            Some(()) = pings.recv() => writer.ping().await,
        };
        if step.is_err() {
            break;
        }
    }
    writer.following.lock().clear();
    let _ = writer.sink.close().await;
}

/// The socket is gone.
struct SocketClosed;

struct Writer<W> {
    sink: W,
    /// Frames fed to the socket since the last flush.
    unflushed: usize,
    subscriptions: HashMap<SessionId, Subscription>,
    live: StreamMap<SessionId, LiveReceiver>,
    following: Following,
}

impl<W> Writer<W>
where
    W: Sink<Message> + Unpin,
{
    /// Handles whatever is ready without waiting (up to a batch), then flushes once.
    async fn write_ready(
        &mut self,
        queue: &mut mpsc::Receiver<Outgoing>,
    ) -> Result<(), SocketClosed> {
        let mut handled = 0;
        while handled < WRITE_BATCH {
            if let Ok(item) = queue.try_recv() {
                self.handle(item).await?;
            } else if let Some(Some((session, live))) = self.live.next().now_or_never() {
                self.on_live(session, live).await?;
            } else {
                break;
            }
            handled += 1;
        }
        self.flush().await
    }

    async fn handle(&mut self, item: Outgoing) -> Result<(), SocketClosed> {
        match item {
            Outgoing::Frame(bytes) => self.write(bytes).await,
            Outgoing::Follow {
                session,
                journal,
                live,
                delivered,
            } => {
                match self.subscriptions.get_mut(&session) {
                    Some(existing) => existing.switch_journal(journal),
                    None => {
                        self.subscriptions
                            .insert(session, Subscription::new(journal, delivered));
                    }
                }
                // Replaces (and so drops) any older receiver of this session.
                self.live.insert(session, live);
                self.catch_up(session, None).await
            }
            Outgoing::Unfollow(session) => {
                self.drop_subscription(session);
                Ok(())
            }
        }
    }

    async fn on_live(&mut self, session: SessionId, live: Live) -> Result<(), SocketClosed> {
        match live {
            Live::Frame(frame) => self.deliver(session, frame).await,
            Live::Closed => {
                // The session left memory: send what it journaled last, then stop.
                let result = self.catch_up(session, None).await;
                self.forget(session);
                result
            }
        }
    }

    async fn deliver(&mut self, session: SessionId, frame: Frame) -> Result<(), SocketClosed> {
        let Some(subscription) = self.subscriptions.get(&session) else {
            return Ok(());
        };
        match subscription.place(&frame) {
            Placement::Duplicate => return Ok(()),
            Placement::Next => {}
            Placement::Gap => self.catch_up(session, Some(frame.seq - 1)).await?,
        }
        // A failed catch-up ends the subscription.
        let Some(subscription) = self.subscriptions.get_mut(&session) else {
            return Ok(());
        };
        subscription.delivered_up_to(frame.seq);
        self.write(frame.bytes).await
    }

    /// Sends the frames the connection has missed, up to `up_to` or the journal's head. A
    /// journal that cannot be read ends the subscription with an error frame.
    async fn catch_up(
        &mut self,
        session: SessionId,
        up_to: Option<u64>,
    ) -> Result<(), SocketClosed> {
        loop {
            let Some(subscription) = self.subscriptions.get_mut(&session) else {
                return Ok(());
            };
            match subscription.missing(up_to).await {
                Ok(frames) if frames.is_empty() => return Ok(()),
                Ok(frames) => {
                    for frame in frames {
                        self.write(frame.bytes).await?;
                    }
                }
                Err(e) => {
                    tracing::error!(%session, error = %e, "replaying a journal failed");
                    self.forget(session);
                    let frame = ErrorFrame::new(
                        ErrorCode::Internal,
                        format!("replaying session {session} failed: {e}"),
                    );
                    return self.write(frame.encode().into()).await;
                }
            }
        }
    }

    fn drop_subscription(&mut self, session: SessionId) {
        self.subscriptions.remove(&session);
        self.live.remove(&session);
    }

    /// Ends a subscription the reader did not ask to end.
    fn forget(&mut self, session: SessionId) {
        self.drop_subscription(session);
        self.following.lock().remove(&session);
    }

    async fn write(&mut self, bytes: Bytes) -> Result<(), SocketClosed> {
        // Every frame is JSON produced by serde_json, so always UTF-8.
        if let Ok(text) = Utf8Bytes::try_from(bytes) {
            self.sink
                .feed(Message::Text(text))
                .await
                .map_err(|_| SocketClosed)?;
            self.unflushed += 1;
            if self.unflushed >= WRITE_BATCH {
                self.flush().await?;
            }
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), SocketClosed> {
        if self.unflushed == 0 {
            return Ok(());
        }
        self.unflushed = 0;
        self.sink.flush().await.map_err(|_| SocketClosed)
    }

    async fn ping(&mut self) -> Result<(), SocketClosed> {
        self.flush().await?;
        self.sink
            .send(Message::Ping(Bytes::new()))
            .await
            .map_err(|_| SocketClosed)
    }
}

//! A session's live fan-out: the broadcast channel its subscriptions follow, allocated only
//! while someone listens.
//!
//! A broadcast channel allocates all of its slots up front (`subscriber_queue_frames`, about
//! 72 bytes each), and most sessions in memory have nobody attached. So the channel
//! exists only while it has receivers: the first `subscribe` creates it, and the last
//! receiver to go drops it. Nothing is lost by dropping it: a frame sent with no receiver
//! reaches nobody either way, and every subscription reads the journal after its receiver
//! exists (see [`crate::subscription`]).
//!
//! Receivers hold the fan-out weakly, so when the session leaves memory the channel closes
//! and its subscriptions end as before.
//!
//! A receiver is a [`Stream`], so one task can follow many sessions at once (a connection's
//! writer keeps its sessions' receivers in one `StreamMap`).

use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};

use parking_lot::Mutex;
use tokio::sync::broadcast;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::Stream;

use crate::frame::Frame;

pub struct LiveFanout {
    capacity: usize,
    /// Taken by the session actor once per frame and by attaching clients; never held across
    /// an await, so uncontended in practice.
    sender: Mutex<Option<broadcast::Sender<Frame>>>,
}

impl LiveFanout {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(16),
            sender: Mutex::new(None),
        }
    }

    /// A receiver of every frame sent from now on.
    pub fn subscribe(self: &Arc<Self>) -> LiveReceiver {
        let rx = self
            .sender
            .lock()
            .get_or_insert_with(|| broadcast::channel(self.capacity).0)
            .subscribe();
        LiveReceiver {
            rx: Some(BroadcastStream::new(rx)),
            closed: false,
            fanout: Arc::downgrade(self),
        }
    }

    pub fn receiver_count(&self) -> usize {
        self.sender
            .lock()
            .as_ref()
            .map_or(0, broadcast::Sender::receiver_count)
    }

    /// Sends to every receiver.
    pub fn send(&self, frame: Frame) {
        if let Some(tx) = self.sender.lock().as_ref() {
            let _ = tx.send(frame);
        }
    }
}

/// What a live receiver yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Live {
    /// The next frame sent. A receiver that fell behind skips the frames it missed: they
    /// are in the journal, and the next frame's seq shows the gap.
    Frame(Frame),
    /// The session left memory; nothing more comes. Yielded once, then the stream ends.
    Closed,
}

/// One subscription's end of the fan-out.
pub struct LiveReceiver {
    /// `Some` until dropped.
    rx: Option<BroadcastStream<Frame>>,
    closed: bool,
    fanout: Weak<LiveFanout>,
}

impl Stream for LiveReceiver {
    type Item = Live;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Live>> {
        let this = self.get_mut();
        if this.closed {
            return Poll::Ready(None);
        }
        let rx = this.rx.as_mut().expect("taken only in drop");
        loop {
            return match Pin::new(&mut *rx).poll_next(cx) {
                Poll::Ready(Some(Ok(frame))) => Poll::Ready(Some(Live::Frame(frame))),
                Poll::Ready(Some(Err(BroadcastStreamRecvError::Lagged(_)))) => continue,
                Poll::Ready(None) => {
                    this.closed = true;
                    Poll::Ready(Some(Live::Closed))
                }
                Poll::Pending => Poll::Pending,
            };
        }
    }
}

impl Drop for LiveReceiver {
    fn drop(&mut self) {
        let Some(fanout) = self.fanout.upgrade() else {
            return;
        };
        // Under the lock, so a concurrent `subscribe` either comes first (and keeps the
        // channel alive) or finds it gone and makes a new one.
        let mut sender = fanout.sender.lock();
        drop(self.rx.take());
        if sender.as_ref().is_some_and(|tx| tx.receiver_count() == 0) {
            *sender = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_stream::StreamExt;

    async fn next_seq(rx: &mut LiveReceiver) -> u64 {
        match rx.next().await {
            Some(Live::Frame(frame)) => frame.seq,
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn the_channel_lives_only_while_someone_listens() {
        let fanout = Arc::new(LiveFanout::new(16));
        fanout.send(Frame::new(1, "a"));
        assert_eq!(fanout.receiver_count(), 0);
        assert!(fanout.sender.lock().is_none());

        let mut first = fanout.subscribe();
        let mut second = fanout.subscribe();
        assert_eq!(fanout.receiver_count(), 2);
        fanout.send(Frame::new(2, "b"));
        assert_eq!(next_seq(&mut first).await, 2);
        assert_eq!(next_seq(&mut second).await, 2);

        drop(first);
        assert!(fanout.sender.lock().is_some(), "one receiver is left");
        drop(second);
        assert!(fanout.sender.lock().is_none(), "freed once nobody listens");

        let mut again = fanout.subscribe();
        fanout.send(Frame::new(3, "c"));
        assert_eq!(next_seq(&mut again).await, 3);
    }

    #[tokio::test]
    async fn a_receiver_that_falls_behind_skips_to_what_is_left() {
        let fanout = Arc::new(LiveFanout::new(16));
        let mut rx = fanout.subscribe();
        for seq in 1..=20 {
            fanout.send(Frame::new(seq, "x"));
        }
        assert_eq!(next_seq(&mut rx).await, 5, "the oldest 4 were overwritten");
    }

    #[tokio::test]
    async fn receivers_see_the_end_when_the_session_goes() {
        let fanout = Arc::new(LiveFanout::new(16));
        let mut rx = fanout.subscribe();
        drop(fanout);
        assert_eq!(rx.next().await, Some(Live::Closed));
        assert_eq!(rx.next().await, None);
    }
}

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

use std::sync::{Arc, Weak};

use parking_lot::Mutex;
use tokio::sync::broadcast;

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
            rx: Some(rx),
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

/// One subscription's end of the fan-out.
pub struct LiveReceiver {
    /// `Some` until dropped.
    rx: Option<broadcast::Receiver<Frame>>,
    fanout: Weak<LiveFanout>,
}

impl LiveReceiver {
    /// The next frame, as [`broadcast::Receiver::recv`].
    pub async fn recv(&mut self) -> Result<Frame, broadcast::error::RecvError> {
        match self.rx.as_mut() {
            Some(rx) => rx.recv().await,
            None => Err(broadcast::error::RecvError::Closed),
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
        assert_eq!(first.recv().await.unwrap().seq, 2);
        assert_eq!(second.recv().await.unwrap().seq, 2);

        drop(first);
        assert!(fanout.sender.lock().is_some(), "one receiver is left");
        drop(second);
        assert!(fanout.sender.lock().is_none(), "freed once nobody listens");

        let mut again = fanout.subscribe();
        fanout.send(Frame::new(3, "c"));
        assert_eq!(again.recv().await.unwrap().seq, 3);
    }

    #[tokio::test]
    async fn receivers_see_the_end_when_the_session_goes() {
        let fanout = Arc::new(LiveFanout::new(16));
        let mut rx = fanout.subscribe();
        drop(fanout);
        assert!(matches!(
            rx.recv().await,
            Err(broadcast::error::RecvError::Closed)
        ));
    }
}

//! Delivering one session's frames to one connection, with nothing lost and nothing twice.
//!
//! The order that makes it lossless: the live receiver is registered first (by
//! [`crate::Registry::attach`]), then the journal is read after the client's `lastSeq`, then
//! live frames follow, de-duplicated by seq. Any gap in the live stream (a lagging receiver
//! skipped frames, or frames were journaled before the receiver existed) is filled from the
//! journal before the next live frame goes out. A slow connection therefore never makes the
//! server buffer without bound: its receiver lags, and it is caught up from the journal.
//!
//! This is the bookkeeping only; the connection's writer drives it, so a frame goes from the
//! session's fan-out to the socket without another task in between.

use std::sync::Arc;

use crate::frame::Frame;
use crate::journal::Journal;
use crate::store::StoreError;

/// How many frames one journal read returns while catching up.
const CATCH_UP_BATCH: usize = 512;

/// One connection's position in one session's journal.
pub struct Subscription {
    journal: Arc<Journal>,
    /// Every frame up to this seq has been handed to the connection.
    delivered: u64,
}

/// Where a live frame stands against what was delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Delivered already (it came from the journal during a catch-up).
    Duplicate,
    /// The very next frame: send it.
    Next,
    /// Frames are missing before it: read them with [`Subscription::missing`] first.
    Gap,
}

impl Subscription {
    pub fn new(journal: Arc<Journal>, delivered: u64) -> Self {
        Self { journal, delivered }
    }

    /// Follows the session's journal anew (the session was loaded again), keeping the
    /// position: frames already delivered are not sent twice, and none is skipped.
    pub fn switch_journal(&mut self, journal: Arc<Journal>) {
        self.journal = journal;
    }

    pub fn place(&self, frame: &Frame) -> Placement {
        if frame.seq <= self.delivered {
            Placement::Duplicate
        } else if frame.seq == self.delivered + 1 {
            Placement::Next
        } else {
            Placement::Gap
        }
    }

    /// Records that the frame `seq`, placed `Next` (after any gap was filled), was handed
    /// to the connection.
    pub fn delivered_up_to(&mut self, seq: u64) {
        debug_assert!(seq > self.delivered);
        self.delivered = seq;
    }

    /// The next frames the connection has not had, up to `up_to` (inclusive) or to the
    /// journal's head. Empty once there are none; the caller sends them in order.
    pub async fn missing(&mut self, up_to: Option<u64>) -> Result<Vec<Frame>, StoreError> {
        if up_to.is_some_and(|limit| limit <= self.delivered) {
            return Ok(Vec::new());
        }
        let mut batch = self
            .journal
            .read_after(self.delivered, CATCH_UP_BATCH)
            .await?;
        if let Some(limit) = up_to {
            let keep = batch.partition_point(|f| f.seq <= limit);
            batch.truncate(keep);
        }
        if let Some(last) = batch.last() {
            self.delivered = last.seq;
        }
        Ok(batch)
    }
}

//! One session's journal: the recent frames in a bounded ring, the rest in the store.
//!
//! The session actor is the only writer (`append`); any number of subscriptions read
//! (`read_after`). A frame leaves the ring only when the ring is over its bounds *and* the
//! frame is persisted, so a reader always finds every frame in one place or the other.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use switchboard_protocol::SessionId;

use crate::frame::Frame;
use crate::store::{SessionStore, StoreError};

pub struct Journal {
    session: SessionId,
    ring: Mutex<Ring>,
    /// The last seq appended.
    head: AtomicU64,
    /// The highest seq known to be committed to the store.
    persisted: Arc<AtomicU64>,
    store: Arc<dyn SessionStore>,
    max_frames: usize,
    max_bytes: usize,
}

struct Ring {
    frames: VecDeque<Frame>,
    bytes: usize,
}

impl Journal {
    /// A journal whose stored part ends at `last_seq` (0 for a new session).
    pub fn new(
        session: SessionId,
        last_seq: u64,
        store: Arc<dyn SessionStore>,
        max_frames: usize,
        max_bytes: usize,
    ) -> Self {
        Self {
            session,
            ring: Mutex::new(Ring {
                frames: VecDeque::new(),
                bytes: 0,
            }),
            head: AtomicU64::new(last_seq),
            persisted: Arc::new(AtomicU64::new(last_seq)),
            store,
            max_frames: max_frames.max(1),
            max_bytes,
        }
    }

    pub fn head(&self) -> u64 {
        self.head.load(Ordering::Acquire)
    }

    pub fn persisted_watermark(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.persisted)
    }

    /// Appends a frame. Called only by the session actor, with strictly increasing seqs.
    pub fn append(&self, frame: Frame) {
        let persisted = self.persisted.load(Ordering::Acquire);
        let mut ring = self.ring.lock();
        debug_assert!(frame.seq > self.head.load(Ordering::Relaxed));
        let seq = frame.seq;
        ring.bytes += frame.bytes.len();
        ring.frames.push_back(frame);
        while ring.frames.len() > self.max_frames || ring.bytes > self.max_bytes {
            match ring.frames.front() {
                Some(oldest) if oldest.seq <= persisted => {
                    let len = oldest.bytes.len();
                    ring.frames.pop_front();
                    ring.bytes -= len;
                }
                _ => break,
            }
        }
        // Published under the lock, so a reader that sees the new head finds the frame.
        self.head.store(seq, Ordering::Release);
    }

    /// Up to `limit` frames with `seq > after_seq`, in order. Empty when the reader is
    /// caught up. Frames older than the ring come from the store.
    pub async fn read_after(&self, after_seq: u64, limit: usize) -> Result<Vec<Frame>, StoreError> {
        let limit = limit.max(1);
        let ring_start = {
            let ring = self.ring.lock();
            match ring.frames.front() {
                Some(first) if first.seq <= after_seq + 1 => {
                    let start = ring.frames.partition_point(|f| f.seq <= after_seq);
                    return Ok(ring.frames.range(start..).take(limit).cloned().collect());
                }
                Some(first) => Some(first.seq),
                None => None,
            }
        };
        if after_seq >= self.head() && ring_start.is_none() {
            return Ok(Vec::new());
        }
        let store = Arc::clone(&self.store);
        let session = self.session;
        let mut frames =
            tokio::task::spawn_blocking(move || store.read_frames(&session, after_seq, limit))
                .await
                .map_err(|e| StoreError::Backend(e.to_string()))??;
        if let Some(start) = ring_start {
            frames.retain(|f| f.seq < start);
            if frames.is_empty() {
                // Nothing stored before the ring: an honest gap (frames lost in a crash).
                // Continue from the ring.
                let ring = self.ring.lock();
                let start = ring.frames.partition_point(|f| f.seq <= after_seq);
                return Ok(ring.frames.range(start..).take(limit).cloned().collect());
            }
        }
        Ok(frames)
    }

    #[cfg(test)]
    fn ring_len(&self) -> usize {
        self.ring.lock().frames.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ProjectRecord, SessionRecord, StoreWrite};
    use switchboard_protocol::Provider;

    /// A store that holds frames in memory.
    #[derive(Default)]
    struct MemStore {
        frames: Mutex<Vec<Frame>>,
    }

    impl SessionStore for MemStore {
        fn apply(&self, writes: &[StoreWrite]) -> Result<(), StoreError> {
            for w in writes {
                if let StoreWrite::Frame { seq, bytes, .. } = w {
                    self.frames.lock().push(Frame::new(*seq, bytes.clone()));
                }
            }
            Ok(())
        }
        fn load_session(&self, _: &SessionId) -> Result<Option<SessionRecord>, StoreError> {
            Ok(None)
        }
        fn find_by_native_id(&self, _: Provider, _: &str) -> Result<Option<SessionId>, StoreError> {
            Ok(None)
        }
        fn read_frames(
            &self,
            _: &SessionId,
            after: u64,
            limit: usize,
        ) -> Result<Vec<Frame>, StoreError> {
            Ok(self
                .frames
                .lock()
                .iter()
                .filter(|f| f.seq > after)
                .take(limit)
                .cloned()
                .collect())
        }
        fn live_sessions(&self) -> Result<Vec<SessionRecord>, StoreError> {
            Ok(vec![])
        }
        fn list_projects(&self) -> Result<Vec<ProjectRecord>, StoreError> {
            Ok(vec![])
        }
        fn upsert_project(&self, p: &ProjectRecord) -> Result<ProjectRecord, StoreError> {
            Ok(p.clone())
        }
    }

    fn frame(seq: u64) -> Frame {
        Frame::new(seq, format!("{{\"seq\":{seq}}}").into_bytes())
    }

    #[tokio::test]
    async fn ring_keeps_unpersisted_frames_beyond_its_bound() {
        let store = Arc::new(MemStore::default());
        let journal = Journal::new(SessionId::new_v4(), 0, store.clone(), 4, usize::MAX);
        for seq in 1..=10 {
            journal.append(frame(seq));
        }
        assert_eq!(journal.ring_len(), 10, "nothing persisted, nothing evicted");
        // Persist 1..=8, then append: the ring shrinks back to its bound.
        for seq in 1..=8 {
            store
                .apply(&[StoreWrite::Frame {
                    session: SessionId::new_v4(),
                    seq,
                    bytes: frame(seq).bytes,
                }])
                .unwrap();
        }
        journal.persisted.store(8, Ordering::Release);
        journal.append(frame(11));
        assert_eq!(journal.ring_len(), 4);
        // Reading from the start crosses from the store into the ring without a gap.
        let mut seen = Vec::new();
        let mut after = 0;
        loop {
            let batch = journal.read_after(after, 3).await.unwrap();
            if batch.is_empty() {
                break;
            }
            after = batch.last().unwrap().seq;
            seen.extend(batch.into_iter().map(|f| f.seq));
        }
        assert_eq!(seen, (1..=11).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn reading_past_head_is_empty() {
        let journal = Journal::new(
            SessionId::new_v4(),
            5,
            Arc::new(MemStore::default()),
            10,
            usize::MAX,
        );
        assert!(journal.read_after(5, 10).await.unwrap().is_empty());
        journal.append(frame(6));
        assert_eq!(journal.read_after(5, 10).await.unwrap(), vec![frame(6)]);
        assert!(journal.read_after(6, 10).await.unwrap().is_empty());
    }
}

//! Checkpointing the WAL from a thread of its own.
//!
//! SQLite's automatic checkpoint runs inside the commit that crosses its threshold, on the
//! committing connection: the persistence task then copied ~16 MiB of pages back into the
//! database and fsynced it before it could write the next batch. While it did, the session
//! actors filled the persistence queue and waited: a relay with persistence ran at 0.55 × the
//! rate without it, and at 0.90 × with checkpoints switched off (same build, same run).
//!
//! So the store's writer has `wal_autocheckpoint = 0`, reports each commit, and this thread
//! checkpoints behind it:
//! - at most every [`CheckpointPolicy::passive_every`] while commits come (and after a quiet
//!   second) a `PASSIVE` checkpoint, which never blocks the writer or the readers. Rounds go
//!   by time, not by bytes: since the frames' bytes moved to segment files, what a commit
//!   adds to the WAL is a few B-tree pages, whatever the size of the batch;
//! - a passive checkpoint cannot rewind the WAL while commits keep coming (the WAL starts
//!   over only once every frame in it was copied back), so when the WAL holds more than
//!   [`CheckpointPolicy::restart_above`] bytes a `RESTART` checkpoint waits for the current
//!   write to end, copies the little the passive rounds left, and lets the next commit start
//!   the WAL from its beginning. That bounds the WAL file: it grows by at most what the
//!   writer commits while one round runs, and the writer's `journal_size_limit` trims it
//!   when it starts over.
//!
//! The thread runs at a lower CPU priority (nice 10). A round copies megabytes and syncs
//! them, and on a small machine it took a core from the relay for milliseconds: the p99
//! delay at 10,000 frames/s was 2 to 3 ms with checkpoints and under 1 ms without. The work
//! still gets done whenever a core is free, and it is never urgent.

use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::segments::OpenSegment;
use crate::{open_connection, Durability, SqliteStoreError};

/// When to checkpoint.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CheckpointPolicy {
    /// The shortest time between two passive checkpoints while commits keep coming.
    pub passive_every: Duration,
    /// WAL size above which a checkpoint also rewinds the WAL.
    pub restart_above: u64,
}

impl Default for CheckpointPolicy {
    fn default() -> Self {
        // Short rounds keep each burst of copying and syncing short (with frames in the WAL,
        // 4 MiB rounds had a p99.9 delay of 13 ms at 10,000 frames/s and 1 MiB rounds 5 ms;
        // `docs/performance.md`). Commits come every few milliseconds under load, so a round
        // every 50 ms copies a few dozen commits' pages.
        Self {
            passive_every: Duration::from_millis(50),
            restart_above: 64 << 20,
        }
    }
}

/// The checkpoint thread. Dropping it stops the thread (after the round it is in).
pub(crate) struct Checkpointer {
    committed: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    pub(crate) fn start(
        path: &Path,
        durability: Durability,
        policy: CheckpointPolicy,
        segment: OpenSegment,
    ) -> Result<Self, SqliteStoreError> {
        let conn = open_connection(path, durability)?;
        let (committed, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                lower_priority();
                run(&conn, &rx, policy, &segment)
            })
            .map_err(|e| SqliteStoreError::Thread(e.to_string()))?;
        Ok(Self {
            committed: Some(committed),
            thread: Some(thread),
        })
    }

    /// A commit added to the WAL.
    pub(crate) fn committed(&self) {
        if let Some(committed) = &self.committed {
            let _ = committed.send(());
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.committed.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(
    conn: &Connection,
    committed: &mpsc::Receiver<()>,
    policy: CheckpointPolicy,
    segment: &OpenSegment,
) {
    let page_size: u64 = conn
        .pragma_query_value(None, "page_size", |r| r.get::<_, i64>(0))
        .map(|size| size.max(512) as u64)
        .unwrap_or(4096);
    let mut pending = false;
    let mut last_round = Instant::now();
    loop {
        match committed.recv_timeout(Duration::from_secs(1)) {
            Ok(()) => {
                pending = true;
                // Take every report already queued before deciding.
                while committed.try_recv().is_ok() {}
                if last_round.elapsed() < policy.passive_every {
                    continue;
                }
            }
            // A quiet second: copy back whatever is left, so an idle server's WAL is empty.
            Err(mpsc::RecvTimeoutError::Timeout) if pending => {}
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        pending = false;
        last_round = Instant::now();
        // The rows about to reach the database file point into the open segment: its bytes
        // go to the disk first (see `segments`).
        let open = segment.lock().clone();
        if let Some(file) = open {
            if let Err(e) = file.sync_data() {
                tracing::warn!(error = %e, "cannot sync the journal segment");
            }
        }
        match checkpoint(conn, "PASSIVE") {
            Ok(wal_pages) if wal_pages * page_size > policy.restart_above => {
                if let Err(e) = checkpoint(conn, "RESTART") {
                    tracing::warn!(error = %e, "rewinding the WAL failed; trying again later");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "a WAL checkpoint failed; trying again later"),
        }
    }
}

/// Lowers this thread's CPU priority (on Linux `setpriority` applies to the calling thread).
fn lower_priority() {
    // SAFETY: gettid and setpriority take and return plain integers.
    let result = unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 10)
    };
    if result != 0 {
        tracing::debug!("cannot lower the checkpoint thread's priority");
    }
}

/// Runs a checkpoint; returns the WAL's size in pages.
fn checkpoint(conn: &Connection, mode: &str) -> rusqlite::Result<u64> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
        Ok(r.get::<_, i64>(1)?.max(0) as u64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SqliteStore;
    use switchboard_core::store::{SessionStore, StoreWrite};
    use switchboard_protocol::SessionId;

    #[test]
    fn the_wal_stays_bounded_while_batches_keep_coming() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let policy = CheckpointPolicy {
            passive_every: Duration::from_millis(5),
            restart_above: 2 << 20,
        };
        let store = SqliteStore::open_with(&path, Durability::Process, policy).unwrap();
        let wal = dir.path().join("db.sqlite-wal");
        let mut largest = 0;
        // Frame bytes go to segment files; what a batch adds to the WAL is the pages its
        // rows touch (a few pages of 16 KiB each, however small the batch). 2,000 small
        // batches, a batch a millisecond (the persistence task writes one every few).
        let session = SessionId::new_v4();
        for batch in 0..2000u64 {
            let writes: Vec<StoreWrite> = (0..4)
                .map(|i| StoreWrite::Frame {
                    session,
                    seq: batch * 4 + i + 1,
                    bytes: format!(r#"{{"type":"cursor-response","n":{batch}}}"#).into(),
                })
                .collect();
            store.apply(&writes).unwrap();
            largest = largest.max(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0));
            std::thread::sleep(Duration::from_millis(1));
        }
        // With passive checkpoints only, the WAL would hold every page of every commit
        // (about 100 MiB here). How far it overshoots the threshold depends on what the
        // writer commits while a round runs, so the bound is loose; it shows that the WAL
        // starts over.
        assert!(
            largest < 16 << 20,
            "the WAL grew to {largest} bytes in 2,000 commits"
        );
        assert_eq!(
            store.read_frames(&session, 0, 100_000).unwrap().len(),
            2000 * 4
        );
    }
}

//! Batched persistence, off the hot path.
//!
//! Frames go to sockets as soon as they exist; this task writes them behind, one transaction
//! per batch (every `persist_batch_interval` or `persist_batch_frames`, whichever first).
//! The channel is bounded: if the disk cannot keep up, session actors wait on `send`, which
//! slows the agents' pipes rather than growing memory.
//!
//! Some writes must be durable before the caller goes on (a seq reservation, a flush at
//! shutdown). They carry an acknowledgement and cut the batching wait short.
//!
//! While a batch gathers, the task sleeps through the window rather than waking for each
//! frame: at a few thousand frames per second a wake-up per frame cost more than the write.
//! Acknowledged writes also ring a bell ([`Notify`]) that ends the sleep at once (one queued
//! just before the sleep began waits at most one window); they travel in the same queue as
//! frames, so they still commit after everything sent before.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, Notify};

use crate::store::{SessionStore, StoreError, StoreWrite};

/// One write plus what to do once it is committed.
pub struct PersistRequest {
    pub write: Option<StoreWrite>,
    /// Raised to this frame's seq after commit, so the journal ring may evict it.
    pub watermark: Option<(Arc<AtomicU64>, u64)>,
    /// Answered after commit; its presence also ends the batching wait.
    pub ack: Option<oneshot::Sender<Result<(), String>>>,
}

#[derive(Clone)]
pub struct Persister {
    tx: mpsc::Sender<PersistRequest>,
    /// Rung after an acknowledged write is queued: someone waits, so stop gathering.
    urgent: Arc<Notify>,
}

impl Persister {
    /// Starts the writer task. It ends when every `Persister` clone is dropped, after writing
    /// what it has.
    pub fn start(
        store: Arc<dyn SessionStore>,
        interval: Duration,
        max_batch: usize,
        persist_frames: bool,
    ) -> (Persister, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(max_batch.max(1) * 16);
        let urgent = Arc::new(Notify::new());
        let task = tokio::spawn(write_loop(
            store,
            rx,
            Arc::clone(&urgent),
            interval,
            max_batch.max(1),
            persist_frames,
        ));
        (Persister { tx, urgent }, task)
    }

    /// Queues a frame write. Returns `false` if the writer is gone (the server is stopping).
    pub async fn frame(&self, write: StoreWrite, watermark: Arc<AtomicU64>, seq: u64) -> bool {
        self.tx
            .send(PersistRequest {
                write: Some(write),
                watermark: Some((watermark, seq)),
                ack: None,
            })
            .await
            .is_ok()
    }

    /// Queues a write without waiting for it.
    pub async fn write(&self, write: StoreWrite) -> bool {
        self.tx
            .send(PersistRequest {
                write: Some(write),
                watermark: None,
                ack: None,
            })
            .await
            .is_ok()
    }

    /// Queues a write and returns a receiver answered once it is committed.
    pub async fn write_acked(
        &self,
        write: Option<StoreWrite>,
    ) -> oneshot::Receiver<Result<(), String>> {
        let (ack, rx) = oneshot::channel();
        let _ = self
            .tx
            .send(PersistRequest {
                write,
                watermark: None,
                ack: Some(ack),
            })
            .await;
        // Wakes the writer only if it is sleeping through a window now; a stored permit
        // would cut the next, unrelated window short.
        self.urgent.notify_waiters();
        rx
    }

    /// Waits until everything queued before this call is committed.
    pub async fn flush(&self) -> Result<(), String> {
        match self.write_acked(None).await.await {
            Ok(result) => result,
            Err(_) => Err("the persistence task has stopped".into()),
        }
    }
}

async fn write_loop(
    store: Arc<dyn SessionStore>,
    mut rx: mpsc::Receiver<PersistRequest>,
    urgent: Arc<Notify>,
    interval: Duration,
    max_batch: usize,
    persist_frames: bool,
) {
    let mut batch: Vec<PersistRequest> = Vec::with_capacity(max_batch);
    loop {
        if rx.recv_many(&mut batch, max_batch).await == 0 {
            break;
        }
        // Gather more until the window closes, unless the batch is full or someone waits
        // on it. What arrives meanwhile waits in the queue (bounded: a full queue makes the
        // session actors wait, which is the backpressure).
        if batch.len() < max_batch && !batch.iter().any(|r| r.ack.is_some()) {
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = urgent.notified() => {}
            }
            while batch.len() < max_batch {
                match rx.try_recv() {
                    Ok(request) => batch.push(request),
                    Err(_) => break,
                }
            }
        }
        let requests = std::mem::take(&mut batch);
        let store = Arc::clone(&store);
        let result = tokio::task::spawn_blocking(move || {
            let mut requests = requests;
            let writes: Vec<StoreWrite> = requests
                .iter_mut()
                .filter_map(|r| r.write.take())
                .filter(|w| persist_frames || !matches!(w, StoreWrite::Frame { .. }))
                .collect();
            let result = if writes.is_empty() {
                Ok(())
            } else {
                store.apply(&writes)
            };
            (requests, result)
        })
        .await;
        let (requests, result) = match result {
            Ok(done) => done,
            // The runtime is shutting down and dropped the blocking task before it ran; what
            // the shutdown flushed is already written, so this is a write that came later.
            Err(join) if join.is_cancelled() => {
                tracing::warn!("the server stopped before a late persistence batch was written");
                continue;
            }
            Err(join) => {
                tracing::error!(error = %join, "persistence batch panicked");
                continue;
            }
        };
        finish(requests, result);
    }
}

fn finish(requests: Vec<PersistRequest>, result: Result<(), StoreError>) {
    if let Err(e) = &result {
        // Frames stay in the ring (their watermark does not move), so nothing a subscriber
        // needs is lost while the server lives; the failure is loud.
        tracing::error!(error = %e, "persisting a batch failed");
    }
    for request in requests {
        if result.is_ok() {
            if let Some((mark, seq)) = &request.watermark {
                mark.fetch_max(*seq, Ordering::Release);
            }
        }
        if let Some(ack) = request.ack {
            let _ = ack.send(result.as_ref().map(|_| ()).map_err(|e| e.to_string()));
        }
    }
}

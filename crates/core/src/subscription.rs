//! Delivering one session's frames to one connection, with nothing lost and nothing twice.
//!
//! The order that makes it lossless: the live receiver is registered first (by
//! [`crate::Registry::attach`]), then the journal is read after the client's `lastSeq`, then
//! live frames follow, de-duplicated by seq. Any gap in the live stream (a lagging receiver
//! skipped frames, or frames were journaled before the receiver existed) is filled from the
//! journal before the next live frame goes out. A slow connection therefore never makes the
//! server buffer without bound: its receiver lags, and it is caught up from the journal.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{broadcast, mpsc};

use crate::fanout::LiveReceiver;
use crate::journal::Journal;
use crate::store::StoreError;

/// How many frames one journal read returns while catching up.
const CATCH_UP_BATCH: usize = 512;

#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("the connection is gone")]
    ConnectionClosed,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Sends every frame with `seq > delivered` to `out`, then follows the live stream until the
/// connection closes or the session leaves memory.
pub async fn forward(
    journal: Arc<Journal>,
    mut live: LiveReceiver,
    mut delivered: u64,
    out: mpsc::Sender<Bytes>,
) -> Result<(), ForwardError> {
    catch_up(&journal, &mut delivered, None, &out).await?;
    loop {
        match live.recv().await {
            Ok(frame) => {
                if frame.seq <= delivered {
                    continue;
                }
                if frame.seq > delivered + 1 {
                    catch_up(&journal, &mut delivered, Some(frame.seq - 1), &out).await?;
                }
                if frame.seq > delivered {
                    send(&out, frame.bytes).await?;
                    delivered = frame.seq;
                }
            }
            // Skipped frames are in the journal; the next live frame shows the gap.
            Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => {
                return catch_up(&journal, &mut delivered, None, &out).await;
            }
        }
    }
}

async fn catch_up(
    journal: &Journal,
    delivered: &mut u64,
    up_to: Option<u64>,
    out: &mpsc::Sender<Bytes>,
) -> Result<(), ForwardError> {
    loop {
        let batch = journal.read_after(*delivered, CATCH_UP_BATCH).await?;
        if batch.is_empty() {
            return Ok(());
        }
        for frame in batch {
            if up_to.is_some_and(|limit| frame.seq > limit) {
                return Ok(());
            }
            send(out, frame.bytes).await?;
            *delivered = frame.seq;
        }
    }
}

async fn send(out: &mpsc::Sender<Bytes>, bytes: Bytes) -> Result<(), ForwardError> {
    out.send(bytes)
        .await
        .map_err(|_| ForwardError::ConnectionClosed)
}

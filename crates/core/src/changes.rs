//! Notifications of session changes: a session's run started, its state changed (a run
//! ended), it learned its native id, or retention removed it. One broadcast channel for the
//! whole registry; the server turns each change into a `session-upserted` notification for
//! its clients. A receiver that lags loses old changes (they are hints to refetch, not a log).

use switchboard_protocol::{now_ms, Provider, RunState, SessionId};
use tokio::sync::broadcast;

use crate::registry::{Registry, Shared};
use crate::session::SessionHandle;

/// How many changes a slow receiver may fall behind before it lags.
pub const CHANGES_CAPACITY: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// A run started (the session may be new).
    Started,
    /// The state changed, or the native id was learned.
    Updated,
    /// Retention removed the session and its journal.
    Removed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionChange {
    pub session_id: SessionId,
    pub provider: Provider,
    pub project_id: Option<String>,
    pub state: RunState,
    pub kind: ChangeKind,
    pub at: u64,
}

pub(crate) fn channel() -> broadcast::Sender<SessionChange> {
    broadcast::channel(CHANGES_CAPACITY).0
}

/// Called by a session's actor once the change is queued for the store.
pub(crate) fn announce(shared: &Shared, handle: &SessionHandle, state: RunState, kind: ChangeKind) {
    // Nobody listening is fine.
    let _ = shared.changes.send(SessionChange {
        session_id: handle.id,
        provider: handle.provider,
        project_id: handle.project_id.clone(),
        state,
        kind,
        at: now_ms(),
    });
}

impl Registry {
    /// Every session change from now on.
    pub fn session_changes(&self) -> broadcast::Receiver<SessionChange> {
        self.shared.changes.subscribe()
    }
}

//! What the core needs from persistent storage. The `store` crate implements it on SQLite;
//! the trait keeps the core free of any database, and leaves room for a journal elsewhere
//! (a distributed log) as one more implementation.
//!
//! Every method is synchronous: the core calls them from the persistence task's blocking
//! section or from `spawn_blocking`, never on the async hot path.

use bytes::Bytes;
use switchboard_protocol::{Provider, RunState, SessionId};

use crate::frame::Frame;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage failed: {0}")]
    Backend(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// A session as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    pub id: SessionId,
    pub provider: Provider,
    pub project_id: Option<String>,
    pub project_name: Option<String>,
    pub cwd: String,
    pub native_id: Option<String>,
    pub model: Option<String>,
    pub state: RunState,
    pub created_at: u64,
    pub updated_at: u64,
    /// When the current or last run started.
    pub start_time: Option<u64>,
    /// Every seq up to this one may have been sent. The next session load continues above it.
    pub seq_reserved: u64,
    /// The highest seq in the stored journal (computed by the store on load).
    pub last_persisted_seq: u64,
    /// The id of the run that was live (its processes carry it as their marker), so the
    /// next start can end what a crashed server left running.
    pub live_run: Option<String>,
}

/// The mutable fields of a session, written after a state change.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionUpdate {
    pub id: SessionId,
    pub state: RunState,
    pub native_id: Option<String>,
    pub model: Option<String>,
    pub updated_at: u64,
    pub start_time: Option<u64>,
    pub live_run: Option<String>,
}

/// A registered project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectRecord {
    pub id: String,
    pub display_name: String,
    /// Absolute and canonical.
    pub path: String,
    /// The seed's encoding of the path; unique.
    pub project_name: String,
    pub created_at: u64,
}

/// One write, applied in order with the others of its batch, in one transaction.
#[derive(Debug, Clone)]
pub enum StoreWrite {
    CreateSession(SessionRecord),
    UpdateSession(SessionUpdate),
    Frame {
        session: SessionId,
        seq: u64,
        bytes: Bytes,
    },
    /// Raise (or, when the session is unloaded cleanly, lower to the last seq used) the
    /// reservation.
    SetSeqReserved {
        session: SessionId,
        seq: u64,
    },
    /// Forgets a session that never journaled a frame (its first command was refused).
    DeleteSession(SessionId),
}

pub trait SessionStore: Send + Sync + 'static {
    /// Applies the writes in order, atomically.
    fn apply(&self, writes: &[StoreWrite]) -> Result<(), StoreError>;
    fn load_session(&self, id: &SessionId) -> Result<Option<SessionRecord>, StoreError>;
    fn find_by_native_id(
        &self,
        provider: Provider,
        native_id: &str,
    ) -> Result<Option<SessionId>, StoreError>;
    /// Frames with `seq > after_seq`, in order, at most `limit`.
    fn read_frames(
        &self,
        id: &SessionId,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<Frame>, StoreError>;
    /// Sessions whose stored state is live (`running` or `queued`).
    fn live_sessions(&self) -> Result<Vec<SessionRecord>, StoreError>;
    fn list_projects(&self) -> Result<Vec<ProjectRecord>, StoreError>;
    /// Inserts the project, or returns the one already registered at that path.
    fn upsert_project(&self, project: &ProjectRecord) -> Result<ProjectRecord, StoreError>;
}

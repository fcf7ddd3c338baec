//! What the core needs from persistent storage. The `store` crate implements it on SQLite;
//! the trait keeps the core free of any database, and leaves room for a journal elsewhere
//! (a distributed log) as one more implementation.
//!
//! Every method is synchronous: the core calls them from the persistence task's blocking
//! section or from `spawn_blocking`, never on the async hot path.

use bytes::Bytes;
use switchboard_protocol::server::FrameEncoder;
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

impl SessionRecord {
    /// The encoder of this session's journaled frames (its id, provider and project).
    pub fn frame_encoder(&self) -> FrameEncoder {
        FrameEncoder::new(
            self.id,
            self.provider,
            self.project_name.as_deref(),
            self.project_id.as_deref(),
        )
    }
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

/// Which sessions one page of a listing holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionQuery {
    /// Only sessions of this project.
    pub project_id: Option<String>,
    /// Only sessions in one of these states (any state when empty).
    pub states: Vec<RunState>,
    /// Only sessions of one of these providers (any when empty).
    pub providers: Vec<Provider>,
    /// Keyset position: only sessions that sort after this `(updated_at, id)` in the listing's
    /// order (`updated_at` descending, then id descending).
    pub after: Option<(u64, SessionId)>,
    pub limit: usize,
}

/// Which frames [`SessionStore::read_frames_matching`] returns: those whose bytes start with
/// one of `prefixes` or contain one of `contains`. Callers parse what they get; this is a
/// coarse filter that lets the store skip the bulk of a journal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FrameFilter {
    pub prefixes: Vec<Vec<u8>>,
    pub contains: Vec<Vec<u8>>,
}

/// The size of a session's stored journal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JournalSize {
    pub frames: u64,
    pub bytes: u64,
}

/// A finished session whose journal retention may remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PruneCandidate {
    pub id: SessionId,
    pub provider: Provider,
    pub project_id: Option<String>,
    pub state: RunState,
    pub updated_at: u64,
    pub bytes: u64,
}

fn unsupported(what: &str) -> StoreError {
    StoreError::Backend(format!("this store cannot {what}"))
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
    /// Inserts the project, or returns the one already registered at that path. A project
    /// removed earlier at that path comes back with its id and `project_name`, and the new
    /// display name.
    fn upsert_project(&self, project: &ProjectRecord) -> Result<ProjectRecord, StoreError>;

    // ---- history and project administration (default: not supported) ----------------------

    /// A project by id; removed ones only when `include_removed`.
    fn project_by_id(
        &self,
        _id: &str,
        _include_removed: bool,
    ) -> Result<Option<ProjectRecord>, StoreError> {
        Err(unsupported("look projects up by id"))
    }
    /// Sets a project's display name; `None` when there is no such (unremoved) project.
    fn rename_project(
        &self,
        _id: &str,
        _display_name: &str,
    ) -> Result<Option<ProjectRecord>, StoreError> {
        Err(unsupported("rename projects"))
    }
    /// Unregisters a project. Its sessions and their journals stay; registering the same path
    /// again brings the project back with the same id. `false` when there was no such project.
    fn remove_project(&self, _id: &str, _removed_at: u64) -> Result<bool, StoreError> {
        Err(unsupported("remove projects"))
    }
    /// One page of sessions, most recently updated first. `last_persisted_seq` is filled in.
    fn list_sessions(&self, _query: &SessionQuery) -> Result<Vec<SessionRecord>, StoreError> {
        Err(unsupported("list sessions"))
    }
    /// Frames of a session that pass `filter`, with `seq > after_seq`, in order, at most
    /// `limit`.
    fn read_frames_matching(
        &self,
        _id: &SessionId,
        _filter: &FrameFilter,
        _after_seq: u64,
        _limit: usize,
    ) -> Result<Vec<Frame>, StoreError> {
        Err(unsupported("filter frames"))
    }
    fn journal_size(&self, _id: &SessionId) -> Result<JournalSize, StoreError> {
        Err(unsupported("measure journals"))
    }
    /// Sessions in a terminal state, least recently updated first, with their journal sizes.
    fn finished_sessions(&self, _limit: usize) -> Result<Vec<PruneCandidate>, StoreError> {
        Err(unsupported("list finished sessions"))
    }
    /// The size of every stored journal together.
    fn total_journal_bytes(&self) -> Result<u64, StoreError> {
        Err(unsupported("measure journals"))
    }
    /// Removes a session and its journal, but only while its stored state is terminal and
    /// it has no live run; `false` when it was left alone.
    fn delete_finished_session(&self, _id: &SessionId) -> Result<bool, StoreError> {
        Err(unsupported("delete sessions"))
    }
}

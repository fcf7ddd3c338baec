//! SQLite persistence: projects, sessions and every journaled frame.
//!
//! One file in the data dir, in WAL mode, and beside it a folder of segment files that hold
//! the journal's frame bytes (see `segments`). Writes come from the core's persistence task,
//! one transaction per batch, on a dedicated connection; reads (replay, lookups) use a second
//! connection, so a long replay never waits for a write batch and vice versa.

mod checkpoint;
pub mod conversations;
mod journal;
mod segments;

use std::path::Path;

use journal::FRAME_BYTES_OF_ROW;
use parking_lot::Mutex;
use rusqlite::{params, Connection, OptionalExtension};
use switchboard_core::frame::Frame;
use switchboard_core::store::{
    FrameFilter, JournalSize, ProjectRecord, PruneCandidate, SessionQuery, SessionRecord,
    SessionStore, StoreError, StoreWrite,
};
use switchboard_protocol::{Provider, RunState, SessionId};

/// How hard a commit tries to reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Survives a crash of the server (the OS has the data); a power loss can lose the last
    /// commits. SQLite `synchronous=NORMAL` in WAL mode.
    #[default]
    Process,
    /// Every commit is fsynced: survives power loss. `synchronous=FULL`.
    Power,
}

#[derive(Debug, thiserror::Error)]
pub enum SqliteStoreError {
    #[error("cannot open the database {path}: {source}")]
    Open {
        path: String,
        source: rusqlite::Error,
    },
    #[error("cannot migrate the database: {0}")]
    Migrate(rusqlite::Error),
    #[error("cannot start the checkpoint thread: {0}")]
    Thread(String),
    #[error("cannot open the journal segments in {path}: {source}")]
    Segments {
        path: String,
        source: std::io::Error,
    },
}

pub struct SqliteStore {
    writer: Mutex<Connection>,
    /// Taken after `writer`, only by the writes.
    segment_writer: Mutex<segments::SegmentWriter>,
    /// Copies the WAL back into the database behind the writer (see `checkpoint`).
    checkpointer: checkpoint::Checkpointer,
    reader: Mutex<Connection>,
    /// Taken after `reader`, only by journal reads.
    row_cache: Mutex<journal::RowCache>,
    /// Taken after `row_cache`.
    segment_reader: Mutex<segments::SegmentReader>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS projects (
    id TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    path TEXT NOT NULL UNIQUE,
    project_name TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    project_id TEXT,
    project_name TEXT,
    cwd TEXT NOT NULL,
    native_id TEXT,
    model TEXT,
    state TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    start_time INTEGER,
    seq_reserved INTEGER NOT NULL,
    live_run TEXT
);
CREATE INDEX IF NOT EXISTS sessions_by_native ON sessions(provider, native_id);
CREATE INDEX IF NOT EXISTS sessions_by_state ON sessions(state);
-- session ids are stored as 16 raw bytes here: this table has a row per frame. Version 4
-- moves the frames into `journal`, a row per chunk of frames (see journal.rs).
CREATE TABLE IF NOT EXISTS frames (
    session BLOB NOT NULL,
    seq INTEGER NOT NULL,
    bytes BLOB NOT NULL,
    PRIMARY KEY (session, seq)
) WITHOUT ROWID;
";

/// Version 2: projects can be removed (and come back with their id); sessions are listed by
/// `(updated_at, id)`, overall and per project.
const SCHEMA_V2: &str = "
BEGIN;
ALTER TABLE projects ADD COLUMN removed_at INTEGER;
CREATE INDEX IF NOT EXISTS sessions_by_updated ON sessions(updated_at, id);
CREATE INDEX IF NOT EXISTS sessions_by_project ON sessions(project_id, updated_at, id);
PRAGMA user_version = 2;
COMMIT;
";

/// The states a session can be pruned in (no run, nothing queued).
const TERMINAL_STATES: &str = "('completed', 'failed', 'aborted', 'interrupted')";

/// The journal keys sessions by their 16 raw bytes; this turns `sessions.id` into them.
const SESSION_KEY_OF_ROW: &str = "unhex(replace(sessions.id, '-', ''))";

/// One configured connection to the database at `path` (not yet migrated).
pub(crate) fn open_connection(
    path: &Path,
    durability: Durability,
) -> Result<Connection, SqliteStoreError> {
    let conn = Connection::open(path).map_err(|source| SqliteStoreError::Open {
        path: path.display().to_string(),
        source,
    })?;
    configure(&conn, durability).map_err(SqliteStoreError::Migrate)?;
    Ok(conn)
}

impl SqliteStore {
    pub fn open(path: &Path, durability: Durability) -> Result<Self, SqliteStoreError> {
        Self::open_with(path, durability, checkpoint::CheckpointPolicy::default())
    }

    fn open_with(
        path: &Path,
        durability: Durability,
        policy: checkpoint::CheckpointPolicy,
    ) -> Result<Self, SqliteStoreError> {
        let writer = open_connection(path, durability)?;
        migrate(&writer).map_err(SqliteStoreError::Migrate)?;
        // The checkpoint thread does this writer's checkpoints; when the WAL starts over,
        // the writer trims its file back to the size that triggers a rewind.
        writer
            .pragma_update(None, "wal_autocheckpoint", 0)
            .and_then(|()| {
                writer.pragma_update(None, "journal_size_limit", policy.restart_above as i64)
            })
            .map_err(SqliteStoreError::Migrate)?;
        let reader = open_connection(path, durability)?;
        let folder = segments::folder_of(path);
        let segment_writer =
            segments::SegmentWriter::open(folder.clone(), durability == Durability::Power)
                .map_err(|source| SqliteStoreError::Segments {
                    path: folder.display().to_string(),
                    source,
                })?;
        let checkpointer = checkpoint::Checkpointer::start(
            path,
            durability,
            policy,
            segment_writer.open_segment(),
        )?;
        Ok(Self {
            writer: Mutex::new(writer),
            segment_writer: Mutex::new(segment_writer),
            checkpointer,
            reader: Mutex::new(reader),
            row_cache: Mutex::default(),
            segment_reader: Mutex::new(segments::SegmentReader::new(folder)),
        })
    }
}

/// Page size of a new database file. Journal rows are about 1 KiB (a whole JSON frame): with
/// the default 4 KiB pages only three or four fit on a leaf, and appending splits and
/// rebalances pages all the time (a tenth of the server's CPU while relaying). Existing files
/// keep the size they were created with (changing it would need a `VACUUM`).
const NEW_FILE_PAGE_SIZE: u32 = 16 * 1024;

fn configure(conn: &Connection, durability: Durability) -> rusqlite::Result<()> {
    // Must come before the file's first page is written; a no-op for an existing file.
    conn.pragma_update(None, "page_size", NEW_FILE_PAGE_SIZE)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(
        None,
        "synchronous",
        match durability {
            Durability::Process => "NORMAL",
            Durability::Power => "FULL",
        },
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(())
}

fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version < 1 {
        conn.execute_batch(SCHEMA)?;
        conn.pragma_update(None, "user_version", 1)?;
    }
    if version < 2 {
        // Sets user_version itself, inside its transaction.
        conn.execute_batch(SCHEMA_V2)?;
    }
    if version < 3 {
        // Likewise.
        conn.execute_batch(conversations::SCHEMA_V3)?;
    }
    if version < 4 {
        conn.execute_batch(journal::SCHEMA_V4)?;
    }
    if version < 5 {
        conn.execute_batch(journal::SCHEMA_V5)?;
    }
    Ok(())
}

/// A write transaction that takes the write lock at its start. The database has two
/// writers (the session store's and the conversation log's connections); a deferred
/// transaction that reads first fails at once with "database is locked" if the other one
/// commits before it writes, where this one waits out the busy timeout instead.
pub(crate) fn write_transaction(
    conn: &mut Connection,
) -> rusqlite::Result<rusqlite::Transaction<'_>> {
    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
}

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// A session row's columns, then the last stored seq of the session keyed `session_key`.
fn session_columns(session_key: &str) -> String {
    format!(
        "id, provider, project_id, project_name, cwd, native_id, model, state, created_at, \
         updated_at, start_time, seq_reserved, live_run, {}",
        journal::last_seq_of(session_key)
    )
}

fn session_from_row(
    row: &rusqlite::Row<'_>,
) -> rusqlite::Result<Result<SessionRecord, StoreError>> {
    let id: String = row.get(0)?;
    let provider: String = row.get(1)?;
    let state: String = row.get(7)?;
    let parsed = (|| {
        Ok(SessionRecord {
            id: SessionId::parse(&id)
                .ok_or_else(|| StoreError::Corrupt(format!("session id {id:?}")))?,
            provider: Provider::parse(&provider)
                .ok_or_else(|| StoreError::Corrupt(format!("provider {provider:?}")))?,
            project_id: row.get(2).map_err(backend)?,
            project_name: row.get(3).map_err(backend)?,
            cwd: row.get(4).map_err(backend)?,
            native_id: row.get(5).map_err(backend)?,
            model: row.get(6).map_err(backend)?,
            state: RunState::parse(&state)
                .ok_or_else(|| StoreError::Corrupt(format!("state {state:?}")))?,
            created_at: row.get::<_, i64>(8).map_err(backend)? as u64,
            updated_at: row.get::<_, i64>(9).map_err(backend)? as u64,
            start_time: row
                .get::<_, Option<i64>>(10)
                .map_err(backend)?
                .map(|t| t as u64),
            seq_reserved: row.get::<_, i64>(11).map_err(backend)? as u64,
            live_run: row.get(12).map_err(backend)?,
            last_persisted_seq: row.get::<_, i64>(13).map_err(backend)? as u64,
        })
    })();
    Ok(parsed)
}

fn project_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ProjectRecord> {
    Ok(ProjectRecord {
        id: r.get(0)?,
        display_name: r.get(1)?,
        path: r.get(2)?,
        project_name: r.get(3)?,
        created_at: r.get::<_, i64>(4)? as u64,
    })
}

/// Runs a statement of the persistence batch, prepared once per connection: the same few
/// statements run in every batch, and preparing (parsing the SQL) cost more than running them.
fn execute_cached(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<usize, StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut stmt| stmt.execute(params))
        .map_err(backend)
}

impl SessionStore for SqliteStore {
    fn apply(&self, writes: &[StoreWrite]) -> Result<(), StoreError> {
        let mut conn = self.writer.lock();
        let mut segments = self.segment_writer.lock();
        let tx = write_transaction(&mut conn).map_err(backend)?;
        let mut unlisted = Vec::new();
        {
            // Frames are gathered into chunks (see `journal`); any other write first stores
            // the chunks gathered so far, so the writes keep their order.
            let mut chunks = journal::ChunkBuilder::default();
            for write in writes {
                if !matches!(write, StoreWrite::Frame { .. }) {
                    chunks.write(&tx, &mut segments)?;
                }
                match write {
                    StoreWrite::Frame {
                        session,
                        seq,
                        bytes,
                    } => chunks.push(*session, *seq, bytes),
                    StoreWrite::CreateSession(r) => {
                        execute_cached(
                            &tx,
                            "INSERT INTO sessions (id, provider, project_id, project_name, cwd, native_id, model, \
                             state, created_at, updated_at, start_time, seq_reserved, live_run) \
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) \
                             ON CONFLICT(id) DO NOTHING",
                            params![
                                r.id.to_string(),
                                r.provider.as_str(),
                                r.project_id,
                                r.project_name,
                                r.cwd,
                                r.native_id,
                                r.model,
                                r.state.as_str(),
                                r.created_at as i64,
                                r.updated_at as i64,
                                r.start_time.map(|t| t as i64),
                                r.seq_reserved as i64,
                                r.live_run,
                            ],
                        )?;
                    }
                    StoreWrite::UpdateSession(u) => {
                        execute_cached(
                            &tx,
                            "UPDATE sessions SET state = ?2, native_id = ?3, model = ?4, updated_at = ?5, \
                             start_time = ?6, live_run = ?7 WHERE id = ?1",
                            params![
                                u.id.to_string(),
                                u.state.as_str(),
                                u.native_id,
                                u.model,
                                u.updated_at as i64,
                                u.start_time.map(|t| t as i64),
                                u.live_run,
                            ],
                        )?;
                    }
                    StoreWrite::DeleteSession(session) => {
                        execute_cached(
                            &tx,
                            "DELETE FROM sessions WHERE id = ?1",
                            params![session.to_string()],
                        )?;
                        unlisted.extend(journal::delete_session(&tx, session)?);
                    }
                    StoreWrite::SetSeqReserved { session, seq } => {
                        execute_cached(
                            &tx,
                            "UPDATE sessions SET seq_reserved = ?2 WHERE id = ?1",
                            params![session.to_string(), *seq as i64],
                        )?;
                    }
                }
            }
            chunks.write(&tx, &mut segments)?;
        }
        tx.commit().map_err(backend)?;
        segments.delete_unlisted(unlisted);
        self.checkpointer.committed();
        Ok(())
    }

    fn load_session(&self, id: &SessionId) -> Result<Option<SessionRecord>, StoreError> {
        let conn = self.reader.lock();
        let sql = format!(
            "SELECT {} FROM sessions WHERE id = ?2",
            session_columns("?1")
        );
        conn.query_row(
            &sql,
            params![&id.as_uuid().as_bytes()[..], id.to_string()],
            session_from_row,
        )
        .optional()
        .map_err(backend)?
        .transpose()
    }

    fn find_by_native_id(
        &self,
        provider: Provider,
        native_id: &str,
    ) -> Result<Option<SessionId>, StoreError> {
        let conn = self.reader.lock();
        let id: Option<String> = conn
            .query_row(
                "SELECT id FROM sessions WHERE provider = ?1 AND native_id = ?2 ORDER BY created_at DESC LIMIT 1",
                params![provider.as_str(), native_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(backend)?;
        Ok(id.and_then(|id| SessionId::parse(&id)))
    }

    fn read_frames(
        &self,
        id: &SessionId,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<Frame>, StoreError> {
        journal::read(
            &self.reader.lock(),
            &mut self.row_cache.lock(),
            &mut self.segment_reader.lock(),
            id,
            after_seq,
            limit,
        )
    }

    fn live_sessions(&self) -> Result<Vec<SessionRecord>, StoreError> {
        let conn = self.reader.lock();
        let ids: Vec<String> = {
            let mut stmt = conn
                .prepare("SELECT id FROM sessions WHERE state IN ('running', 'queued')")
                .map_err(backend)?;
            let rows = stmt.query_map([], |r| r.get(0)).map_err(backend)?;
            rows.collect::<Result<_, _>>().map_err(backend)?
        };
        drop(conn);
        let mut records = Vec::new();
        for id in ids {
            let id = SessionId::parse(&id)
                .ok_or_else(|| StoreError::Corrupt(format!("session id {id:?}")))?;
            if let Some(record) = self.load_session(&id)? {
                records.push(record);
            }
        }
        Ok(records)
    }

    fn list_projects(&self) -> Result<Vec<ProjectRecord>, StoreError> {
        let conn = self.reader.lock();
        let mut stmt = conn
            .prepare(
                "SELECT id, display_name, path, project_name, created_at FROM projects \
                 WHERE removed_at IS NULL ORDER BY created_at",
            )
            .map_err(backend)?;
        let rows = stmt.query_map([], project_from_row).map_err(backend)?;
        rows.collect::<Result<_, _>>().map_err(backend)
    }

    fn upsert_project(&self, project: &ProjectRecord) -> Result<ProjectRecord, StoreError> {
        let mut conn = self.writer.lock();
        let tx = write_transaction(&mut conn).map_err(backend)?;
        let existing = tx
            .query_row(
                "SELECT id, display_name, path, project_name, created_at FROM projects WHERE path = ?1",
                params![project.path],
                project_from_row,
            )
            .optional()
            .map_err(backend)?;
        if let Some(existing) = existing {
            let removed: bool = tx
                .query_row(
                    "SELECT removed_at IS NOT NULL FROM projects WHERE id = ?1",
                    params![existing.id],
                    |r| r.get(0),
                )
                .map_err(backend)?;
            if !removed {
                return Ok(existing);
            }
            // Registered again: the same id and projectName, so its history joins up.
            tx.execute(
                "UPDATE projects SET removed_at = NULL, display_name = ?2 WHERE id = ?1",
                params![existing.id, project.display_name],
            )
            .map_err(backend)?;
            tx.commit().map_err(backend)?;
            return Ok(ProjectRecord {
                display_name: project.display_name.clone(),
                ..existing
            });
        }
        // The seed's name is lossy; two paths can share it. Keep names unique with a suffix.
        let mut name = project.project_name.clone();
        let mut n = 2;
        while tx
            .query_row(
                "SELECT 1 FROM projects WHERE project_name = ?1",
                params![name],
                |_| Ok(()),
            )
            .optional()
            .map_err(backend)?
            .is_some()
        {
            name = format!("{}-{n}", project.project_name);
            n += 1;
        }
        let stored = ProjectRecord {
            project_name: name,
            ..project.clone()
        };
        tx.execute(
            "INSERT INTO projects (id, display_name, path, project_name, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                stored.id,
                stored.display_name,
                stored.path,
                stored.project_name,
                stored.created_at as i64
            ],
        )
        .map_err(backend)?;
        tx.commit().map_err(backend)?;
        Ok(stored)
    }

    fn project_by_id(
        &self,
        id: &str,
        include_removed: bool,
    ) -> Result<Option<ProjectRecord>, StoreError> {
        let conn = self.reader.lock();
        conn.query_row(
            "SELECT id, display_name, path, project_name, created_at FROM projects \
             WHERE id = ?1 AND (?2 OR removed_at IS NULL)",
            params![id, include_removed],
            project_from_row,
        )
        .optional()
        .map_err(backend)
    }

    fn rename_project(
        &self,
        id: &str,
        display_name: &str,
    ) -> Result<Option<ProjectRecord>, StoreError> {
        let mut conn = self.writer.lock();
        let tx = write_transaction(&mut conn).map_err(backend)?;
        let changed = tx
            .execute(
                "UPDATE projects SET display_name = ?2 WHERE id = ?1 AND removed_at IS NULL",
                params![id, display_name],
            )
            .map_err(backend)?;
        if changed == 0 {
            return Ok(None);
        }
        let project = tx
            .query_row(
                "SELECT id, display_name, path, project_name, created_at FROM projects WHERE id = ?1",
                params![id],
                project_from_row,
            )
            .map_err(backend)?;
        tx.commit().map_err(backend)?;
        Ok(Some(project))
    }

    fn remove_project(&self, id: &str, removed_at: u64) -> Result<bool, StoreError> {
        let conn = self.writer.lock();
        let changed = conn
            .execute(
                "UPDATE projects SET removed_at = ?2 WHERE id = ?1 AND removed_at IS NULL",
                params![id, removed_at as i64],
            )
            .map_err(backend)?;
        Ok(changed > 0)
    }

    fn list_sessions(&self, query: &SessionQuery) -> Result<Vec<SessionRecord>, StoreError> {
        let mut sql = format!(
            "SELECT {} FROM sessions WHERE 1",
            session_columns(SESSION_KEY_OF_ROW)
        );
        let mut values: Vec<rusqlite::types::Value> = Vec::new();
        let mut bind = |sql: &mut String, value: rusqlite::types::Value| {
            values.push(value);
            sql.push_str(&format!("?{}", values.len()));
        };
        if let Some(project) = &query.project_id {
            sql.push_str(" AND project_id = ");
            bind(&mut sql, project.clone().into());
        }
        if !query.states.is_empty() {
            sql.push_str(" AND state IN (");
            for (i, state) in query.states.iter().enumerate() {
                if i > 0 {
                    sql.push_str(", ");
                }
                bind(&mut sql, state.as_str().to_owned().into());
            }
            sql.push(')');
        }
        if !query.providers.is_empty() {
            sql.push_str(" AND provider IN (");
            for (i, provider) in query.providers.iter().enumerate() {
                if i > 0 {
                    sql.push_str(", ");
                }
                bind(&mut sql, provider.as_str().to_owned().into());
            }
            sql.push(')');
        }
        if let Some((updated_at, id)) = &query.after {
            sql.push_str(" AND (updated_at < ");
            bind(&mut sql, (*updated_at as i64).into());
            sql.push_str(" OR (updated_at = ");
            bind(&mut sql, (*updated_at as i64).into());
            sql.push_str(" AND id < ");
            bind(&mut sql, id.to_string().into());
            sql.push_str("))");
        }
        sql.push_str(" ORDER BY updated_at DESC, id DESC LIMIT ");
        bind(&mut sql, (query.limit.min(i64::MAX as usize) as i64).into());
        let conn = self.reader.lock();
        let mut stmt = conn.prepare(&sql).map_err(backend)?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(values), session_from_row)
            .map_err(backend)?;
        let mut records = Vec::new();
        for row in rows {
            records.push(row.map_err(backend)??);
        }
        Ok(records)
    }

    fn read_frames_matching(
        &self,
        id: &SessionId,
        filter: &FrameFilter,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<Frame>, StoreError> {
        let reader = self.reader.lock();
        journal::read_matching(
            &reader,
            &mut self.segment_reader.lock(),
            id,
            filter,
            after_seq,
            limit,
        )
    }

    fn journal_size(&self, id: &SessionId) -> Result<JournalSize, StoreError> {
        journal::size(&self.reader.lock(), id)
    }

    fn finished_sessions(&self, limit: usize) -> Result<Vec<PruneCandidate>, StoreError> {
        let sql = format!(
            "SELECT id, provider, project_id, state, updated_at, \
             (SELECT COALESCE(SUM({FRAME_BYTES_OF_ROW}), 0) FROM journal \
              WHERE journal.session = {SESSION_KEY_OF_ROW}) \
             FROM sessions WHERE state IN {TERMINAL_STATES} AND live_run IS NULL \
             ORDER BY updated_at, id LIMIT ?1"
        );
        let conn = self.reader.lock();
        let mut stmt = conn.prepare(&sql).map_err(backend)?;
        let rows = stmt
            .query_map(params![limit.min(i64::MAX as usize) as i64], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, i64>(4)? as u64,
                    r.get::<_, i64>(5)? as u64,
                ))
            })
            .map_err(backend)?;
        let mut out = Vec::new();
        for row in rows {
            let (id, provider, project_id, state, updated_at, bytes) = row.map_err(backend)?;
            out.push(PruneCandidate {
                id: SessionId::parse(&id)
                    .ok_or_else(|| StoreError::Corrupt(format!("session id {id:?}")))?,
                provider: Provider::parse(&provider)
                    .ok_or_else(|| StoreError::Corrupt(format!("provider {provider:?}")))?,
                project_id,
                state: RunState::parse(&state)
                    .ok_or_else(|| StoreError::Corrupt(format!("state {state:?}")))?,
                updated_at,
                bytes,
            });
        }
        Ok(out)
    }

    fn total_journal_bytes(&self) -> Result<u64, StoreError> {
        let conn = self.reader.lock();
        conn.query_row(
            &format!("SELECT COALESCE(SUM({FRAME_BYTES_OF_ROW}), 0) FROM journal"),
            [],
            |r| r.get::<_, i64>(0),
        )
        .map(|n| n as u64)
        .map_err(backend)
    }

    fn delete_finished_session(&self, id: &SessionId) -> Result<bool, StoreError> {
        let mut conn = self.writer.lock();
        let segments = self.segment_writer.lock();
        let tx = write_transaction(&mut conn).map_err(backend)?;
        let deleted = tx
            .execute(
                &format!(
                    "DELETE FROM sessions WHERE id = ?1 AND state IN {TERMINAL_STATES} \
                     AND live_run IS NULL"
                ),
                params![id.to_string()],
            )
            .map_err(backend)?;
        if deleted == 0 {
            return Ok(false);
        }
        let unlisted = journal::delete_session(&tx, id)?;
        tx.commit().map_err(backend)?;
        segments.delete_unlisted(unlisted);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn record(id: SessionId) -> SessionRecord {
        SessionRecord {
            id,
            provider: Provider::Cursor,
            project_id: Some("p".into()),
            project_name: Some("-p".into()),
            cwd: "/p".into(),
            native_id: None,
            model: None,
            state: RunState::Running,
            created_at: 1,
            updated_at: 1,
            start_time: Some(1),
            seq_reserved: 1000,
            last_persisted_seq: 0,
            live_run: None,
        }
    }

    #[test]
    fn sessions_frames_and_reservations_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("db.sqlite"), Durability::Process).unwrap();
        let id = SessionId::new_v4();
        let mut writes = vec![StoreWrite::CreateSession(record(id))];
        for seq in 1..=5u64 {
            writes.push(StoreWrite::Frame {
                session: id,
                seq,
                bytes: format!("{{\"seq\":{seq}}}").into_bytes().into(),
            });
        }
        store.apply(&writes).unwrap();
        let loaded = store.load_session(&id).unwrap().unwrap();
        assert_eq!(loaded.last_persisted_seq, 5);
        assert_eq!(loaded.seq_reserved, 1000);
        assert_eq!(store.live_sessions().unwrap().len(), 1);
        let frames = store.read_frames(&id, 2, 2).unwrap();
        assert_eq!(frames.iter().map(|f| f.seq).collect::<Vec<_>>(), vec![3, 4]);
        store
            .apply(&[StoreWrite::SetSeqReserved {
                session: id,
                seq: 5,
            }])
            .unwrap();
        assert_eq!(store.load_session(&id).unwrap().unwrap().seq_reserved, 5);
        assert!(store.load_session(&SessionId::new_v4()).unwrap().is_none());
    }

    fn frame_write(id: SessionId, seq: u64, text: &str) -> StoreWrite {
        StoreWrite::Frame {
            session: id,
            seq,
            bytes: text.as_bytes().to_vec().into(),
        }
    }

    #[test]
    fn sessions_list_in_stable_keyset_pages() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("db.sqlite"), Durability::Process).unwrap();
        let mut ids = Vec::new();
        let mut writes = Vec::new();
        for i in 0..25u64 {
            let id = SessionId::new_v4();
            ids.push(id);
            let mut r = record(id);
            // Five sessions share each updated_at, so the id breaks ties.
            r.updated_at = 100 + i / 5;
            r.project_id = Some(if i % 2 == 0 { "even" } else { "odd" }.into());
            r.provider = if i % 3 == 0 {
                Provider::Claude
            } else {
                Provider::Cursor
            };
            r.state = if i % 4 == 0 {
                RunState::Completed
            } else {
                RunState::Running
            };
            writes.push(StoreWrite::CreateSession(r));
            writes.push(frame_write(id, 1, "{}"));
            writes.push(frame_write(id, 2 + i, "{}"));
        }
        store.apply(&writes).unwrap();
        let page = |after, limit| {
            store
                .list_sessions(&SessionQuery {
                    project_id: None,
                    states: vec![],
                    providers: vec![],
                    after,
                    limit,
                })
                .unwrap()
        };
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let batch = page(after, 4);
            if batch.is_empty() {
                break;
            }
            let last = batch.last().unwrap();
            after = Some((last.updated_at, last.id));
            seen.extend(batch);
        }
        assert_eq!(seen.len(), 25);
        let mut sorted = seen.clone();
        sorted.sort_by(|a, b| {
            (b.updated_at, b.id.to_string()).cmp(&(a.updated_at, a.id.to_string()))
        });
        assert_eq!(seen, sorted, "one order, no duplicates, nothing skipped");
        let with_seq = seen.iter().find(|r| r.id == ids[7]).unwrap();
        assert_eq!(with_seq.last_persisted_seq, 9);

        let filtered = store
            .list_sessions(&SessionQuery {
                project_id: Some("even".into()),
                states: vec![RunState::Completed],
                providers: vec![Provider::Claude],
                after: None,
                limit: 100,
            })
            .unwrap();
        // i even, i % 4 == 0, i % 3 == 0: 0 and 12 and 24.
        let mut expected = vec![ids[0], ids[12], ids[24]];
        expected.sort_by_key(|id| std::cmp::Reverse(id.to_string()));
        let mut got: Vec<SessionId> = filtered.iter().map(|r| r.id).collect();
        got.sort_by_key(|id| std::cmp::Reverse(id.to_string()));
        assert_eq!(got, expected);
    }

    #[test]
    fn projects_rename_remove_and_come_back_with_their_id() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("db.sqlite"), Durability::Process).unwrap();
        let p = ProjectRecord {
            id: "p1".into(),
            display_name: "one".into(),
            path: "/a/one".into(),
            project_name: "-a-one".into(),
            created_at: 1,
        };
        store.upsert_project(&p).unwrap();
        let renamed = store.rename_project("p1", "Uno").unwrap().unwrap();
        assert_eq!(renamed.display_name, "Uno");
        assert!(store.rename_project("nope", "x").unwrap().is_none());
        assert!(store.remove_project("p1", 5).unwrap());
        assert!(!store.remove_project("p1", 6).unwrap(), "already removed");
        assert!(store.list_projects().unwrap().is_empty());
        assert!(store.project_by_id("p1", false).unwrap().is_none());
        assert!(store.project_by_id("p1", true).unwrap().is_some());
        assert!(store.rename_project("p1", "x").unwrap().is_none());
        let back = store
            .upsert_project(&ProjectRecord {
                id: "p2".into(),
                display_name: "again".into(),
                ..p.clone()
            })
            .unwrap();
        assert_eq!(
            (
                back.id.as_str(),
                back.project_name.as_str(),
                back.display_name.as_str()
            ),
            ("p1", "-a-one", "again")
        );
        assert_eq!(store.list_projects().unwrap(), vec![back]);
    }

    #[test]
    fn filtered_frames_sizes_and_pruning() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("db.sqlite"), Durability::Process).unwrap();
        let done = SessionId::new_v4();
        let live = SessionId::new_v4();
        let mut finished = record(done);
        finished.state = RunState::Completed;
        store
            .apply(&[
                StoreWrite::CreateSession(finished),
                StoreWrite::CreateSession(record(live)),
                frame_write(done, 1, r#"{"type":"session-accepted","x":1}"#),
                frame_write(
                    done,
                    2,
                    r#"{"type":"cursor-response","event":{"kind":"usage"}}"#,
                ),
                frame_write(
                    done,
                    3,
                    r#"{"type":"cursor-response","event":{"kind":"text"}}"#,
                ),
                frame_write(live, 1, r#"{"type":"session-accepted"}"#),
            ])
            .unwrap();
        let filter = FrameFilter {
            prefixes: vec![br#"{"type":"session-accepted""#.to_vec()],
            contains: vec![br#""kind":"usage""#.to_vec()],
        };
        let seqs: Vec<u64> = store
            .read_frames_matching(&done, &filter, 0, 10)
            .unwrap()
            .iter()
            .map(|f| f.seq)
            .collect();
        assert_eq!(seqs, vec![1, 2]);
        assert_eq!(
            store
                .read_frames_matching(&done, &filter, 1, 10)
                .unwrap()
                .len(),
            1
        );
        let size = store.journal_size(&done).unwrap();
        assert_eq!(size.frames, 3);
        let total = store.total_journal_bytes().unwrap();
        assert_eq!(total, size.bytes + store.journal_size(&live).unwrap().bytes);
        let candidates = store.finished_sessions(10).unwrap();
        assert_eq!(candidates.len(), 1);
        assert_eq!((candidates[0].id, candidates[0].bytes), (done, size.bytes));
        assert!(!store.delete_finished_session(&live).unwrap(), "running");
        assert!(store.delete_finished_session(&done).unwrap());
        assert!(store.load_session(&done).unwrap().is_none());
        assert_eq!(store.journal_size(&done).unwrap().frames, 0);
        assert!(store.load_session(&live).unwrap().is_some());
    }

    #[test]
    fn a_version_1_database_is_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(SCHEMA).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
            conn.execute("INSERT INTO projects VALUES ('p', 'p', '/p', '-p', 1)", [])
                .unwrap();
        }
        let store = SqliteStore::open(&path, Durability::Process).unwrap();
        assert_eq!(store.list_projects().unwrap().len(), 1);
        assert!(store.remove_project("p", 2).unwrap());
        drop(store);
        // Opening again does not migrate twice.
        let store = SqliteStore::open(&path, Durability::Process).unwrap();
        assert!(store.list_projects().unwrap().is_empty());
    }

    #[test]
    fn project_names_stay_unique() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("db.sqlite"), Durability::Power).unwrap();
        let p = |path: &str| ProjectRecord {
            id: path.into(),
            display_name: "x".into(),
            path: path.into(),
            project_name: "-a-b".into(),
            created_at: 1,
        };
        assert_eq!(
            store.upsert_project(&p("/a/b")).unwrap().project_name,
            "-a-b"
        );
        assert_eq!(
            store.upsert_project(&p("/a_b")).unwrap().project_name,
            "-a-b-2"
        );
        assert_eq!(store.upsert_project(&p("/a/b")).unwrap().id, "/a/b");
        assert_eq!(store.list_projects().unwrap().len(), 2);
    }
}

//! SQLite persistence: projects, sessions and every journaled frame.
//!
//! One file in the data dir, in WAL mode. Writes come from the core's persistence task, one
//! transaction per batch, on a dedicated connection; reads (replay, lookups) use a second
//! connection, so a long replay never waits for a write batch and vice versa.

use std::path::Path;

use parking_lot::Mutex;
use rusqlite::{params, Connection, OptionalExtension};
use switchboard_core::frame::Frame;
use switchboard_core::store::{ProjectRecord, SessionRecord, SessionStore, StoreError, StoreWrite};
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
}

pub struct SqliteStore {
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
}

const SCHEMA_VERSION: i64 = 1;

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
-- session ids are stored as 16 raw bytes here: this table has a row per frame.
CREATE TABLE IF NOT EXISTS frames (
    session BLOB NOT NULL,
    seq INTEGER NOT NULL,
    bytes BLOB NOT NULL,
    PRIMARY KEY (session, seq)
) WITHOUT ROWID;
";

impl SqliteStore {
    pub fn open(path: &Path, durability: Durability) -> Result<Self, SqliteStoreError> {
        let open = || {
            Connection::open(path).map_err(|source| SqliteStoreError::Open {
                path: path.display().to_string(),
                source,
            })
        };
        let writer = open()?;
        configure(&writer, durability).map_err(SqliteStoreError::Migrate)?;
        migrate(&writer).map_err(SqliteStoreError::Migrate)?;
        let reader = open()?;
        configure(&reader, durability).map_err(SqliteStoreError::Migrate)?;
        Ok(Self {
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
        })
    }
}

fn configure(conn: &Connection, durability: Durability) -> rusqlite::Result<()> {
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
    if version < SCHEMA_VERSION {
        conn.execute_batch(SCHEMA)?;
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    }
    Ok(())
}

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

const SESSION_COLUMNS: &str =
    "id, provider, project_id, project_name, cwd, native_id, model, state, created_at, \
     updated_at, start_time, seq_reserved, live_run, \
     (SELECT COALESCE(MAX(seq), 0) FROM frames WHERE frames.session = ?1)";

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

impl SessionStore for SqliteStore {
    fn apply(&self, writes: &[StoreWrite]) -> Result<(), StoreError> {
        let mut conn = self.writer.lock();
        let tx = conn.transaction().map_err(backend)?;
        {
            let mut insert_frame = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO frames (session, seq, bytes) VALUES (?1, ?2, ?3)",
                )
                .map_err(backend)?;
            for write in writes {
                match write {
                    StoreWrite::Frame {
                        session,
                        seq,
                        bytes,
                    } => {
                        insert_frame
                            .execute(params![
                                &session.as_uuid().as_bytes()[..],
                                *seq as i64,
                                &bytes[..]
                            ])
                            .map_err(backend)?;
                    }
                    StoreWrite::CreateSession(r) => {
                        tx.execute(
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
                        )
                        .map_err(backend)?;
                    }
                    StoreWrite::UpdateSession(u) => {
                        tx.execute(
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
                        )
                        .map_err(backend)?;
                    }
                    StoreWrite::DeleteSession(session) => {
                        tx.execute(
                            "DELETE FROM sessions WHERE id = ?1",
                            params![session.to_string()],
                        )
                        .map_err(backend)?;
                        tx.execute(
                            "DELETE FROM frames WHERE session = ?1",
                            params![&session.as_uuid().as_bytes()[..]],
                        )
                        .map_err(backend)?;
                    }
                    StoreWrite::SetSeqReserved { session, seq } => {
                        tx.execute(
                            "UPDATE sessions SET seq_reserved = ?2 WHERE id = ?1",
                            params![session.to_string(), *seq as i64],
                        )
                        .map_err(backend)?;
                    }
                }
            }
        }
        tx.commit().map_err(backend)
    }

    fn load_session(&self, id: &SessionId) -> Result<Option<SessionRecord>, StoreError> {
        let conn = self.reader.lock();
        let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?2");
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
        let conn = self.reader.lock();
        let mut stmt = conn
            .prepare_cached("SELECT seq, bytes FROM frames WHERE session = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3")
            .map_err(backend)?;
        let rows = stmt
            .query_map(
                params![&id.as_uuid().as_bytes()[..], after_seq as i64, limit as i64],
                |r| {
                    Ok(Frame::new(
                        r.get::<_, i64>(0)? as u64,
                        r.get::<_, Vec<u8>>(1)?,
                    ))
                },
            )
            .map_err(backend)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(backend)
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
            .prepare("SELECT id, display_name, path, project_name, created_at FROM projects ORDER BY created_at")
            .map_err(backend)?;
        let rows = stmt.query_map([], project_from_row).map_err(backend)?;
        rows.collect::<Result<_, _>>().map_err(backend)
    }

    fn upsert_project(&self, project: &ProjectRecord) -> Result<ProjectRecord, StoreError> {
        let mut conn = self.writer.lock();
        let tx = conn.transaction().map_err(backend)?;
        let existing = tx
            .query_row(
                "SELECT id, display_name, path, project_name, created_at FROM projects WHERE path = ?1",
                params![project.path],
                project_from_row,
            )
            .optional()
            .map_err(backend)?;
        if let Some(existing) = existing {
            return Ok(existing);
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: SessionId) -> SessionRecord {
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

//! The conversations of the HTTP agent loop (`openrouter`, `local`): every user, assistant and
//! tool message, in order, so a resumed session can send its history back to the model.
//!
//! The table is this module's alone (schema version 3). It is keyed by the agent's native
//! session id; messages are stored as JSON text, opaque to the store.
//!
//! [`SqliteConversations`] is a handle of its own on the database file (one connection, WAL
//! mode), so the agents can be built before the session store and never wait behind a
//! journal write batch for long.

use std::path::Path;

use parking_lot::Mutex;
use rusqlite::{params, Connection};
use serde_json::Value;
use switchboard_agent_api::{ConversationError, ConversationLog};

use crate::{migrate, open_connection, Durability, SqliteStoreError};

/// Version 3: the conversation table.
pub(crate) const SCHEMA_V3: &str = "
BEGIN;
CREATE TABLE IF NOT EXISTS conversation_messages (
    conversation TEXT NOT NULL,
    position INTEGER NOT NULL,
    message TEXT NOT NULL,
    PRIMARY KEY (conversation, position)
) WITHOUT ROWID;
PRAGMA user_version = 3;
COMMIT;
";

/// The conversation log on the server's SQLite database.
pub struct SqliteConversations {
    conn: Mutex<Connection>,
}

impl SqliteConversations {
    /// Opens (and migrates, if needed) the database at `path`.
    pub fn open(path: &Path, durability: Durability) -> Result<Self, SqliteStoreError> {
        let conn = open_connection(path, durability)?;
        migrate(&conn).map_err(SqliteStoreError::Migrate)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }
}

fn storage(e: rusqlite::Error) -> ConversationError {
    ConversationError::Storage(e.to_string())
}

impl ConversationLog for SqliteConversations {
    fn load(&self, conversation: &str) -> Result<Vec<Value>, ConversationError> {
        let conn = self.conn.lock();
        let mut statement = conn
            .prepare_cached(
                "SELECT message FROM conversation_messages WHERE conversation = ?1 \
                 ORDER BY position",
            )
            .map_err(storage)?;
        let rows = statement
            .query_map(params![conversation], |row| row.get::<_, String>(0))
            .map_err(storage)?;
        let mut messages = Vec::new();
        for text in rows {
            let text = text.map_err(storage)?;
            let message = serde_json::from_str(&text)
                .map_err(|e| ConversationError::Corrupt(format!("{conversation}: {e}")))?;
            messages.push(message);
        }
        Ok(messages)
    }

    fn append(&self, conversation: &str, messages: &[Value]) -> Result<(), ConversationError> {
        let mut conn = self.conn.lock();
        // It reads before it writes: see `write_transaction`.
        let tx = crate::write_transaction(&mut conn).map_err(storage)?;
        let next: i64 = tx
            .query_row(
                "SELECT COALESCE(MAX(position), 0) FROM conversation_messages \
                 WHERE conversation = ?1",
                params![conversation],
                |row| row.get(0),
            )
            .map_err(storage)?;
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO conversation_messages (conversation, position, message) \
                     VALUES (?1, ?2, ?3)",
                )
                .map_err(storage)?;
            for (offset, message) in messages.iter().enumerate() {
                insert
                    .execute(params![
                        conversation,
                        next + 1 + offset as i64,
                        message.to_string()
                    ])
                    .map_err(storage)?;
            }
        }
        tx.commit().map_err(storage)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::SqliteStore;

    #[test]
    fn appends_in_order_per_conversation_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        // The session store and the conversation log share one file and one migration path.
        let _store = SqliteStore::open(&path, Durability::Process).unwrap();
        let log = SqliteConversations::open(&path, Durability::Process).unwrap();
        assert!(log.load("a").unwrap().is_empty());
        log.append("a", &[json!({"role": "user", "content": "one"})])
            .unwrap();
        log.append("b", &[json!({"role": "user", "content": "other"})])
            .unwrap();
        log.append(
            "a",
            &[
                json!({"role": "assistant", "content": "two"}),
                json!({"role": "tool", "tool_call_id": "c", "content": "three"}),
            ],
        )
        .unwrap();
        drop(log);
        let log = SqliteConversations::open(&path, Durability::Process).unwrap();
        let a = log.load("a").unwrap();
        let contents: Vec<&str> = a.iter().map(|m| m["content"].as_str().unwrap()).collect();
        assert_eq!(contents, ["one", "two", "three"]);
        assert_eq!(log.load("b").unwrap().len(), 1);
    }

    #[test]
    fn an_old_database_gains_the_table() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(crate::SCHEMA).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
        }
        let log = SqliteConversations::open(&path, Durability::Process).unwrap();
        log.append("x", &[json!("m")]).unwrap();
        let conn = Connection::open(&path).unwrap();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert!(version >= 3);
    }
}

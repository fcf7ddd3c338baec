//! The `journal` table: every session's frames, stored as chunks of consecutive frames.
//!
//! A row holds the frames `seq ..= last_seq` of one session, joined by `\n`. One row per
//! persistence batch instead of one per frame: SQLite's cost is mostly per row (binding,
//! the B-tree descent, page splits as rows append), and a relayed frame is only ~1 KiB, so
//! row-per-frame spent more CPU on SQLite than on everything else the server does with a
//! frame. The newline is a safe separator: a frame is one compact JSON text, and compact
//! JSON never contains a raw newline (inside strings it is escaped as `\n`). Should a frame
//! hold one all the same (an agent's pretty-printed JSON passed through as `data`), it gets
//! a row of its own, and a row of one frame is never split.
//!
//! It is a rowid table with a small unique index on `(session, seq)`, not a `WITHOUT ROWID`
//! table keyed by `(session, seq)` as the per-frame `frames` table of versions 1 to 3 was:
//! in an index B-tree SQLite compares keys by loading a cell's whole payload, overflow
//! pages included, so every insert read back the chunks it passed on its way down. In a
//! rowid table an append only compares integers, and the index entries stay small.
//!
//! The version 4 migration moves the old per-frame rows over as chunks of one (`last_seq`
//! NULL), which read like any other row.
//!
//! Since version 5 a row's frames are not in the row: `bytes` is empty and the row points at
//! them in a segment file (`segment`, `segment_offset`, `byte_len`; see [`crate::segments`]).
//! Rows written before keep their bytes, and reads take either.
//!
//! Readers tolerate overlap (a seq stored twice is returned once, the first time), so a
//! frame written again after a crash can never be delivered twice.

use std::collections::VecDeque;

use bytes::Bytes;
use rusqlite::{params, Connection};
use switchboard_core::frame::Frame;
use switchboard_core::store::{FrameFilter, JournalSize, StoreError};
use switchboard_protocol::SessionId;

use crate::backend;
use crate::segments::{SegmentReader, SegmentWriter};

/// Version 4: the journal holds chunks of consecutive frames, in a rowid table.
pub(crate) const SCHEMA_V4: &str = "
BEGIN;
CREATE TABLE journal (
    session BLOB NOT NULL,
    seq INTEGER NOT NULL,
    -- NULL for a chunk of one frame. Before `bytes`, so reading it never touches the
    -- chunk's overflow pages.
    last_seq INTEGER,
    bytes BLOB NOT NULL
);
CREATE UNIQUE INDEX journal_by_seq ON journal(session, seq);
INSERT INTO journal (session, seq, last_seq, bytes) SELECT session, seq, NULL, bytes FROM frames;
DROP TABLE frames;
PRAGMA user_version = 4;
COMMIT;
";

/// The last stored seq of the session whose key is the SQL expression `session_key`, 0 if
/// none. Chunks of a session do not overlap, so the one that starts last ends last.
pub(crate) fn last_seq_of(session_key: &str) -> String {
    format!(
        "COALESCE((SELECT {LAST_SEQ_OF_ROW} FROM journal WHERE journal.session = {session_key} \
         ORDER BY seq DESC LIMIT 1), 0)"
    )
}

/// Version 5: the frames of new rows are in segment files; the row says where.
pub(crate) const SCHEMA_V5: &str = "
BEGIN;
ALTER TABLE journal ADD COLUMN segment INTEGER;
ALTER TABLE journal ADD COLUMN segment_offset INTEGER;
ALTER TABLE journal ADD COLUMN byte_len INTEGER;
CREATE INDEX journal_by_segment ON journal(segment) WHERE segment IS NOT NULL;
PRAGMA user_version = 5;
COMMIT;
";

/// The last seq of a row (a macro, so that the constants below can be built from it).
macro_rules! last_seq_of_row {
    () => {
        "COALESCE(last_seq, seq)"
    };
}
pub(crate) const LAST_SEQ_OF_ROW: &str = last_seq_of_row!();

/// The bytes of a row's frames, without their separators: what the frames weigh on the wire.
pub(crate) const FRAME_BYTES_OF_ROW: &str = concat!(
    "(COALESCE(byte_len, length(bytes)) - (",
    last_seq_of_row!(),
    " - seq))"
);

/// The columns [`collect`] reads, in its order.
const ROW_COLUMNS: &str = concat!(
    "seq, ",
    last_seq_of_row!(),
    ", bytes, segment, segment_offset, byte_len"
);

const SEPARATOR: u8 = b'\n';

/// Consecutive frames of one session, ready to be one row.
#[derive(Debug)]
struct Chunk {
    session: SessionId,
    first: u64,
    last: u64,
    bytes: Vec<u8>,
    /// Nothing may be appended (the frame holds a newline).
    sealed: bool,
}

/// Gathers a batch's frame writes into chunks: a chunk per session and run of consecutive
/// seqs, in the order they arrived.
#[derive(Debug, Default)]
pub(crate) struct ChunkBuilder {
    chunks: Vec<Chunk>,
}

impl ChunkBuilder {
    pub(crate) fn push(&mut self, session: SessionId, seq: u64, frame: &[u8]) {
        let sealed = memchr::memchr(SEPARATOR, frame).is_some();
        // Sessions interleave in a batch; the open chunk of this one is usually the last
        // or close to it, so search from the end.
        let open = self
            .chunks
            .iter_mut()
            .rev()
            .find(|chunk| chunk.session == session);
        match open {
            Some(chunk) if seq == chunk.last + 1 && !chunk.sealed && !sealed => {
                chunk.bytes.push(SEPARATOR);
                chunk.bytes.extend_from_slice(frame);
                chunk.last = seq;
            }
            _ => self.chunks.push(Chunk {
                session,
                first: seq,
                last: seq,
                bytes: frame.to_vec(),
                sealed,
            }),
        }
    }

    /// Stores every chunk gathered so far: their bytes in one append to the open segment,
    /// then a row for each that says where they are.
    pub(crate) fn write(
        &mut self,
        conn: &Connection,
        segments: &mut SegmentWriter,
    ) -> Result<(), StoreError> {
        if self.chunks.is_empty() {
            return Ok(());
        }
        let mut batch = Vec::with_capacity(self.chunks.iter().map(|c| c.bytes.len()).sum());
        for chunk in &self.chunks {
            batch.extend_from_slice(&chunk.bytes);
        }
        let (segment, mut offset) = segments
            .append(&batch)
            .map_err(|e| StoreError::Backend(format!("cannot write a journal segment: {e}")))?;
        // A first seq already stored means this batch was written before (a retry): the
        // readers skip seqs they have seen, so keeping the first copy is enough.
        let mut insert = conn
            .prepare_cached(
                "INSERT OR IGNORE INTO journal \
                 (session, seq, last_seq, bytes, segment, segment_offset, byte_len) \
                 VALUES (?1, ?2, ?3, x'', ?4, ?5, ?6)",
            )
            .map_err(backend)?;
        for chunk in self.chunks.drain(..) {
            let len = chunk.bytes.len() as u64;
            insert
                .execute(params![
                    &chunk.session.as_uuid().as_bytes()[..],
                    chunk.first as i64,
                    // A chunk of one is stored as rows always were.
                    (chunk.last != chunk.first).then_some(chunk.last as i64),
                    segment as i64,
                    offset as i64,
                    len as i64,
                ])
                .map_err(backend)?;
            offset += len;
        }
        Ok(())
    }
}

/// Deletes a session's rows; returns the segments that no row lists any more (their files
/// can go once the transaction commits).
pub(crate) fn delete_session(
    conn: &Connection,
    session: &SessionId,
) -> Result<Vec<u64>, StoreError> {
    let key = &session.as_uuid().as_bytes()[..];
    let used: Vec<u64> = conn
        .prepare_cached(
            "SELECT DISTINCT segment FROM journal WHERE session = ?1 AND segment IS NOT NULL",
        )
        .and_then(|mut stmt| {
            stmt.query_map(params![key], |r| r.get::<_, i64>(0))?
                .map(|id| id.map(|id| id as u64))
                .collect()
        })
        .map_err(backend)?;
    conn.prepare_cached("DELETE FROM journal WHERE session = ?1")
        .and_then(|mut stmt| stmt.execute(params![key]))
        .map_err(backend)?;
    let mut unlisted = Vec::new();
    let mut listed = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM journal WHERE segment = ?1)")
        .map_err(backend)?;
    for id in used {
        if !listed
            .query_row(params![id as i64], |r| r.get::<_, bool>(0))
            .map_err(backend)?
        {
            unlisted.push(id);
        }
    }
    Ok(unlisted)
}

/// Which rows a read starts at: the row holding `after_seq + 1` (or the first after it).
/// Chunks of a session never overlap in normal operation, so the row with the highest first
/// seq at or below `after_seq + 1` is the only earlier row that can hold wanted frames.
const ROWS_FROM: &str = "session = ?1 AND seq >= COALESCE(\
     (SELECT MAX(seq) FROM journal WHERE session = ?1 AND seq <= ?2 + 1), 0)";

/// Up to `limit` frames of `session` after `after_seq`, in seq order.
pub(crate) fn read(
    conn: &Connection,
    cache: &mut RowCache,
    segments: &mut SegmentReader,
    session: &SessionId,
    after_seq: u64,
    limit: usize,
) -> Result<Vec<Frame>, StoreError> {
    let sql = format!("SELECT {ROW_COLUMNS} FROM journal WHERE {ROWS_FROM} ORDER BY seq");
    let mut stmt = conn.prepare_cached(&sql).map_err(backend)?;
    let rows = stmt
        .query(params![&session.as_uuid().as_bytes()[..], clamp(after_seq)])
        .map_err(backend)?;
    collect(
        session,
        rows,
        segments,
        after_seq,
        limit,
        Some(cache),
        |_| true,
    )
}

/// Up to `limit` frames after `after_seq` that start with one of the filter's prefixes or
/// contain one of its needles. SQLite skips the rows that hold their bytes where neither
/// occurs anywhere; rows whose bytes are in a segment are tested here.
pub(crate) fn read_matching(
    conn: &Connection,
    segments: &mut SegmentReader,
    session: &SessionId,
    filter: &FrameFilter,
    after_seq: u64,
    limit: usize,
) -> Result<Vec<Frame>, StoreError> {
    if filter.prefixes.is_empty() && filter.contains.is_empty() {
        return Ok(Vec::new());
    }
    let mut values: Vec<rusqlite::types::Value> = vec![
        session.as_uuid().as_bytes().to_vec().into(),
        clamp(after_seq).into(),
    ];
    let mut tests = Vec::new();
    for needle in filter.prefixes.iter().chain(&filter.contains) {
        values.push(needle.clone().into());
        tests.push(format!("instr(bytes, ?{}) > 0", values.len()));
    }
    let sql = format!(
        "SELECT {ROW_COLUMNS} FROM journal WHERE {ROWS_FROM} \
         AND (segment IS NOT NULL OR {}) ORDER BY seq",
        tests.join(" OR ")
    );
    let mut stmt = conn.prepare(&sql).map_err(backend)?;
    let rows = stmt
        .query(rusqlite::params_from_iter(values))
        .map_err(backend)?;
    collect(session, rows, segments, after_seq, limit, None, |frame| {
        filter.prefixes.iter().any(|p| frame.starts_with(p))
            || filter
                .contains
                .iter()
                .any(|needle| memchr::memmem::find(frame, needle).is_some())
    })
}

/// The frame count and frame bytes of a session's stored journal.
pub(crate) fn size(conn: &Connection, session: &SessionId) -> Result<JournalSize, StoreError> {
    conn.query_row(
        &format!(
            "SELECT COALESCE(SUM({LAST_SEQ_OF_ROW} - seq + 1), 0), \
             COALESCE(SUM({FRAME_BYTES_OF_ROW}), 0) FROM journal WHERE session = ?1"
        ),
        params![&session.as_uuid().as_bytes()[..]],
        |r| {
            Ok(JournalSize {
                frames: r.get::<_, i64>(0)? as u64,
                bytes: r.get::<_, i64>(1)? as u64,
            })
        },
    )
    .map_err(backend)
}

/// A row's frame bytes: from its segment, or (rows from before version 5) from the row.
fn row_bytes(
    session: &SessionId,
    row: &rusqlite::Row<'_>,
    segments: &mut SegmentReader,
    first: u64,
) -> Result<Bytes, StoreError> {
    let Some(segment) = row.get::<_, Option<i64>>(3).map_err(backend)? else {
        // SQLite reads a row's bytes (its overflow pages) only when the column is asked for.
        return Ok(Bytes::from(row.get::<_, Vec<u8>>(2).map_err(backend)?));
    };
    let offset = row.get::<_, i64>(4).map_err(backend)?;
    let len = row.get::<_, i64>(5).map_err(backend)?;
    segments
        .read(segment as u64, offset as u64, len as usize)
        .map(Bytes::from)
        .map_err(|e| {
            StoreError::Corrupt(format!(
                "the journal row of session {session} at seq {first} points at bytes that \
                 cannot be read ({e})"
            ))
        })
}

fn clamp(seq: u64) -> i64 {
    seq.min(i64::MAX as u64 - 1) as i64
}

/// Rows that a read stopped inside, kept so that the next read (which starts in the same
/// row) does not fetch and copy the whole row from SQLite again. A catch-up reads a few
/// hundred frames at a time and a row holds up to a persistence batch, so without this
/// most rows were read twice. Rows never change once written (a retry is ignored, and a
/// pruned session is no longer listed by the query that consults the cache).
#[derive(Default)]
pub(crate) struct RowCache {
    rows: VecDeque<CachedRow>,
}

struct CachedRow {
    session: SessionId,
    first: u64,
    last: u64,
    bytes: Bytes,
}

/// Enough for a few subscriptions catching up at once; a row is at most a batch.
const CACHED_ROWS: usize = 8;

impl RowCache {
    fn get(&self, session: &SessionId, first: u64, last: u64) -> Option<Bytes> {
        self.rows
            .iter()
            .find(|r| r.session == *session && r.first == first && r.last == last)
            .map(|r| r.bytes.clone())
    }

    fn put(&mut self, session: SessionId, first: u64, last: u64, bytes: Bytes) {
        if self.get(&session, first, last).is_some() {
            return;
        }
        if self.rows.len() == CACHED_ROWS {
            self.rows.pop_front();
        }
        self.rows.push_back(CachedRow {
            session,
            first,
            last,
            bytes,
        });
    }
}

/// Splits rows into frames: those after `after_seq` that `keep` accepts, each seq once,
/// until `limit`. Frames share their row's buffer (no copy per frame).
fn collect(
    session: &SessionId,
    mut rows: rusqlite::Rows<'_>,
    segments: &mut SegmentReader,
    after_seq: u64,
    limit: usize,
    mut cache: Option<&mut RowCache>,
    keep: impl Fn(&[u8]) -> bool,
) -> Result<Vec<Frame>, StoreError> {
    let mut frames = Vec::new();
    let mut seen = after_seq;
    while let Some(row) = rows.next().map_err(backend)? {
        let first = row.get::<_, i64>(0).map_err(backend)? as u64;
        let last = row.get::<_, i64>(1).map_err(backend)? as u64;
        if last <= seen {
            continue;
        }
        let bytes = match cache.as_deref().and_then(|c| c.get(session, first, last)) {
            Some(bytes) => bytes,
            None => row_bytes(session, row, segments, first)?,
        };
        if first == last {
            // One frame, never split (it may hold a newline of its own).
            seen = first;
            if keep(&bytes) {
                frames.push(Frame::new(first, bytes));
                if frames.len() >= limit {
                    return Ok(frames);
                }
            }
            continue;
        }
        let mut seq = first;
        let mut start = 0;
        let ends = memchr::memchr_iter(SEPARATOR, &bytes).chain(std::iter::once(bytes.len()));
        for end in ends {
            if seq > last {
                break;
            }
            if seq > seen {
                seen = seq;
                if keep(&bytes[start..end]) {
                    frames.push(Frame::new(seq, bytes.slice(start..end)));
                    if frames.len() >= limit {
                        if seq < last {
                            if let Some(cache) = cache.as_deref_mut() {
                                cache.put(*session, first, last, bytes.clone());
                            }
                        }
                        return Ok(frames);
                    }
                }
            }
            start = end + 1;
            seq += 1;
        }
        if seq != last + 1 || start != bytes.len() + 1 {
            return Err(StoreError::Corrupt(format!(
                "the journal row of session {session} at seq {first} does not hold frames \
                 {first} to {last}"
            )));
        }
    }
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Durability, SqliteStore};
    use switchboard_core::store::{SessionStore, StoreWrite};

    fn frame(session: SessionId, seq: u64) -> StoreWrite {
        StoreWrite::Frame {
            session,
            seq,
            bytes: format!(r#"{{"type":"cursor-response","seq":{seq}}}"#).into(),
        }
    }

    fn frames(session: SessionId, seqs: std::ops::RangeInclusive<u64>) -> Vec<StoreWrite> {
        seqs.map(|seq| frame(session, seq)).collect()
    }

    fn seqs(frames: &[Frame]) -> Vec<u64> {
        frames.iter().map(|f| f.seq).collect()
    }

    fn open(dir: &tempfile::TempDir) -> SqliteStore {
        SqliteStore::open(&dir.path().join("db.sqlite"), Durability::Process).unwrap()
    }

    #[test]
    fn reads_start_inside_chunks_and_cross_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        let a = SessionId::new_v4();
        let b = SessionId::new_v4();
        // Two batches for `a` (1..=5 and 6..=9), interleaved with `b`.
        let first: Vec<_> = (1..=5).flat_map(|s| [frame(a, s), frame(b, s)]).collect();
        store.apply(&first).unwrap();
        store.apply(&frames(a, 6..=9)).unwrap();

        assert_eq!(
            seqs(&store.read_frames(&a, 0, 100).unwrap()),
            (1..=9).collect::<Vec<_>>()
        );
        assert_eq!(
            seqs(&store.read_frames(&a, 3, 100).unwrap()),
            (4..=9).collect::<Vec<_>>()
        );
        assert_eq!(
            seqs(&store.read_frames(&a, 3, 4).unwrap()),
            vec![4, 5, 6, 7]
        );
        assert_eq!(seqs(&store.read_frames(&a, 5, 2).unwrap()), vec![6, 7]);
        assert!(store.read_frames(&a, 9, 100).unwrap().is_empty());
        assert_eq!(seqs(&store.read_frames(&b, 4, 100).unwrap()), vec![5]);
        // Each frame is its own bytes, without separators.
        let frames = store.read_frames(&a, 6, 1).unwrap();
        assert_eq!(
            &frames[0].bytes[..],
            br#"{"type":"cursor-response","seq":7}"#
        );

        let size = store.journal_size(&a).unwrap();
        assert_eq!(size.frames, 9);
        let wire: usize = store
            .read_frames(&a, 0, 100)
            .unwrap()
            .iter()
            .map(|f| f.bytes.len())
            .sum();
        assert_eq!(size.bytes, wire as u64);
        store
            .apply(&[StoreWrite::CreateSession(crate::tests::record(a))])
            .unwrap();
        assert_eq!(
            store.load_session(&a).unwrap().unwrap().last_persisted_seq,
            9
        );
    }

    #[test]
    fn a_seq_stored_twice_is_read_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        let a = SessionId::new_v4();
        store.apply(&frames(a, 1..=4)).unwrap();
        // A retry of an overlapping batch starting at 3 (a new first seq, so a new row).
        store.apply(&frames(a, 3..=6)).unwrap();
        // And the same first batch again: ignored.
        store.apply(&frames(a, 1..=4)).unwrap();
        assert_eq!(
            seqs(&store.read_frames(&a, 0, 100).unwrap()),
            (1..=6).collect::<Vec<_>>()
        );
        assert_eq!(
            seqs(&store.read_frames(&a, 2, 100).unwrap()),
            (3..=6).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_frame_holding_a_newline_reads_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        let a = SessionId::new_v4();
        let mut writes = frames(a, 1..=2);
        writes.push(StoreWrite::Frame {
            session: a,
            seq: 3,
            bytes: "{\n\"pretty\": true\n}".to_owned().into(),
        });
        writes.extend(frames(a, 4..=5));
        store.apply(&writes).unwrap();
        let frames = store.read_frames(&a, 0, 100).unwrap();
        assert_eq!(seqs(&frames), vec![1, 2, 3, 4, 5]);
        assert_eq!(&frames[2].bytes[..], b"{\n\"pretty\": true\n}");
    }

    #[test]
    fn a_row_that_does_not_hold_its_seqs_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        let a = SessionId::new_v4();
        store
            .writer
            .lock()
            .execute(
                "INSERT INTO journal (session, seq, last_seq, bytes) VALUES (?1, 1, 5, ?2)",
                params![&a.as_uuid().as_bytes()[..], &b"{}\n{}\n{}"[..]],
            )
            .unwrap();
        assert!(matches!(
            store.read_frames(&a, 0, 100),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[test]
    fn filters_apply_to_each_frame_of_a_chunk() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        let a = SessionId::new_v4();
        let text = |seq: u64, body: &str| StoreWrite::Frame {
            session: a,
            seq,
            bytes: body.to_owned().into(),
        };
        store
            .apply(&[
                text(1, r#"{"type":"session-accepted"}"#),
                text(2, r#"{"type":"cursor-response","event":{"kind":"text"}}"#),
                text(3, r#"{"type":"cursor-response","event":{"kind":"usage"}}"#),
                text(
                    4,
                    r#"{"type":"cursor-response","note":"{\"type\":\"session-accepted\""}"#,
                ),
            ])
            .unwrap();
        let filter = FrameFilter {
            prefixes: vec![br#"{"type":"session-accepted""#.to_vec()],
            contains: vec![br#""kind":"usage""#.to_vec()],
        };
        // Frame 4 contains the prefix's text, but does not start with it.
        assert_eq!(
            seqs(&store.read_frames_matching(&a, &filter, 0, 10).unwrap()),
            vec![1, 3]
        );
        assert_eq!(
            seqs(&store.read_frames_matching(&a, &filter, 1, 10).unwrap()),
            vec![3]
        );
        assert_eq!(
            seqs(&store.read_frames_matching(&a, &filter, 0, 1).unwrap()),
            vec![1]
        );
    }

    #[test]
    fn segments_go_once_no_row_lists_them_and_a_lost_tail_reads_as_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let folder = crate::segments::folder_of(&path);
        let listed = || {
            let mut ids = crate::segments::list(&folder).unwrap();
            ids.sort();
            ids
        };
        let (a, b, c) = (
            SessionId::new_v4(),
            SessionId::new_v4(),
            SessionId::new_v4(),
        );
        {
            let store = open(&dir);
            store.apply(&frames(a, 1..=3)).unwrap();
            store.apply(&frames(b, 1..=2)).unwrap();
        }
        // A new store writes a new segment, and reads the old one.
        let store = open(&dir);
        store.apply(&frames(a, 4..=5)).unwrap();
        assert_eq!(listed(), vec![1, 2]);
        assert_eq!(
            seqs(&store.read_frames(&a, 0, 100).unwrap()),
            vec![1, 2, 3, 4, 5]
        );
        assert_eq!(
            &store.read_frames(&a, 3, 1).unwrap()[0].bytes[..],
            br#"{"type":"cursor-response","seq":4}"#
        );

        // Segment 1 goes with the last session that has frames in it; the segment being
        // written stays.
        store.apply(&[StoreWrite::DeleteSession(b)]).unwrap();
        assert_eq!(listed(), vec![1, 2]);
        store.apply(&[StoreWrite::DeleteSession(a)]).unwrap();
        assert_eq!(listed(), vec![2]);
        assert!(store.read_frames(&a, 0, 100).unwrap().is_empty());

        // Bytes lost after their rows were stored (a power cut) read as corrupt, never as
        // some other frames.
        store.apply(&frames(c, 1..=3)).unwrap();
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(folder.join(format!("{:016x}.frames", 2)))
            .unwrap();
        file.set_len(10).unwrap();
        assert!(matches!(
            store.read_frames(&c, 0, 100),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[test]
    fn per_frame_rows_from_before_version_4_are_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let a = SessionId::new_v4();
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(crate::SCHEMA).unwrap();
            conn.pragma_update(None, "user_version", 3).unwrap();
            for seq in 1..=3i64 {
                conn.execute(
                    "INSERT INTO frames (session, seq, bytes) VALUES (?1, ?2, ?3)",
                    params![
                        &a.as_uuid().as_bytes()[..],
                        seq,
                        format!("old{seq}").as_bytes()
                    ],
                )
                .unwrap();
            }
        }
        let store = SqliteStore::open(&path, Durability::Process).unwrap();
        store.apply(&frames(a, 4..=6)).unwrap();
        let frames = store.read_frames(&a, 1, 100).unwrap();
        assert_eq!(seqs(&frames), vec![2, 3, 4, 5, 6]);
        assert_eq!(&frames[0].bytes[..], b"old2");
        assert_eq!(store.journal_size(&a).unwrap().frames, 6);
    }

    fn builder_chunks(builder: &ChunkBuilder) -> Vec<(u64, u64, String)> {
        builder
            .chunks
            .iter()
            .map(|c| (c.first, c.last, String::from_utf8(c.bytes.clone()).unwrap()))
            .collect()
    }

    #[test]
    fn consecutive_frames_of_a_session_share_a_chunk() {
        let a = SessionId::new_v4();
        let b = SessionId::new_v4();
        let mut builder = ChunkBuilder::default();
        builder.push(a, 1, b"a1");
        builder.push(b, 7, b"b7");
        builder.push(a, 2, b"a2");
        builder.push(b, 8, b"b8");
        builder.push(a, 4, b"a4"); // a gap starts a new chunk
        builder.push(a, 5, b"a5");
        builder.push(a, 6, b"a\n6"); // a newline: a row of its own
        builder.push(a, 7, b"a7");
        assert_eq!(
            builder_chunks(&builder),
            vec![
                (1, 2, "a1\na2".into()),
                (7, 8, "b7\nb8".into()),
                (4, 5, "a4\na5".into()),
                (6, 6, "a\n6".into()),
                (7, 7, "a7".into()),
            ]
        );
    }
}

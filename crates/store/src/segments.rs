//! Segment files: where the journal's frame bytes live.
//!
//! The `journal` table indexes chunks of frames (session, seqs, where the bytes are); the
//! bytes themselves are appended to segment files next to the database. Kept in SQLite, every
//! byte of every frame was written twice (into the WAL, then copied into the database file by
//! the checkpoint) and checksummed on the way: the checkpoint alone was a sixth of the
//! server's CPU while relaying. Appended to a file, a byte is written once.
//!
//! - A segment is append-only. A batch's chunks go out in one `write` before the batch's
//!   rows commit, so a committed row always points at bytes already handed to the kernel.
//!   A batch that fails to commit leaves unreferenced bytes behind, which no row reads.
//! - A segment is closed at [`SEGMENT_MAX_BYTES`] and never written again; a new store (a
//!   restart) starts a new segment rather than append behind a tail that a crash may have
//!   torn.
//! - A segment none of whose chunks is listed any more (their sessions were pruned) is
//!   deleted, unless it is the one being written.
//!
//! Durability follows the database's: with [`crate::Durability::Power`] the segment is
//! synced before each commit; otherwise it is synced before each checkpoint (so the WAL that
//! lists its chunks never reaches the disk's database file ahead of the bytes), when it is
//! closed, and when the store is dropped. A power loss can then lose the frames of the last
//! moments, as it loses the last commits; a row whose bytes did not survive reads as
//! corrupt, never as other frames.

use std::collections::VecDeque;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

/// A segment is closed once it would grow past this (a write is never split: a bigger batch
/// gets a segment of its own).
pub(crate) const SEGMENT_MAX_BYTES: u64 = 64 << 20;

/// Segment ids are 1, 2, 3, … and name the files `0000000000000001.frames`, ….
const EXTENSION: &str = "frames";

/// The segment folder of the database at `db_path`: `<db file>-segments`.
pub(crate) fn folder_of(db_path: &Path) -> PathBuf {
    let mut name = db_path.file_name().unwrap_or_default().to_os_string();
    name.push("-segments");
    db_path.with_file_name(name)
}

fn file_of(folder: &Path, id: u64) -> PathBuf {
    folder.join(format!("{id:016x}.{EXTENSION}"))
}

/// The ids of the segment files in `folder`.
pub(crate) fn list(folder: &Path) -> std::io::Result<Vec<u64>> {
    let mut ids = Vec::new();
    for entry in std::fs::read_dir(folder)? {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        if let Some(id) = name
            .strip_suffix(EXTENSION)
            .and_then(|n| n.strip_suffix('.'))
            .and_then(|hex| u64::from_str_radix(hex, 16).ok())
        {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// The segment being written, shared with the checkpoint thread, which syncs it before a
/// checkpoint.
pub(crate) type OpenSegment = Arc<Mutex<Option<Arc<File>>>>;

/// Appends chunks; owned by the store's writer.
pub(crate) struct SegmentWriter {
    folder: PathBuf,
    /// The id the next segment gets when the current one closes (or the first is opened).
    next_id: u64,
    current: Option<Current>,
    /// Published for the checkpoint thread.
    open: OpenSegment,
    sync_each_write: bool,
    /// A segment is closed once it holds this much ([`SEGMENT_MAX_BYTES`] but in tests).
    max_bytes: u64,
}

struct Current {
    id: u64,
    file: Arc<File>,
    len: u64,
}

impl SegmentWriter {
    /// A writer for `folder` (created if missing). No file is created until the first write,
    /// so a store opened only to read or to manage projects leaves no empty segment behind.
    pub(crate) fn open(folder: PathBuf, sync_each_write: bool) -> std::io::Result<Self> {
        Self::open_with(folder, sync_each_write, SEGMENT_MAX_BYTES)
    }

    fn open_with(folder: PathBuf, sync_each_write: bool, max_bytes: u64) -> std::io::Result<Self> {
        std::fs::create_dir_all(&folder)?;
        let next_id = list(&folder)?.into_iter().max().unwrap_or(0) + 1;
        Ok(Self {
            folder,
            next_id,
            current: None,
            open: OpenSegment::default(),
            sync_each_write,
            max_bytes,
        })
    }

    pub(crate) fn open_segment(&self) -> OpenSegment {
        Arc::clone(&self.open)
    }

    /// The segment being written (and so never deleted), if any.
    pub(crate) fn current_id(&self) -> Option<u64> {
        self.current.as_ref().map(|c| c.id)
    }

    /// Appends `bytes` in one write; returns the segment and the offset they start at.
    pub(crate) fn append(&mut self, bytes: &[u8]) -> std::io::Result<(u64, u64)> {
        if self
            .current
            .as_ref()
            .is_some_and(|c| c.len > 0 && c.len + bytes.len() as u64 > self.max_bytes)
        {
            self.close_current()?;
        }
        let current = match &mut self.current {
            Some(current) => current,
            None => {
                let id = self.next_id;
                self.next_id += 1;
                let file = Arc::new(
                    std::fs::OpenOptions::new()
                        .create_new(true)
                        .append(true)
                        .open(file_of(&self.folder, id))?,
                );
                *self.open.lock() = Some(Arc::clone(&file));
                self.current.insert(Current { id, file, len: 0 })
            }
        };
        let offset = current.len;
        if let Err(e) = (&*current.file).write_all(bytes) {
            // What was written of it is unreferenced; start over in a fresh segment.
            self.current = None;
            *self.open.lock() = None;
            return Err(e);
        }
        current.len += bytes.len() as u64;
        if self.sync_each_write {
            current.file.sync_data()?;
        }
        Ok((current.id, offset))
    }

    fn close_current(&mut self) -> std::io::Result<()> {
        if let Some(current) = self.current.take() {
            *self.open.lock() = None;
            current.file.sync_data()?;
        }
        Ok(())
    }

    /// Deletes the segments in `ids` (which no row lists any more), except the current one.
    pub(crate) fn delete_unlisted(&self, ids: impl IntoIterator<Item = u64>) {
        for id in ids {
            if Some(id) == self.current_id() {
                continue;
            }
            let path = file_of(&self.folder, id);
            if let Err(e) = std::fs::remove_file(&path) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(path = %path.display(), error = %e, "cannot delete an unused journal segment");
                }
            }
        }
    }
}

impl Drop for SegmentWriter {
    fn drop(&mut self) {
        if let Err(e) = self.close_current() {
            tracing::warn!(error = %e, "cannot sync the journal segment at close");
        }
    }
}

/// Reads chunks back; keeps the last few segment files open.
pub(crate) struct SegmentReader {
    folder: PathBuf,
    files: VecDeque<(u64, File)>,
}

/// Catch-ups read one or two segments at a time; a few more cover several at once.
const OPEN_FILES: usize = 4;

impl SegmentReader {
    pub(crate) fn new(folder: PathBuf) -> Self {
        Self {
            folder,
            files: VecDeque::new(),
        }
    }

    /// `len` bytes of segment `id` from `offset`.
    pub(crate) fn read(&mut self, id: u64, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
        let file = match self.files.iter().position(|(open, _)| *open == id) {
            Some(index) => &self.files[index].1,
            None => {
                let file = File::open(file_of(&self.folder, id))?;
                if self.files.len() == OPEN_FILES {
                    self.files.pop_front();
                }
                self.files.push_back((id, file));
                &self.files.back().expect("just pushed").1
            }
        };
        let mut bytes = vec![0; len];
        // A short file (bytes lost to a power cut) fails here as `UnexpectedEof`.
        file.read_exact_at(&mut bytes, offset)?;
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_read_back_and_segments_close_at_their_size() {
        let dir = tempfile::tempdir().unwrap();
        let folder = folder_of(&dir.path().join("db.sqlite"));
        assert_eq!(folder, dir.path().join("db.sqlite-segments"));
        let mut writer = SegmentWriter::open_with(folder.clone(), false, 16).unwrap();
        assert!(list(&folder).unwrap().is_empty(), "no file before a write");
        assert_eq!(writer.append(b"abc").unwrap(), (1, 0));
        assert_eq!(writer.append(b"defg").unwrap(), (1, 3));
        let big = vec![b'x'; 20];
        assert_eq!(
            writer.append(&big).unwrap(),
            (2, 0),
            "a full segment closes"
        );
        assert_eq!(writer.append(b"h").unwrap(), (3, 0));
        let mut reader = SegmentReader::new(folder.clone());
        assert_eq!(reader.read(1, 3, 4).unwrap(), b"defg");
        assert_eq!(reader.read(3, 0, 1).unwrap(), b"h");
        assert_eq!(
            reader.read(1, 5, 9).unwrap_err().kind(),
            std::io::ErrorKind::UnexpectedEof
        );

        writer.delete_unlisted([1, 2, 3]);
        let mut left = list(&folder).unwrap();
        left.sort();
        assert_eq!(left, vec![3], "the current segment is kept");
        drop(writer);

        // A new writer starts a new segment after the highest there is.
        let mut again = SegmentWriter::open(folder.clone(), true).unwrap();
        assert_eq!(again.append(b"i").unwrap(), (4, 0));
    }
}

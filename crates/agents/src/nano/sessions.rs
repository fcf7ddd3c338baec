//! Where nano's conversations are kept, and which one a run continues.
//!
//! nano-claude-code has no session id that survives a process: `result.session_id` is a new
//! random UUID on every line (`cursor-nano-formats.md` B.4, B.8 #4). Its only handle on a
//! conversation is the file given to `--session-file`, which it writes after a *successful*
//! turn and reads back with `--resume <file>` (B.7). So Switchboard owns a directory of these
//! files, names each after its own session id, and the file's stem (`nano-<uuid>`) is the
//! native id reported to clients.

use std::ffi::OsString;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use switchboard_protocol::SessionId;

/// Overrides the directory of session files.
pub const SESSIONS_DIR_ENV: &str = "SWITCHBOARD_NANO_SESSIONS_DIR";

/// The longest native id accepted as a file stem (file names are at most 255 bytes).
const MAX_STEM: usize = 200;

/// `$SWITCHBOARD_NANO_SESSIONS_DIR`, else `<data dir>/switchboard/nano-sessions`, where the
/// data dir is `$XDG_DATA_HOME` (when absolute, as the XDG spec requires) or
/// `$HOME/.local/share`. `None` when none of these is set.
pub fn sessions_dir_from_env() -> Option<PathBuf> {
    sessions_dir_with(|name| std::env::var_os(name))
}

fn sessions_dir_with(env: impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    let var = |name: &str| env(name).filter(|v| !v.is_empty());
    if let Some(dir) = var(SESSIONS_DIR_ENV) {
        return Some(PathBuf::from(dir));
    }
    let data = var("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| var("HOME").map(|home| PathBuf::from(home).join(".local/share")))?;
    Some(data.join("switchboard").join("nano-sessions"))
}

/// Creates the directory (and missing parents) readable by the server's user only: the files
/// hold whole conversations. An existing directory is left as it is.
pub fn create_dir(dir: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// The native id of one of our sessions: the stem of its session file.
pub fn native_id(session_id: &SessionId) -> String {
    format!("nano-{session_id}")
}

/// The session file of a native id.
pub fn file_of(dir: &Path, native_id: &str) -> PathBuf {
    dir.join(format!("{native_id}.json"))
}

/// Whether a client-supplied native id can name a file in the directory without escaping it:
/// only `[A-Za-z0-9._-]`, not starting with a dot (no `..`, no hidden files).
pub fn is_file_stem(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_STEM
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The files of one run.
#[derive(Debug, PartialEq, Eq)]
pub struct RunFiles {
    /// Always ours: `<dir>/nano-<session id>.json`.
    pub session_file: PathBuf,
    /// The conversation to load first, if any.
    pub resume: Option<PathBuf>,
    /// Something the client should know about the choice.
    pub notice: Option<String>,
}

/// Decides the files of a run.
///
/// - Our own file exists: continue it (it holds every earlier successful turn).
/// - Otherwise, an adopted native id (another stem, checked by the agent's `check`): load
///   that conversation; nano saves the continuation to our own file.
/// - Otherwise start a new conversation. When the core asked to resume our own id, an earlier
///   turn was reported but none finished successfully, so nano never saved anything; the seed
///   passed `--resume` anyway and every later turn failed (B.8 #6). Starting afresh, and
///   saying so, keeps the session usable.
pub fn plan(dir: &Path, session_id: &SessionId, resume: Option<&str>) -> RunFiles {
    let own = native_id(session_id);
    let session_file = file_of(dir, &own);
    if session_file.is_file() {
        return RunFiles {
            resume: Some(session_file.clone()),
            session_file,
            notice: None,
        };
    }
    match resume {
        Some(id) if id != own && is_file_stem(id) => RunFiles {
            resume: Some(file_of(dir, id)),
            session_file,
            notice: None,
        },
        Some(_) => RunFiles {
            session_file,
            resume: None,
            notice: Some(
                "nano has no saved conversation for this session (no earlier turn finished \
                 successfully), so this turn starts a new one"
                    .into(),
            ),
        },
        None => RunFiles {
            session_file,
            resume: None,
            notice: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SESSION_FILE: &str = include_str!("../../tests/data/nano/nano-session-file.json");

    #[test]
    fn directory_from_the_environment() {
        let dir = |vars: &[(&str, &str)]| {
            let vars: Vec<(String, String)> = vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            sessions_dir_with(|name| {
                vars.iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| OsString::from(v))
            })
        };
        let home = ("HOME", "/home/u");
        assert_eq!(
            dir(&[home]),
            Some("/home/u/.local/share/switchboard/nano-sessions".into())
        );
        assert_eq!(
            dir(&[home, ("XDG_DATA_HOME", "/data")]),
            Some("/data/switchboard/nano-sessions".into())
        );
        // A relative XDG_DATA_HOME is invalid per the spec and ignored.
        assert_eq!(
            dir(&[home, ("XDG_DATA_HOME", "rel")]),
            Some("/home/u/.local/share/switchboard/nano-sessions".into())
        );
        assert_eq!(
            dir(&[home, ("XDG_DATA_HOME", "/data"), (SESSIONS_DIR_ENV, "/s")]),
            Some("/s".into())
        );
        assert_eq!(dir(&[(SESSIONS_DIR_ENV, "")]), None);
    }

    #[test]
    fn stems() {
        assert!(is_file_stem("nano-6f1c2d3e-0000-4000-8000-000000000abc"));
        assert!(is_file_stem("drclaw-nano-x.y_z"));
        for bad in ["", ".hidden", "..", "a/b", "../x", "a b", "a\0b", "ü"] {
            assert!(!is_file_stem(bad), "{bad:?}");
        }
        assert!(!is_file_stem(&"a".repeat(MAX_STEM + 1)));
    }

    #[test]
    fn new_session_then_own_file() {
        let dir = tempfile::tempdir().unwrap();
        let id = SessionId::new_v4();
        let own = dir.path().join(format!("nano-{id}.json"));
        assert_eq!(
            plan(dir.path(), &id, None),
            RunFiles {
                session_file: own.clone(),
                resume: None,
                notice: None
            }
        );
        // The own id before any successful turn: a new conversation, with a notice.
        let files = plan(dir.path(), &id, Some(&native_id(&id)));
        assert_eq!(files.resume, None);
        assert!(files.notice.is_some());
        // After a successful turn (a real session file), the file is resumed.
        std::fs::write(&own, SESSION_FILE).unwrap();
        for resume in [None, Some(native_id(&id))] {
            assert_eq!(
                plan(dir.path(), &id, resume.as_deref()),
                RunFiles {
                    session_file: own.clone(),
                    resume: Some(own.clone()),
                    notice: None
                }
            );
        }
    }

    #[test]
    fn adopted_id_loads_its_file_and_saves_to_ours() {
        let dir = tempfile::tempdir().unwrap();
        let id = SessionId::new_v4();
        let files = plan(dir.path(), &id, Some("nano-imported"));
        assert_eq!(
            files.session_file,
            dir.path().join(format!("nano-{id}.json"))
        );
        assert_eq!(files.resume, Some(dir.path().join("nano-imported.json")));
    }

    #[test]
    fn data_dir_is_created_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let sessions = dir.path().join("data/switchboard/nano-sessions");
        create_dir(&sessions).unwrap();
        create_dir(&sessions).unwrap(); // idempotent
        let mode = std::fs::metadata(&sessions).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "mode {mode:o}");
    }
}

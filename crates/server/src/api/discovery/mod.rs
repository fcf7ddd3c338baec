//! The agents' own session stores, read-only: Claude Code (`~/.claude/projects`), Codex
//! (`~/.codex/sessions`) and Gemini CLI (`~/.gemini/tmp`). Cursor's local chat store is
//! undocumented and is not read.
//!
//! Files are parsed streaming, line by line, each line and each file bounded
//! ([`lines::ReadLimits`]), never written. A scan walks the stores and stats every file; a
//! file is parsed again only when its mtime or size changed, so after the first scan a rescan
//! costs a directory walk. Scans are at most one per [`Discovery::MIN_RESCAN`] unless the file
//! watcher saw a change.

pub mod claude;
pub mod codex;
pub mod gemini;
pub mod lines;
pub mod watch;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use switchboard_protocol::api::{SessionSource, Transcript};
use switchboard_protocol::project::{claude_project_slug, claude_project_slug_prefix};
use switchboard_protocol::Provider;

use lines::ReadLimits;

/// What a reader learned of one session file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    pub native_id: String,
    /// The working directory as the agent recorded it.
    pub cwd: Option<String>,
    pub title: Option<String>,
    pub started_at: Option<u64>,
    pub last_activity: Option<u64>,
    /// User and assistant messages.
    pub messages: u64,
    pub model: Option<String>,
    /// Lines or bytes were left unread (over a limit).
    pub truncated: bool,
    /// The file is one of this agent's sessions (it had the lines that say so).
    pub recognized: bool,
}

impl Summary {
    fn new(native_id: &str) -> Self {
        Self {
            native_id: native_id.to_owned(),
            ..Self::default()
        }
    }

    fn seen_at(&mut self, t: u64) {
        self.started_at = Some(self.started_at.map_or(t, |s| s.min(t)));
        self.last_activity = Some(self.last_activity.map_or(t, |s| s.max(t)));
    }
}

/// One session found in an agent's store.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSession {
    pub provider: Provider,
    pub source: SessionSource,
    pub summary: Summary,
    /// `cwd` resolved (symlinks), when it still exists.
    pub canonical_cwd: Option<PathBuf>,
    pub file: PathBuf,
    /// The store's folder for the session's directory (Claude's slug, Gemini's), when the
    /// store files sessions by directory.
    pub folder: Option<String>,
}

impl AgentSession {
    /// Whether the session ran in `root` or below it (whole path components).
    pub fn is_inside(&self, root: &Path) -> bool {
        match (&self.canonical_cwd, &self.summary.cwd) {
            (Some(cwd), _) => cwd.starts_with(root),
            (None, Some(cwd)) => Path::new(cwd).starts_with(root),
            (None, None) => false,
        }
    }

    /// The directory it ran in, resolved when possible.
    pub fn directory(&self) -> Option<PathBuf> {
        self.canonical_cwd
            .clone()
            .or_else(|| self.summary.cwd.as_ref().map(PathBuf::from))
    }
}

/// Where each agent keeps its sessions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreRoots {
    /// Claude Code's config dir (`$CLAUDE_CONFIG_DIR`, else `~/.claude`).
    pub claude: Option<PathBuf>,
    /// `$CODEX_HOME`, else `~/.codex`.
    pub codex: Option<PathBuf>,
    /// `$GEMINI_CLI_HOME/.gemini`, else `~/.gemini`.
    pub gemini: Option<PathBuf>,
}

impl StoreRoots {
    /// The stores of a user with this home, where `var` looks up the environment the agents
    /// run with (each CLI honours its variable; unset or empty means the default).
    pub fn resolve(home: Option<&Path>, var: impl Fn(Provider, &str) -> Option<String>) -> Self {
        let set =
            |p: Provider, name: &str| var(p, name).filter(|v| !v.is_empty()).map(PathBuf::from);
        let under_home = |rel: &str| home.map(|h| h.join(rel));
        Self {
            claude: set(Provider::Claude, "CLAUDE_CONFIG_DIR").or_else(|| under_home(".claude")),
            codex: set(Provider::Codex, "CODEX_HOME").or_else(|| under_home(".codex")),
            gemini: set(Provider::Gemini, "GEMINI_CLI_HOME")
                .map(|h| h.join(".gemini"))
                .or_else(|| under_home(".gemini")),
        }
    }
}

/// Bounds of one scan.
#[derive(Debug, Clone, Copy)]
pub struct ScanLimits {
    pub read: ReadLimits,
    /// Files looked at per store; past this the oldest-named are left out.
    pub max_files_per_store: usize,
    /// Messages one transcript holds.
    pub max_transcript_messages: usize,
}

impl Default for ScanLimits {
    fn default() -> Self {
        Self {
            read: ReadLimits::default(),
            max_files_per_store: 20_000,
            max_transcript_messages: 10_000,
        }
    }
}

/// A file to look at: path, whose store, its folder, the cwd the store's index gives it.
type Found = (
    PathBuf,
    Provider,
    SessionSource,
    Option<String>,
    Option<String>,
);

struct Cached {
    modified: Option<SystemTime>,
    len: u64,
    session: Option<Arc<AgentSession>>,
}

#[derive(Default)]
struct Cache {
    files: HashMap<PathBuf, Cached>,
    sessions: Arc<Vec<Arc<AgentSession>>>,
    by_native: HashMap<(Provider, String), Arc<AgentSession>>,
    scanned_at: Option<Instant>,
}

/// The index of every agent's sessions, cached by file mtime and size.
pub struct Discovery {
    roots: StoreRoots,
    limits: ScanLimits,
    cache: Mutex<Cache>,
    /// Set by the watcher: the next request rescans whatever the time.
    dirty: AtomicBool,
}

impl Discovery {
    pub const MIN_RESCAN: Duration = Duration::from_secs(2);

    pub fn new(roots: StoreRoots, limits: ScanLimits) -> Self {
        Self {
            roots,
            limits,
            cache: Mutex::new(Cache::default()),
            dirty: AtomicBool::new(true),
        }
    }

    pub fn roots(&self) -> &StoreRoots {
        &self.roots
    }

    /// Makes the next read rescan.
    pub fn invalidate(&self) {
        self.dirty.store(true, Ordering::Release);
    }

    /// Every session found, most recent activity first. Blocking: call it off the runtime.
    pub fn sessions(&self) -> Arc<Vec<Arc<AgentSession>>> {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        self.refresh(&mut cache);
        Arc::clone(&cache.sessions)
    }

    /// The session an agent knows by this native id. Blocking.
    pub fn find(&self, provider: Provider, native_id: &str) -> Option<Arc<AgentSession>> {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        self.refresh(&mut cache);
        cache
            .by_native
            .get(&(provider, native_id.to_owned()))
            .cloned()
    }

    /// Titles (and more) of many sessions at once. Blocking.
    pub fn lookup(&self, keys: &[(Provider, String)]) -> Vec<Option<Arc<AgentSession>>> {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        self.refresh(&mut cache);
        keys.iter()
            .map(|k| cache.by_native.get(k).cloned())
            .collect()
    }

    /// Sessions that ran in a project: those whose recorded directory is `root` or below it,
    /// and Claude sessions filed under `root`'s slug (whatever cwd they recorded). Blocking.
    pub fn sessions_in(&self, root: &Path) -> Vec<Arc<AgentSession>> {
        let root_text = root.to_string_lossy();
        let slug = claude_project_slug(&root_text);
        let long_prefix = claude_project_slug_prefix(&root_text);
        self.sessions()
            .iter()
            .filter(|s| {
                s.is_inside(root)
                    || (s.provider == Provider::Claude
                        && s.summary.cwd.is_none()
                        && s.folder.as_deref().is_some_and(|f| {
                            f == slug || long_prefix.as_deref().is_some_and(|p| f.starts_with(p))
                        }))
            })
            .cloned()
            .collect()
    }

    /// The normalized conversation of a session found in an agent's store. Blocking.
    pub fn transcript(&self, session: &AgentSession) -> std::io::Result<Transcript> {
        let (read, max) = (self.limits.read, self.limits.max_transcript_messages);
        let (messages, truncated) = match session.source {
            SessionSource::ClaudeStore => claude::transcript(&session.file, read, max)?,
            SessionSource::CodexStore => codex::transcript(&session.file, read, max)?,
            SessionSource::GeminiStore => gemini::transcript(&session.file, read, max)?,
            SessionSource::Switchboard => (Vec::new(), false),
        };
        Ok(Transcript {
            provider: session.provider,
            provider_session_id: session.summary.native_id.clone(),
            source: session.source,
            messages,
            truncated,
        })
    }

    fn refresh(&self, cache: &mut Cache) {
        let fresh = cache
            .scanned_at
            .is_some_and(|at| at.elapsed() < Self::MIN_RESCAN);
        if fresh && !self.dirty.swap(false, Ordering::AcqRel) {
            return;
        }
        self.dirty.store(false, Ordering::Release);
        let mut found: Vec<Found> = Vec::new();
        let max = self.limits.max_files_per_store;
        if let Some(root) = &self.roots.claude {
            for (folder, file) in claude_files(&root.join("projects"), max) {
                found.push((
                    file,
                    Provider::Claude,
                    SessionSource::ClaudeStore,
                    Some(folder),
                    None,
                ));
            }
        }
        if let Some(root) = &self.roots.codex {
            for file in codex_files(&root.join("sessions"), max) {
                found.push((file, Provider::Codex, SessionSource::CodexStore, None, None));
            }
        }
        if let Some(root) = &self.roots.gemini {
            for (folder, file, cwd) in gemini_files(root, max) {
                found.push((
                    file,
                    Provider::Gemini,
                    SessionSource::GeminiStore,
                    Some(folder),
                    cwd,
                ));
            }
        }
        let mut files = HashMap::with_capacity(found.len());
        for (file, provider, source, folder, known_cwd) in found {
            let Ok(meta) = std::fs::metadata(&file) else {
                continue;
            };
            let (modified, len) = (meta.modified().ok(), meta.len());
            let reuse = cache
                .files
                .remove(&file)
                .filter(|c| c.modified == modified && c.len == len && modified.is_some());
            let session = match reuse {
                Some(cached) => cached.session,
                None => self.parse(&file, provider, source, folder, known_cwd, modified),
            };
            files.insert(
                file,
                Cached {
                    modified,
                    len,
                    session,
                },
            );
        }
        let mut sessions: Vec<Arc<AgentSession>> =
            files.values().filter_map(|c| c.session.clone()).collect();
        sessions.sort_by(|a, b| {
            b.summary
                .last_activity
                .cmp(&a.summary.last_activity)
                .then_with(|| a.file.cmp(&b.file))
        });
        let mut by_native = HashMap::with_capacity(sessions.len());
        for s in &sessions {
            // The most recent file wins if two claim one id (e.g. a copied session).
            by_native
                .entry((s.provider, s.summary.native_id.clone()))
                .or_insert_with(|| Arc::clone(s));
        }
        cache.files = files;
        cache.sessions = Arc::new(sessions);
        cache.by_native = by_native;
        cache.scanned_at = Some(Instant::now());
    }

    fn parse(
        &self,
        file: &Path,
        provider: Provider,
        source: SessionSource,
        folder: Option<String>,
        known_cwd: Option<String>,
        modified: Option<SystemTime>,
    ) -> Option<Arc<AgentSession>> {
        let read = self.limits.read;
        let parsed = match source {
            SessionSource::ClaudeStore => claude::summarize(file, read),
            SessionSource::CodexStore => codex::summarize(file, read),
            SessionSource::GeminiStore => gemini::summarize(file, read),
            SessionSource::Switchboard => return None,
        };
        let mut summary = match parsed {
            Ok(Some(summary)) if is_native_id(&summary.native_id) => summary,
            Ok(_) => return None,
            Err(e) => {
                tracing::debug!(file = %file.display(), error = %e, "cannot read an agent session file");
                return None;
            }
        };
        if summary.cwd.is_none() {
            summary.cwd = known_cwd;
        }
        if summary.last_activity.is_none() {
            summary.last_activity = modified.and_then(epoch_ms);
        }
        let canonical_cwd = summary
            .cwd
            .as_deref()
            .filter(|c| Path::new(c).is_absolute())
            .and_then(|c| std::fs::canonicalize(c).ok());
        Some(Arc::new(AgentSession {
            provider,
            source,
            summary,
            canonical_cwd,
            file: file.to_owned(),
            folder,
        }))
    }
}

/// A native id we hand out and accept: 1–200 of `[A-Za-z0-9._-]`, not starting with a dot
/// (never a path).
pub fn is_native_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 200
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn epoch_ms(t: SystemTime) -> Option<u64> {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_millis() as u64)
}

/// Entries of a directory that are real directories or files (never following a symlink out
/// of the store), sorted by name.
fn entries(dir: &Path, want_dir: bool) -> Vec<(String, PathBuf)> {
    let Ok(read) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(String, PathBuf)> = read
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_type()
                .is_ok_and(|t| if want_dir { t.is_dir() } else { t.is_file() })
        })
        .filter_map(|e| Some((e.file_name().into_string().ok()?, e.path())))
        .collect();
    out.sort();
    out
}

/// Keeps the last `max` (names sort by time in every store, so these are the newest).
fn newest<T>(mut items: Vec<T>, max: usize) -> Vec<T> {
    if items.len() > max {
        items.drain(..items.len() - max);
    }
    items
}

/// `projects/<slug>/<id>.jsonl` (subagent transcripts in deeper folders are left out).
fn claude_files(projects: &Path, max: usize) -> Vec<(String, PathBuf)> {
    let mut files = Vec::new();
    for (slug, dir) in entries(projects, true) {
        for (name, file) in entries(&dir, false) {
            if name.ends_with(".jsonl") {
                files.push((slug.clone(), file));
            }
        }
    }
    newest(files, max)
}

/// `sessions/YYYY/MM/DD/rollout-*.jsonl`.
fn codex_files(sessions: &Path, max: usize) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for (_, year) in entries(sessions, true) {
        for (_, month) in entries(&year, true) {
            for (_, day) in entries(&month, true) {
                for (name, file) in entries(&day, false) {
                    if name.starts_with("rollout-") && name.ends_with(".jsonl") {
                        files.push(file);
                    }
                }
            }
        }
    }
    newest(files, max)
}

/// `tmp/<slug>/chats/session-*.jsonl`, each with the directory its slug stands for (from
/// `projects.json`, else the slug folder's `.project_root`).
fn gemini_files(gemini: &Path, max: usize) -> Vec<(String, PathBuf, Option<String>)> {
    let mut by_slug: HashMap<String, String> = HashMap::new();
    if let Ok(text) = read_small(&gemini.join("projects.json")) {
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) {
            if let Some(map) = value["projects"].as_object() {
                for (path, slug) in map {
                    if let Some(slug) = slug.as_str() {
                        by_slug.insert(slug.to_owned(), path.clone());
                    }
                }
            }
        }
    }
    let mut files = Vec::new();
    for (slug, dir) in entries(&gemini.join("tmp"), true) {
        let chats = entries(&dir.join("chats"), false);
        if chats.is_empty() {
            continue;
        }
        let cwd = by_slug.get(&slug).cloned().or_else(|| {
            read_small(&dir.join(".project_root"))
                .ok()
                .map(|t| t.trim().to_owned())
                .filter(|t| t.starts_with('/'))
        });
        for (name, file) in chats {
            if name.starts_with("session-") && name.ends_with(".jsonl") {
                files.push((slug.clone(), file, cwd.clone()));
            }
        }
    }
    newest(files, max)
}

/// A small metadata file (at most 4 MiB).
fn read_small(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(4 * 1024 * 1024)
        .read_to_string(&mut text)?;
    Ok(text)
}

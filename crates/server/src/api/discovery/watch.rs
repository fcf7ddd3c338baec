//! Watching the agents' stores (`notify`, inotify on Linux): a change under a store's session
//! folder marks the discovery index stale and, after a quiet period (debounce), is announced
//! once on a broadcast channel, for the WebSocket layer to turn into a `projects_updated`
//! frame. Stores that do not exist yet are looked for again every few seconds, so an agent's
//! first run is noticed too.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use serde::Serialize;
use switchboard_protocol::Provider;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use super::Discovery;

/// Announced after the stores changed: which agents' stores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoresChanged {
    pub providers: Vec<Provider>,
}

/// How long the stores must be quiet before a change is announced.
pub const DEBOUNCE: Duration = Duration::from_millis(300);
/// How often stores that do not exist yet are looked for.
const RETRY_MISSING: Duration = Duration::from_secs(2);

/// The folder of each store that holds its sessions, and what a change under it concerns.
fn watched(discovery: &Discovery) -> Vec<(Provider, PathBuf)> {
    let roots = discovery.roots();
    let mut out = Vec::new();
    if let Some(claude) = &roots.claude {
        out.push((Provider::Claude, claude.join("projects")));
    }
    if let Some(codex) = &roots.codex {
        out.push((Provider::Codex, codex.join("sessions")));
    }
    if let Some(gemini) = &roots.gemini {
        // `projects.json` sits next to `tmp`; watch the whole folder, filter by path.
        out.push((Provider::Gemini, gemini.clone()));
    }
    out
}

/// Whether a changed path concerns a store's sessions.
fn concerns(provider: Provider, folder: &Path, path: &Path) -> bool {
    match provider {
        Provider::Gemini => {
            path.starts_with(folder.join("tmp")) || path == folder.join("projects.json")
        }
        _ => path.starts_with(folder),
    }
}

/// Starts watching; runs until `stop` fires. Every debounced change invalidates
/// `discovery` and is sent on `changes`.
pub fn spawn(
    discovery: Arc<Discovery>,
    changes: broadcast::Sender<StoresChanged>,
    debounce: Duration,
    stop: CancellationToken,
) {
    let targets = watched(&discovery);
    if targets.is_empty() {
        return;
    }
    // The notify callback runs on its own thread; a full channel only means a change is
    // already pending, which is all the debouncer needs to know.
    let (tx, mut rx) = mpsc::channel::<Vec<PathBuf>>(256);
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event {
            if !matches!(event.kind, notify::EventKind::Access(_)) {
                let _ = tx.try_send(event.paths);
            }
        }
    });
    let mut watcher = match watcher {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the agents' session stores; changes show up on the next request");
            return;
        }
    };
    // The folders that exist at start-up are watched before anyone can connect, silently:
    // nobody holds a stale view of them yet.
    let mut watching: Vec<bool> = targets
        .iter()
        .map(|(_, folder)| {
            folder.is_dir() && watcher.watch(folder, RecursiveMode::Recursive).is_ok()
        })
        .collect();
    tokio::spawn(async move {
        let mut retry = tokio::time::interval(RETRY_MISSING);
        retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = retry.tick(), if watching.iter().any(|w| !w) => {
                    for (i, (provider, folder)) in targets.iter().enumerate() {
                        if !watching[i] && folder.is_dir() {
                            match watcher.watch(folder, RecursiveMode::Recursive) {
                                Ok(()) => {
                                    watching[i] = true;
                                    // It appeared since start-up, and may have filled
                                    // before the watch began.
                                    announce(&discovery, &changes, vec![*provider]);
                                }
                                Err(e) => tracing::debug!(folder = %folder.display(), error = %e, "cannot watch yet"),
                            }
                        }
                    }
                }
                first = rx.recv() => {
                    let Some(first) = first else { return };
                    let mut paths = first;
                    // Debounce: wait until nothing arrives for `debounce`.
                    loop {
                        tokio::select! {
                            _ = stop.cancelled() => return,
                            more = tokio::time::timeout(debounce, rx.recv()) => match more {
                                Ok(Some(more)) => paths.extend(more),
                                Ok(None) | Err(_) => break,
                            },
                        }
                    }
                    let providers: Vec<Provider> = targets
                        .iter()
                        .filter(|(provider, folder)| {
                            paths.iter().any(|p| concerns(*provider, folder, p))
                        })
                        .map(|(provider, _)| *provider)
                        .collect();
                    if !providers.is_empty() {
                        announce(&discovery, &changes, providers);
                    }
                }
            }
        }
    });
}

fn announce(
    discovery: &Discovery,
    changes: &broadcast::Sender<StoresChanged>,
    mut providers: Vec<Provider>,
) {
    discovery.invalidate();
    providers.sort_by_key(|p| p.as_str());
    providers.dedup();
    tracing::debug!(?providers, "agent session stores changed");
    // Nobody listening is fine.
    let _ = changes.send(StoresChanged { providers });
}

#[cfg(test)]
mod tests {
    use super::super::{ScanLimits, StoreRoots};
    use super::*;

    #[tokio::test]
    async fn a_new_session_file_is_announced_once_after_the_debounce() {
        let home = tempfile::tempdir().unwrap();
        // Gemini's folder exists from the start; Claude's is made by the "agent" below.
        std::fs::create_dir_all(home.path().join(".gemini")).unwrap();
        let roots = StoreRoots::resolve(Some(home.path()), |_, _| None);
        let discovery = Arc::new(Discovery::new(roots.clone(), ScanLimits::default()));
        let (changes, mut rx) = broadcast::channel(16);
        let stop = CancellationToken::new();
        spawn(
            Arc::clone(&discovery),
            changes,
            Duration::from_millis(100),
            stop.clone(),
        );
        // A store that exists at start-up is watched silently (before `spawn` returns).
        // The Claude store does not exist yet; the agent creates it, which is announced
        // (and is the first announcement: Gemini's existing folder was not).
        let folder = roots.claude.unwrap().join("projects/-srv-demo");
        std::fs::create_dir_all(&folder).unwrap();
        let first = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(first.providers, vec![Provider::Claude]);
        // A burst of writes is one announcement.
        for i in 0..20 {
            std::fs::write(folder.join("s.jsonl"), format!("{i}\n")).unwrap();
        }
        let burst = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(burst.providers, vec![Provider::Claude]);
        assert!(
            tokio::time::timeout(Duration::from_millis(500), rx.recv())
                .await
                .is_err(),
            "debounced into one"
        );
        // Writes outside the session folders are not announced.
        std::fs::write(home.path().join(".claude/settings.json"), "{}").unwrap();
        std::fs::create_dir_all(home.path().join(".gemini/history/x")).unwrap();
        std::fs::write(home.path().join(".gemini/settings.json"), "{}").unwrap();
        assert!(tokio::time::timeout(Duration::from_millis(2500), rx.recv())
            .await
            .is_err());
        // Gemini's project map is.
        std::fs::write(home.path().join(".gemini/projects.json"), "{}").unwrap();
        let map = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(map.providers, vec![Provider::Gemini]);
        stop.cancel();
    }
}

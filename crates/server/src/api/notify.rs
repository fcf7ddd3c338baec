//! Notifications for every authenticated connection, built here so the WebSocket layer only
//! forwards bytes:
//!
//! - a session started, changed state, learned its native id or ended:
//!   `{"type":"session-upserted","session":{…SessionSummary…}}` (from
//!   [`Registry::session_changes`]); a session retention removed:
//!   `{"type":"session-removed","sessionId":…,"provider":…}`;
//! - the agents' own stores changed (file watcher, debounced):
//!   `{"type":"projects_updated","source":…,"providers":[…],"changedAt":…}` — the seed's
//!   name; clients refetch `GET /api/projects/{id}/sessions` or `GET
//!   /api/projects/discovered`. `source` is `external` unless a run of Switchboard's own
//!   explains the change ([`RecentEnds`]); external changes go to every connection, the others
//!   only to connections that watch the session list.
//!
//! Neither is journaled (no `seq`): they are hints to refetch, and a client that was away
//! refetches anyway.
//!
//! One pump task ([`spawn_pump`], started with the server) builds each frame once and
//! broadcasts its bytes on [`super::ApiState::notifications`]; each connection forwards them
//! into its outbound queue with [`super::ApiState::forward`].

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Serialize;
use switchboard_core::changes::{ChangeKind, SessionChange};
use switchboard_core::Registry;
use switchboard_protocol::api::{ProjectsUpdated, SessionUpserted, StoresChangeSource};
use switchboard_protocol::server::encode_reply;
use switchboard_protocol::{Provider, SessionId};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::discovery::watch::StoresChanged;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionRemoved {
    session_id: SessionId,
    provider: Provider,
    #[serde(skip_serializing_if = "Option::is_none")]
    project_id: Option<String>,
}

/// The frame for one session change; `None` when the session is already gone from the store
/// (it was forgotten before it journaled anything).
pub async fn session_frame(registry: &Registry, change: &SessionChange) -> Option<Vec<u8>> {
    if change.kind == ChangeKind::Removed {
        return Some(encode_reply(
            "session-removed",
            &SessionRemoved {
                session_id: change.session_id,
                provider: change.provider,
                project_id: change.project_id.clone(),
            },
        ));
    }
    // The record is read after the change's write is settled, with the live state on top.
    let record = registry.session_record(change.session_id).await.ok()??;
    Some(encode_reply(
        "session-upserted",
        &SessionUpserted {
            session: registry.summary(&record),
        },
    ))
}

/// The frame for a change of the agents' stores.
pub fn projects_updated_frame(change: &StoresChanged, source: StoresChangeSource) -> Vec<u8> {
    encode_reply(
        "projects_updated",
        &ProjectsUpdated {
            source,
            providers: change.providers.clone(),
            changed_at: switchboard_protocol::now_ms(),
        },
    )
}

/// Who a notification is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Every authenticated connection: store changes made outside Switchboard.
    Everyone,
    /// Connections that sent `watch-sessions`: session changes, and store changes our own
    /// runs made.
    Watchers,
}

/// One notification frame, serialized once for every connection.
#[derive(Debug, Clone)]
pub struct Notification {
    pub bytes: Bytes,
    pub audience: Audience,
}

impl Notification {
    pub fn reaches(&self, watching: bool) -> bool {
        watching || self.audience == Audience::Everyone
    }
}

/// How long after a run of ours ends a change in its agent's store is still put down to it:
/// the CLI's last writes, the watcher's debounce and the pump's queue all fit in it.
const OWN_RUN_AFTERGLOW: Duration = Duration::from_secs(5);

/// When a run of Switchboard's own last ended, per provider. Agent CLIs write their own
/// stores while Switchboard runs them; those writes are not news to anyone following the run,
/// and a broadcast of them would interleave with every connection's frames. So only changes
/// made outside Switchboard go to every connection. Which runs are live is the registry's to
/// say; this only covers the moment after one ends (and forgets by itself, so a missed change
/// does no lasting harm).
#[derive(Default)]
struct RecentEnds {
    ended: HashMap<Provider, Instant>,
}

impl RecentEnds {
    fn note(&mut self, change: &SessionChange) {
        let over = match change.kind {
            ChangeKind::Started => false,
            ChangeKind::Updated => change.state.is_terminal(),
            // Retention pruning (or a refused first command) deletes our own rows; it
            // never writes an agent's store, so it explains no store change.
            ChangeKind::Removed => false,
        };
        if over {
            self.ended.insert(change.provider, Instant::now());
        }
    }

    /// A change is external unless every provider it touches has a run of ours to explain it:
    /// one that `running` says is live, or one that ended a moment ago.
    fn source_of(
        &self,
        change: &StoresChanged,
        running: impl Fn(Provider) -> bool,
    ) -> StoresChangeSource {
        let explained = |provider: &Provider| {
            running(*provider)
                || self
                    .ended
                    .get(provider)
                    .is_some_and(|at| at.elapsed() < OWN_RUN_AFTERGLOW)
        };
        if !change.providers.is_empty() && change.providers.iter().all(explained) {
            StoresChangeSource::SwitchboardRun
        } else {
            StoresChangeSource::External
        }
    }
}

/// Turns session changes and store changes into frame bytes, once, for every connection.
pub fn spawn_pump(
    registry: Registry,
    mut stores: broadcast::Receiver<StoresChanged>,
    out: broadcast::Sender<Notification>,
    stop: CancellationToken,
) {
    let mut changes = registry.session_changes();
    tokio::spawn(async move {
        let mut recent_ends = RecentEnds::default();
        loop {
            let notification = tokio::select! {
                _ = stop.cancelled() => return,
                change = changes.recv() => match change {
                    Ok(change) => {
                        recent_ends.note(&change);
                        session_frame(&registry, &change)
                            .await
                            .map(|frame| (frame, Audience::Watchers))
                    }
                    // Missed changes are hints only; the next one says "refetch" as well.
                    Err(broadcast::error::RecvError::Lagged(_)) => None,
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                change = stores.recv() => match change {
                    Ok(change) => {
                        let source = recent_ends
                            .source_of(&change, |provider| registry.has_running(provider));
                        let audience = match source {
                            StoresChangeSource::External => Audience::Everyone,
                            StoresChangeSource::SwitchboardRun => Audience::Watchers,
                        };
                        Some((projects_updated_frame(&change, source), audience))
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => None,
                    Err(broadcast::error::RecvError::Closed) => return,
                },
            };
            if let Some((frame, audience)) = notification {
                // No connection listening is fine.
                let _ = out.send(Notification {
                    bytes: Bytes::from(frame),
                    audience,
                });
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;
    use std::time::Duration;

    use serde_json::Value;
    use switchboard_core::projects::{Project, ProjectIndex};
    use switchboard_core::{CoreConfig, SessionStore};
    use switchboard_protocol::client::{AgentCommand, SessionTarget};
    use switchboard_protocol::RunState;
    use switchboard_store::{Durability, SqliteStore};
    use switchboard_testkit::fake_agent::FakeAgent;
    use tokio::sync::mpsc;

    use super::super::discovery::StoreRoots;
    use super::super::ApiState;
    use super::*;

    async fn next_of(rx: &mut mpsc::Receiver<Bytes>, frame_type: &str) -> Value {
        loop {
            let bytes = tokio::time::timeout(Duration::from_secs(15), rx.recv())
                .await
                .expect("a notification")
                .expect("the forwarder runs");
            let frame: Value = serde_json::from_slice(&bytes).unwrap();
            if frame["type"] == frame_type {
                return frame;
            }
        }
    }

    /// Everything but the two lines that hook a WebSocket connection: a session's run and a
    /// change in an agent's store both reach a connection's outbound queue as frames.
    #[tokio::test]
    async fn session_and_store_changes_reach_a_connection_queue() {
        let data = tempfile::tempdir().unwrap();
        let home = tempfile::tempdir().unwrap();
        let project = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(project.path()).unwrap();
        let store: Arc<dyn SessionStore> = Arc::new(
            SqliteStore::open(&data.path().join("db.sqlite"), Durability::Process).unwrap(),
        );
        let record = store.upsert_project(&Project::record_for(&root)).unwrap();
        let (registry, _) = Registry::open(
            CoreConfig::default(),
            store,
            vec![Arc::new(FakeAgent::new(Provider::Claude))],
            ProjectIndex::new(vec![Project::from_record(&record)]),
        )
        .await
        .unwrap();
        let settings = crate::config::Settings::for_data_dir(data.path().to_owned());
        let api = ApiState::with_roots(
            &settings,
            StoreRoots::resolve(Some(home.path()), |_, _| None),
        );
        let stop = CancellationToken::new();
        api.start(&registry, stop.clone());
        let (out, mut queue) = mpsc::channel(64);
        let forwarder = api.forward(out, Arc::new(AtomicBool::new(true)));

        let command = AgentCommand {
            provider: Provider::Claude,
            request_type: "claude-command".into(),
            prompt: "lines=1".into(),
            target: SessionTarget::New,
            project_path: Some(root.to_string_lossy().into_owned()),
            cwd: None,
            model: None,
            permission_mode: None,
            queue: false,
            client_request_id: None,
            extra: Default::default(),
        };
        let (handle, run) = registry.prepare(command).await.unwrap();
        registry.submit(&handle, run).await;
        let started = next_of(&mut queue, "session-upserted").await;
        assert_eq!(started["session"]["sessionId"], handle.id.to_string());
        let mut state = started["session"]["state"].clone();
        while state == "running" {
            state = next_of(&mut queue, "session-upserted").await["session"]["state"].clone();
        }
        assert_eq!(state, "completed");

        // An agent writes a session file: the watcher's change arrives as projects_updated.
        let folder = home.path().join(".claude/projects/-x");
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join("s.jsonl"), "{}\n").unwrap();
        let updated = next_of(&mut queue, "projects_updated").await;
        assert_eq!(updated["providers"], serde_json::json!(["claude"]));
        assert!(updated["changedAt"].is_u64());

        forwarder.abort();
        stop.cancel();
    }

    fn change(
        session: SessionId,
        provider: Provider,
        state: RunState,
        kind: ChangeKind,
    ) -> SessionChange {
        SessionChange {
            session_id: session,
            provider,
            project_id: None,
            state,
            kind,
            at: 0,
        }
    }

    fn stores(providers: &[Provider]) -> StoresChanged {
        StoresChanged {
            providers: providers.to_vec(),
        }
    }

    #[test]
    fn store_changes_are_external_unless_a_run_of_ours_explains_every_provider() {
        let mut ends = RecentEnds::default();
        let claude = stores(&[Provider::Claude]);
        let none_running = |_: Provider| false;
        let claude_running = |p: Provider| p == Provider::Claude;
        assert_eq!(
            ends.source_of(&claude, none_running),
            StoresChangeSource::External
        );
        assert_eq!(
            ends.source_of(&claude, claude_running),
            StoresChangeSource::SwitchboardRun
        );
        // Codex ran elsewhere at the same time: that part is news.
        let both = stores(&[Provider::Claude, Provider::Codex]);
        assert_eq!(
            ends.source_of(&both, claude_running),
            StoresChangeSource::External
        );
        assert_eq!(
            ends.source_of(&stores(&[]), claude_running),
            StoresChangeSource::External
        );

        // A start, a learned native id or a pruned session is no end; the end starts the
        // afterglow.
        let id = SessionId::new_v4();
        ends.note(&change(
            id,
            Provider::Claude,
            RunState::Completed,
            ChangeKind::Removed,
        ));
        ends.note(&change(
            id,
            Provider::Claude,
            RunState::Running,
            ChangeKind::Started,
        ));
        ends.note(&change(
            id,
            Provider::Claude,
            RunState::Running,
            ChangeKind::Updated,
        ));
        assert_eq!(
            ends.source_of(&claude, none_running),
            StoresChangeSource::External
        );
        ends.note(&change(
            id,
            Provider::Claude,
            RunState::Completed,
            ChangeKind::Updated,
        ));
        assert_eq!(
            ends.source_of(&claude, none_running),
            StoresChangeSource::SwitchboardRun
        );

        // Once the afterglow is over, a change is external again.
        ends.ended
            .insert(Provider::Claude, Instant::now() - OWN_RUN_AFTERGLOW);
        assert_eq!(
            ends.source_of(&claude, none_running),
            StoresChangeSource::External
        );
    }

    #[test]
    fn only_notifications_for_everyone_reach_a_connection_that_does_not_watch() {
        let bytes = Bytes::from_static(b"{}");
        let everyone = Notification {
            bytes: bytes.clone(),
            audience: Audience::Everyone,
        };
        let watchers = Notification {
            bytes,
            audience: Audience::Watchers,
        };
        assert!(everyone.reaches(false) && everyone.reaches(true));
        assert!(!watchers.reaches(false) && watchers.reaches(true));
        let ours = projects_updated_frame(
            &stores(&[Provider::Gemini]),
            StoresChangeSource::SwitchboardRun,
        );
        let parsed: Value = serde_json::from_slice(&ours).unwrap();
        assert_eq!(parsed["source"], "switchboard-run");
    }
}

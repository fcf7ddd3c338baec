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
//!   explains the change ([`OwnRuns`]); external changes go to every connection, the others
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
    let record = registry.session_record(change.session_id).await.ok()??;
    let mut session = registry.summary(&record);
    // The change is announced once it is queued for the store, so the record read back may
    // not hold it yet: the change itself is the truth about the state.
    if session.state != change.state {
        session.state = change.state;
        session.updated_at = session.updated_at.max(change.at);
    }
    Some(encode_reply(
        "session-upserted",
        &SessionUpserted { session },
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

/// A `projects_updated` frame for a change made outside Switchboard: the one every connection
/// gets. ([`ProjectsUpdated`] serializes `source` first.)
pub fn is_external_projects_updated(frame: &[u8]) -> bool {
    frame.starts_with(br#"{"type":"projects_updated","source":"external""#)
}

/// How long after a run of ours ends a change in its agent's store is still put down to it:
/// the CLI's last writes, the watcher's debounce and the pump's queue all fit in it.
const OWN_RUN_AFTERGLOW: Duration = Duration::from_secs(5);

/// Which providers have a run of Switchboard's own live, or had one a moment ago. Agent CLIs
/// write their own stores while Switchboard runs them; those writes are not news to anyone
/// following the run, and a broadcast of them would interleave with every connection's
/// frames. So only changes made outside Switchboard go to every connection.
#[derive(Default)]
struct OwnRuns {
    live: HashMap<SessionId, Provider>,
    ended: HashMap<Provider, Instant>,
}

impl OwnRuns {
    fn note(&mut self, change: &SessionChange) {
        let over = match change.kind {
            ChangeKind::Started => {
                self.live.insert(change.session_id, change.provider);
                false
            }
            ChangeKind::Updated => change.state.is_terminal(),
            ChangeKind::Removed => true,
        };
        if over && self.live.remove(&change.session_id).is_some() {
            self.ended.insert(change.provider, Instant::now());
        }
    }

    /// A change is external unless every provider it touches has a run of ours to explain it.
    fn source_of(&self, change: &StoresChanged) -> StoresChangeSource {
        let explained = |provider: &Provider| {
            self.live.values().any(|p| p == provider)
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
    out: broadcast::Sender<Bytes>,
    stop: CancellationToken,
) {
    let mut changes = registry.session_changes();
    tokio::spawn(async move {
        let mut own_runs = OwnRuns::default();
        loop {
            let frame = tokio::select! {
                _ = stop.cancelled() => return,
                change = changes.recv() => match change {
                    Ok(change) => {
                        own_runs.note(&change);
                        session_frame(&registry, &change).await
                    }
                    // Missed changes are hints only; the next one says "refetch" as well.
                    Err(broadcast::error::RecvError::Lagged(_)) => None,
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                change = stores.recv() => match change {
                    Ok(change) => Some(projects_updated_frame(&change, own_runs.source_of(&change))),
                    Err(broadcast::error::RecvError::Lagged(_)) => None,
                    Err(broadcast::error::RecvError::Closed) => return,
                },
            };
            if let Some(frame) = frame {
                // No connection listening is fine.
                let _ = out.send(Bytes::from(frame));
            }
        }
    });
}

#[cfg(test)]
mod tests {
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
        let forwarder = api.forward(out);

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
        let mut runs = OwnRuns::default();
        let claude = stores(&[Provider::Claude]);
        assert_eq!(runs.source_of(&claude), StoresChangeSource::External);

        let id = SessionId::new_v4();
        runs.note(&change(
            id,
            Provider::Claude,
            RunState::Running,
            ChangeKind::Started,
        ));
        assert_eq!(runs.source_of(&claude), StoresChangeSource::SwitchboardRun);
        // Codex ran elsewhere at the same time: that part is news.
        let both = stores(&[Provider::Claude, Provider::Codex]);
        assert_eq!(runs.source_of(&both), StoresChangeSource::External);
        assert_eq!(runs.source_of(&stores(&[])), StoresChangeSource::External);

        // A native id learned mid-run changes nothing; the end starts the afterglow.
        runs.note(&change(
            id,
            Provider::Claude,
            RunState::Running,
            ChangeKind::Updated,
        ));
        assert_eq!(runs.source_of(&claude), StoresChangeSource::SwitchboardRun);
        runs.note(&change(
            id,
            Provider::Claude,
            RunState::Completed,
            ChangeKind::Updated,
        ));
        assert_eq!(runs.source_of(&claude), StoresChangeSource::SwitchboardRun);

        // Once the afterglow is over, a change is external again.
        runs.ended
            .insert(Provider::Claude, Instant::now() - OWN_RUN_AFTERGLOW);
        assert_eq!(runs.source_of(&claude), StoresChangeSource::External);
    }

    #[test]
    fn only_external_frames_pass_the_every_connection_filter() {
        let change = stores(&[Provider::Gemini]);
        let external = projects_updated_frame(&change, StoresChangeSource::External);
        let ours = projects_updated_frame(&change, StoresChangeSource::SwitchboardRun);
        assert!(is_external_projects_updated(&external));
        assert!(!is_external_projects_updated(&ours));
        let parsed: Value = serde_json::from_slice(&ours).unwrap();
        assert_eq!(parsed["source"], "switchboard-run");
    }
}

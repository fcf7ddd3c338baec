//! Notifications for every authenticated connection, built here so the WebSocket layer only
//! forwards bytes:
//!
//! - a session started, changed state, learned its native id or ended:
//!   `{"type":"session-upserted","session":{…SessionSummary…}}` (from
//!   [`Registry::session_changes`]); a session retention removed:
//!   `{"type":"session-removed","sessionId":…,"provider":…}`;
//! - the agents' own stores changed (file watcher, debounced):
//!   `{"type":"projects_updated","providers":[…],"changedAt":…}` — the seed's name; clients
//!   refetch `GET /api/projects/{id}/sessions` or `GET /api/projects/discovered`.
//!
//! Neither is journaled (no `seq`): they are hints to refetch, and a client that was away
//! refetches anyway.
//!
//! One pump task ([`spawn_pump`], started with the server) builds each frame once and
//! broadcasts its bytes on [`super::ApiState::notifications`]; each connection forwards them
//! into its outbound queue with [`super::ApiState::forward`].

use bytes::Bytes;
use serde::Serialize;
use switchboard_core::changes::{ChangeKind, SessionChange};
use switchboard_core::Registry;
use switchboard_protocol::api::{ProjectsUpdated, SessionUpserted};
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
    Some(encode_reply(
        "session-upserted",
        &SessionUpserted {
            session: registry.summary(&record),
        },
    ))
}

/// The frame for a change of the agents' stores.
pub fn projects_updated_frame(change: &StoresChanged) -> Vec<u8> {
    encode_reply(
        "projects_updated",
        &ProjectsUpdated {
            providers: change.providers.clone(),
            changed_at: switchboard_protocol::now_ms(),
        },
    )
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
        loop {
            let frame = tokio::select! {
                _ = stop.cancelled() => return,
                change = changes.recv() => match change {
                    Ok(change) => session_frame(&registry, &change).await,
                    // Missed changes are hints only; the next one says "refetch" as well.
                    Err(broadcast::error::RecvError::Lagged(_)) => None,
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                change = stores.recv() => match change {
                    Ok(change) => Some(projects_updated_frame(&change)),
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
}

//! Session change notifications and history retention, on the app in process with the
//! in-process fake agent: changes are announced when a run starts and ends, and become
//! `session-upserted` frames; retention removes finished sessions by size and by age, and
//! never a running session (nor one a client is following).

mod api_common;

use std::sync::Arc;
use std::time::Duration;

use api_common::*;
use serde_json::{json, Value};
use switchboard_core::changes::{ChangeKind, SessionChange};
use switchboard_core::retention::RetentionPolicy;
use switchboard_core::Registry;
use switchboard_protocol::{Provider, RunState};
use switchboard_server::{Application, Settings};
use switchboard_testkit::client::command;
use switchboard_testkit::fake_agent::FakeAgent;
use switchboard_testkit::WsClient;

const TOKEN: &str = "retention-test-token";

struct App {
    addr: std::net::SocketAddr,
    registry: Registry,
    project: tempfile::TempDir,
    _data: tempfile::TempDir,
}

async fn spawn_app(configure: impl FnOnce(&mut Settings)) -> App {
    let data = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let mut settings = Settings::for_data_dir(data.path().to_owned());
    settings.listen = "127.0.0.1:0".parse().unwrap();
    settings.token = Some(TOKEN.into());
    settings.projects = vec![project.path().to_owned()];
    settings.core.idle_unload = Duration::from_secs(1);
    configure(&mut settings);
    let app = Application::build(settings, vec![Arc::new(FakeAgent::new(Provider::Claude))])
        .await
        .unwrap();
    let addr = app.local_addr();
    let registry = app.registry().clone();
    tokio::spawn(app.run_until_stopped());
    App {
        addr,
        registry,
        project,
        _data: data,
    }
}

impl App {
    async fn client(&self) -> WsClient {
        WsClient::connect(self.addr, TOKEN).await.unwrap()
    }

    fn api(&self) -> Api {
        Api {
            addr: self.addr.to_string(),
            token: Some(TOKEN.into()),
        }
    }

    /// Starts a claude (fake agent) session and returns its id.
    async fn start(&self, client: &mut WsClient, prompt: &str) -> String {
        client
            .send(command("claude", prompt, self.project.path(), json!({})))
            .await
            .unwrap();
        let accepted = client
            .recv_until(|f| f["type"] == "session-accepted" || f["type"] == "error")
            .await
            .unwrap()
            .pop()
            .unwrap();
        assert_eq!(accepted["type"], "session-accepted", "{accepted}");
        accepted["sessionId"].as_str().unwrap().to_owned()
    }

    /// A session that ran to its end, then left memory (its client went away).
    async fn finished_and_unloaded(&self, prompt: &str) -> String {
        let mut client = self.client().await;
        let id = self.start(&mut client, prompt).await;
        client.recv_until_terminal(&id).await.unwrap();
        client.close().await.unwrap();
        id
    }

    async fn wait_unloaded(&self) {
        // idle_unload is one second.
        tokio::time::sleep(Duration::from_millis(2500)).await;
    }
}

async fn next_change(
    changes: &mut tokio::sync::broadcast::Receiver<SessionChange>,
    session: &str,
) -> SessionChange {
    loop {
        let change = tokio::time::timeout(Duration::from_secs(20), changes.recv())
            .await
            .expect("a change")
            .unwrap();
        if change.session_id.to_string() == session {
            return change;
        }
    }
}

#[tokio::test]
async fn runs_starting_and_ending_are_announced_as_session_upserted() {
    let app = spawn_app(|_| {}).await;
    let mut changes = app.registry.session_changes();
    let mut client = app.client().await;
    let id = app.start(&mut client, "lines=2 native=native-abc").await;
    let started = next_change(&mut changes, &id).await;
    assert_eq!(
        (started.kind, started.state, started.provider),
        (ChangeKind::Started, RunState::Running, Provider::Claude)
    );
    let frame = switchboard_server::api::notify::session_frame(&app.registry, &started)
        .await
        .unwrap();
    let frame: Value = serde_json::from_slice(&frame).unwrap();
    assert_eq!(frame["type"], "session-upserted");
    assert_eq!(frame["session"]["sessionId"], id.as_str());
    assert!(frame["session"]["projectId"].is_string());
    client.recv_until_terminal(&id).await.unwrap();
    let mut last = started;
    while last.state == RunState::Running {
        last = next_change(&mut changes, &id).await;
        assert_eq!(last.kind, ChangeKind::Updated);
    }
    assert_eq!(last.state, RunState::Completed);
    let frame: Value = serde_json::from_slice(
        &switchboard_server::api::notify::session_frame(&app.registry, &last)
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(frame["session"]["state"], "completed");
    assert_eq!(frame["session"]["providerSessionId"], "native-abc");
    assert!(frame.get("seq").is_none(), "not journaled");
}

#[tokio::test]
async fn pruning_by_size_keeps_running_and_followed_sessions() {
    let app = spawn_app(|_| {}).await;
    let api = app.api();
    let old_a = app.finished_and_unloaded("lines=20").await;
    let old_b = app.finished_and_unloaded("lines=5 fail").await;
    let mut running_client = app.client().await;
    let running = app.start(&mut running_client, "hang").await;
    let mut follower = app.client().await;
    let followed = app.start(&mut follower, "lines=3").await;
    follower.recv_until_terminal(&followed).await.unwrap();
    app.wait_unloaded().await;
    let mut changes = app.registry.session_changes();

    // Generous limits remove nothing.
    let report = app
        .registry
        .prune(RetentionPolicy {
            max_age: Some(Duration::from_secs(3600)),
            max_bytes: Some(u64::MAX),
        })
        .await
        .unwrap();
    assert!(report.removed.is_empty(), "{report:?}");

    // A zero byte budget removes every finished session it may.
    let report = app
        .registry
        .prune(RetentionPolicy {
            max_age: None,
            max_bytes: Some(0),
        })
        .await
        .unwrap();
    let mut removed: Vec<String> = report.removed.iter().map(|id| id.to_string()).collect();
    removed.sort();
    let mut expected = vec![old_a.clone(), old_b.clone()];
    expected.sort();
    assert_eq!(removed, expected, "{report:?}");
    assert!(report.bytes > 0);
    assert_eq!(report.skipped_in_memory, 1, "the followed session");
    let removed_change = next_change(&mut changes, &old_a).await;
    assert_eq!(removed_change.kind, ChangeKind::Removed);
    let frame: Value = serde_json::from_slice(
        &switchboard_server::api::notify::session_frame(&app.registry, &removed_change)
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(frame["type"], "session-removed");

    for gone in [&old_a, &old_b] {
        assert_error(
            &api.get(&format!("/api/sessions/{gone}")).await,
            404,
            "unknown-session",
        );
        assert_error(
            &api.get(&format!("/api/sessions/{gone}/events")).await,
            404,
            "unknown-session",
        );
    }
    let mut client = app.client().await;
    client
        .send(json!({"type": "subscribe", "sessionId": old_a, "lastSeq": 0}))
        .await
        .unwrap();
    assert_eq!(client.recv().await.unwrap()["code"], "unknown-session");

    // The running session is untouched and still runs; the followed one keeps its journal.
    let detail = api.ok(&format!("/api/sessions/{running}")).await;
    assert_eq!(detail["state"], "running");
    let events = api.ok(&format!("/api/sessions/{followed}/events")).await;
    assert!(!events["events"].as_array().unwrap().is_empty());
    running_client
        .send(json!({"type": "abort-session", "sessionId": running}))
        .await
        .unwrap();
    let frames = running_client.recv_until_terminal(&running).await.unwrap();
    assert_eq!(frames.last().unwrap()["state"], "aborted");
}

#[tokio::test]
async fn the_background_task_prunes_by_age_and_spares_live_runs() {
    let app = spawn_app(|settings| {
        settings.retention = RetentionPolicy {
            max_age: Some(Duration::ZERO),
            max_bytes: None,
        };
        settings.retention_interval = Duration::from_secs(1);
    })
    .await;
    let api = app.api();
    let mut running_client = app.client().await;
    let running = app.start(&mut running_client, "hang").await;
    let finished = app.finished_and_unloaded("lines=2").await;
    let mut gone = false;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if api.get(&format!("/api/sessions/{finished}")).await.0 == 404 {
            gone = true;
            break;
        }
    }
    assert!(gone, "the finished session was pruned");
    let listed = api.ok("/api/sessions").await;
    let ids: Vec<&str> = listed["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["sessionId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![running.as_str()]);
    // The live run goes on, through several passes.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        api.ok(&format!("/api/sessions/{running}")).await["state"],
        "running"
    );
    running_client
        .send(json!({"type": "abort-session", "sessionId": running}))
        .await
        .unwrap();
    running_client.recv_until_terminal(&running).await.unwrap();
}

//! Pending permission requests survive disconnects. Driven by the in-process fake agent (the
//! cursor CLI cannot ask), through the real app on port 0.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use switchboard_protocol::Provider;
use switchboard_server::{Application, Settings};
use switchboard_testkit::client::command;
use switchboard_testkit::fake_agent::FakeAgent;
use switchboard_testkit::WsClient;

struct App {
    addr: std::net::SocketAddr,
    token: String,
    project: tempfile::TempDir,
    _data: tempfile::TempDir,
}

async fn spawn_app(permission_timeout: Duration) -> App {
    let data = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let mut settings = Settings::for_data_dir(data.path().to_owned());
    settings.listen = "127.0.0.1:0".parse().unwrap();
    settings.token = Some("permission-test-token".into());
    settings.projects = vec![project.path().to_owned()];
    settings.core.permission_timeout = permission_timeout;
    let app = Application::build(settings, vec![Arc::new(FakeAgent::new(Provider::Claude))])
        .await
        .unwrap();
    let addr = app.local_addr();
    tokio::spawn(app.run_until_stopped());
    App {
        addr,
        token: "permission-test-token".into(),
        project,
        _data: data,
    }
}

impl App {
    async fn client(&self) -> WsClient {
        WsClient::connect(self.addr, &self.token).await.unwrap()
    }
}

async fn start(client: &mut WsClient, app: &App, prompt: &str) -> (String, Value) {
    client
        .send(command("claude", prompt, app.project.path(), json!({})))
        .await
        .unwrap();
    let frames = client
        .recv_until(|f| f["type"] == "claude-permission-request")
        .await
        .unwrap();
    let id = frames[0]["sessionId"].as_str().unwrap().to_owned();
    (id, frames.last().unwrap().clone())
}

#[tokio::test]
async fn a_pending_request_survives_a_disconnect_and_the_run_completes_once_answered() {
    let app = spawn_app(Duration::from_secs(600)).await;
    let mut client = app.client().await;
    let (id, request) = start(&mut client, &app, "lines=2 permission").await;
    assert_eq!(request["toolName"], "Bash");
    let request_id = request["requestId"].as_str().unwrap().to_owned();
    let seen = request["seq"].as_u64().unwrap();
    drop(client);

    let mut client = app.client().await;
    client
        .send(json!({"type":"subscribe","sessionId": id, "lastSeq": seen}))
        .await
        .unwrap();
    let status = client.recv().await.unwrap();
    assert_eq!(status["type"], "session-status");
    assert_eq!(status["isProcessing"], true);
    assert_eq!(status["pendingPermissions"].as_array().unwrap().len(), 1);
    assert_eq!(
        status["pendingPermissions"][0], request,
        "the full request frame"
    );

    client
        .send(json!({"type":"claude-permission-response","requestId": request_id, "allow": true}))
        .await
        .unwrap();
    let frames = client
        .recv_until(|f| f["type"] == "session-state-changed" && f["state"] != "running")
        .await
        .unwrap();
    assert!(frames
        .iter()
        .any(|f| f["event"]["kind"] == "tool-result" && f["event"]["output"] == "ran"));
    assert_eq!(frames.last().unwrap()["state"], "completed");

    // Answered once: a second answer is refused, and nothing is pending any more.
    client
        .send(json!({"type":"permission-response","requestId": request_id, "allow": true}))
        .await
        .unwrap();
    let error = client.recv().await.unwrap();
    assert_eq!(error["code"], "invalid-field");
    client
        .send(json!({"type":"check-session-status","sessionId": id}))
        .await
        .unwrap();
    assert_eq!(
        client.recv().await.unwrap()["pendingPermissions"],
        json!([])
    );
}

#[tokio::test]
async fn denial_reaches_the_agent() {
    let app = spawn_app(Duration::from_secs(600)).await;
    let mut client = app.client().await;
    let (_, request) = start(&mut client, &app, "lines=0 permission").await;
    client
        .send(json!({"type":"claude-permission-response","requestId": request["requestId"], "allow": false, "message":"not now"}))
        .await
        .unwrap();
    let frames = client
        .recv_until(|f| f["type"] == "session-state-changed" && f["state"] != "running")
        .await
        .unwrap();
    assert!(frames
        .iter()
        .any(|f| f["event"]["kind"] == "notice" && f["event"]["message"] == "denied: not now"));
    assert!(!frames.iter().any(|f| f["event"]["kind"] == "tool-result"));
}

#[tokio::test]
async fn an_unanswered_request_times_out_with_a_cancel_frame() {
    let app = spawn_app(Duration::from_millis(300)).await;
    let mut client = app.client().await;
    let (_, request) = start(&mut client, &app, "lines=0 permission").await;
    let frames = client
        .recv_until(|f| f["type"] == "session-state-changed" && f["state"] != "running")
        .await
        .unwrap();
    let cancelled = frames
        .iter()
        .find(|f| f["type"] == "claude-permission-cancelled")
        .unwrap();
    assert_eq!(cancelled["requestId"], request["requestId"]);
    assert_eq!(cancelled["reason"], "timeout");
    assert!(
        frames.iter().any(|f| f["event"]["kind"] == "notice"),
        "the agent saw a denial"
    );
}

#[tokio::test]
async fn abort_cancels_a_pending_request() {
    let app = spawn_app(Duration::from_secs(600)).await;
    let mut client = app.client().await;
    let (id, request) = start(&mut client, &app, "lines=0 permission hang").await;
    client
        .send(json!({"type":"abort-session","sessionId": id, "provider":"claude"}))
        .await
        .unwrap();
    let frames = client
        .recv_until(|f| f["type"] == "session-state-changed" && f["state"] != "running")
        .await
        .unwrap();
    let cancelled = frames
        .iter()
        .find(|f| f["type"] == "claude-permission-cancelled")
        .unwrap();
    assert_eq!(cancelled["requestId"], request["requestId"]);
    assert_eq!(cancelled["reason"], "cancelled");
    assert_eq!(frames.last().unwrap()["state"], "aborted");
}

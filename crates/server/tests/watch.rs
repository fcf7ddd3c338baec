//! Session and project list updates reach the connections that asked for them
//! (`watch-sessions`), and only those.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

#[tokio::test]
async fn a_watching_connection_sees_sessions_start_and_end() {
    let server = server();
    let mut watcher = server.client().await.unwrap();
    watcher
        .send(json!({"type": "watch-sessions"}))
        .await
        .unwrap();
    // Let the watch start before anything happens.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut worker = server.client().await.unwrap();
    let (id, _) = start_session(&mut worker, "lines=2", server.project_path())
        .await
        .unwrap();
    let frames = worker.recv_until_terminal(&id).await.unwrap();
    assert!(
        frames.iter().all(|f| f["type"] != "session-upserted"),
        "a connection that did not ask gets no list updates"
    );
    let seen = watcher
        .recv_until(|f| {
            f["type"] == "session-upserted"
                && f["session"]["sessionId"] == id
                && f["session"]["state"] == "completed"
        })
        .await
        .unwrap();
    assert!(
        seen.iter().all(|f| f.get("seq").is_none()),
        "list updates are not journaled"
    );
    watcher
        .send(json!({"type": "unwatch-sessions"}))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (id2, _) = start_session(&mut worker, "lines=1", server.project_path())
        .await
        .unwrap();
    worker.recv_until_terminal(&id2).await.unwrap();
    // Updates about the first session may still be in flight; none about the second come.
    while let Ok(frame) = watcher.recv_timeout(Duration::from_millis(500)).await {
        assert_ne!(
            frame["session"]["sessionId"],
            id2.as_str(),
            "an update after unwatch-sessions"
        );
    }
}

#[tokio::test]
async fn a_change_in_an_agent_store_reaches_every_connected_client() {
    let home = tempfile::tempdir().unwrap();
    let projects = home.path().join(".claude/projects");
    std::fs::create_dir_all(&projects).unwrap();
    let home_str = home.path().to_string_lossy().into_owned();
    let server = server_with("", &[("HOME", home_str.as_str())]);
    // One connection watches the session list, the other does not: both hear of the change.
    let mut watching = server.client().await.unwrap();
    watching
        .send(json!({"type": "watch-sessions"}))
        .await
        .unwrap();
    let mut plain = server.client().await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let folder = projects.join("-srv-demo");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(
        folder.join("5b1f0c2e-8a4d-4c3e-9f7a-2d6b1e0a9c11.jsonl"),
        "{\"type\":\"user\",\"sessionId\":\"5b1f0c2e-8a4d-4c3e-9f7a-2d6b1e0a9c11\",\"cwd\":\"/srv/demo\"}\n",
    )
    .unwrap();
    for client in [&mut watching, &mut plain] {
        let frame = client
            .recv_until(|f| f["type"] == "projects_updated")
            .await
            .unwrap()
            .pop()
            .unwrap();
        assert!(frame.get("seq").is_none());
        assert!(frame["providers"].to_string().contains("claude"), "{frame}");
    }
}

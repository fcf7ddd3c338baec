//! Session history over REST on the real binary: `GET /api/sessions` (keyset pages, filters),
//! `GET /api/sessions/{id}` (detail) and `GET /api/sessions/{id}/events` (journal pages that
//! are, byte for byte, what `subscribe` replays).

mod api_common;
mod common;

use std::collections::HashSet;
use std::time::Duration;

use api_common::*;
use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use switchboard_testkit::TestServer;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

/// Subscribes on a fresh connection and returns the raw text of every journaled frame after
/// `last_seq`, up to and including `until_seq`.
async fn subscribe_replay(
    server: &TestServer,
    session: &str,
    last_seq: u64,
    until_seq: u64,
) -> Vec<String> {
    let mut request = format!("ws://{}/ws", server.addr)
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {}", server.token)).unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    socket
        .send(Message::Text(
            json!({"type": "subscribe", "sessionId": session, "lastSeq": last_seq})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    let mut frames = Vec::new();
    if last_seq >= until_seq {
        return frames;
    }
    loop {
        let message = tokio::time::timeout(Duration::from_secs(20), socket.next())
            .await
            .expect("the replay keeps coming")
            .unwrap()
            .unwrap();
        let Message::Text(text) = message else {
            continue;
        };
        let value: Value = serde_json::from_str(text.as_str()).unwrap();
        let Some(seq) = value["seq"].as_u64() else {
            assert_ne!(value["type"], "error", "{value}");
            continue;
        };
        frames.push(text.as_str().to_owned());
        if seq >= until_seq {
            return frames;
        }
    }
}

/// Pages through `/events` and returns the raw text of every event, checking the paging
/// fields on the way.
async fn page_events(api: &Api, session: &str, after: u64, limit: usize) -> (Vec<String>, u64) {
    let mut after_seq = after;
    let mut all = Vec::new();
    loop {
        let response = api
            .raw(
                "GET",
                &format!("/api/sessions/{session}/events?after_seq={after_seq}&limit={limit}"),
                None,
            )
            .await;
        assert_eq!(response.status, 200, "{}", response.text());
        assert_eq!(response.header("content-type"), Some("application/json"));
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Page {
            events: Vec<Box<serde_json::value::RawValue>>,
            next_after_seq: u64,
            has_more: bool,
        }
        let page: Page = serde_json::from_slice(&response.body).unwrap();
        assert!(page.events.len() <= limit);
        let mut last = after_seq;
        for event in &page.events {
            let seq = serde_json::from_str::<Value>(event.get()).unwrap()["seq"]
                .as_u64()
                .unwrap();
            assert!(seq > last, "in order, after after_seq");
            last = seq;
        }
        assert_eq!(page.next_after_seq, last);
        all.extend(page.events.iter().map(|e| e.get().to_owned()));
        after_seq = page.next_after_seq;
        if !page.has_more {
            assert!(
                page.events.len() < limit || page.events.is_empty() || {
                    // A full last page is possible; the next one must then be empty.
                    let next = api
                        .ok(&format!(
                            "/api/sessions/{session}/events?after_seq={after_seq}&limit={limit}"
                        ))
                        .await;
                    next["events"].as_array().unwrap().is_empty()
                }
            );
            return (all, after_seq);
        }
    }
}

#[tokio::test]
async fn events_pages_equal_the_subscribe_replay_frame_for_frame() {
    // Sessions leave memory one second after they go idle, so the second half reads the
    // store rather than the ring.
    let server = server_with("idle_unload_secs = 1\n", &[]);
    let api = Api::of(&server);
    let mut client = server.client().await.unwrap();
    let (id, _) = start_session(&mut client, "lines=120 tool", server.project_path())
        .await
        .unwrap();
    client.recv_until_terminal(&id).await.unwrap();
    // A second run of the same session.
    client
        .send(
            json!({"type": "cursor-command", "command": "lines=40 exit=3",
                     "options": {"sessionId": id}}),
        )
        .await
        .unwrap();
    client.recv_until_terminal(&id).await.unwrap();

    let detail = api.ok(&format!("/api/sessions/{id}")).await;
    let last_seq = detail["lastSeq"].as_u64().unwrap();
    assert!(last_seq > 160, "{detail}");

    // In memory (the client is still subscribed): pages of 7 against the replay from 0.
    let (paged, end) = page_events(&api, &id, 0, 7).await;
    assert_eq!(end, last_seq);
    let replay = subscribe_replay(&server, &id, 0, last_seq).await;
    assert_eq!(paged.len() as u64, last_seq);
    assert_eq!(paged, replay, "pages are the replay, byte for byte");
    // From the middle, as a client resuming with lastSeq would.
    let (tail, _) = page_events(&api, &id, 100, 33).await;
    assert_eq!(tail, subscribe_replay(&server, &id, 100, last_seq).await);
    assert_eq!(tail, paged[100..]);

    // Out of memory: the pages come from the store and are still the same bytes.
    client.close().await.unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (stored, _) = page_events(&api, &id, 0, 50).await;
    assert_eq!(stored, paged);
    assert_eq!(stored, subscribe_replay(&server, &id, 0, last_seq).await);

    // Past the end: empty, and nothing more.
    let past = api
        .ok(&format!("/api/sessions/{id}/events?after_seq={last_seq}"))
        .await;
    assert_eq!(
        past,
        json!({"events": [], "nextAfterSeq": last_seq, "hasMore": false})
    );
    let far = api
        .ok(&format!(
            "/api/sessions/{id}/events?afterSeq=999999&limit=1"
        ))
        .await;
    assert_eq!(far["events"], json!([]));
}

#[tokio::test]
async fn a_live_run_pages_what_it_has_sent_so_far() {
    let server = server();
    let api = Api::of(&server);
    let mut client = server.client().await.unwrap();
    let (id, _) = start_session(&mut client, "hang", server.project_path())
        .await
        .unwrap();
    // The fixture prints its init and user lines, then hangs: read the journal while the run
    // is live.
    let frames = client
        .recv_until(|f| f["type"] == "cursor-response")
        .await
        .unwrap();
    let seen = of_session(&frames, &id).len() as u64 + 1;
    let (paged, end) = page_events(&api, &id, 0, 3).await;
    assert!(end >= seen, "{end} < {seen}");
    let replay = subscribe_replay(&server, &id, 0, end).await;
    assert_eq!(paged, replay);
    let detail = api.ok(&format!("/api/sessions/{id}")).await;
    assert_eq!(detail["state"], "running");
    assert_eq!(detail["isProcessing"], true);
    client
        .send(json!({"type": "abort-session", "sessionId": id}))
        .await
        .unwrap();
    client.recv_until_terminal(&id).await.unwrap();
    let detail = api.ok(&format!("/api/sessions/{id}")).await;
    assert_eq!(detail["state"], "aborted");
    assert_eq!(detail["runs"][0]["state"], "aborted");
}

#[tokio::test]
async fn sessions_are_listed_in_stable_pages_with_filters() {
    let server = server();
    let api = Api::of(&server);
    let other = tempfile::tempdir().unwrap();
    let (status, project) = api
        .post(
            "/api/projects",
            json!({"path": other.path().to_string_lossy()}),
        )
        .await;
    assert_eq!(status, 201);
    let other_id = project["id"].as_str().unwrap().to_owned();
    let main_id = api.ok("/api/projects").await["projects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] != other_id.as_str())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut client = server.client().await.unwrap();
    let mut ids = Vec::new();
    for (prompt, dir) in [
        ("lines=1", server.project_path()),
        ("lines=2 exit=3", server.project_path()),
        ("lines=1", other.path()),
        ("lines=3", server.project_path()),
        ("lines=1 exit=2", other.path()),
        ("lines=1", server.project_path()),
        ("lines=1", server.project_path()),
    ] {
        let (id, _) = start_session(&mut client, prompt, dir).await.unwrap();
        client.recv_until_terminal(&id).await.unwrap();
        ids.push(id);
    }

    // Pages of 2 walk every session exactly once, newest update first.
    let mut seen: Vec<Value> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/sessions?limit=2&cursor={}", q(c)),
            None => "/api/sessions?limit=2".to_owned(),
        };
        let page = api.ok(&path).await;
        let sessions = page["sessions"].as_array().unwrap();
        assert!(sessions.len() <= 2);
        seen.extend(sessions.iter().cloned());
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), ids.len());
    let unique: HashSet<&str> = seen
        .iter()
        .map(|s| s["sessionId"].as_str().unwrap())
        .collect();
    assert_eq!(unique, ids.iter().map(String::as_str).collect());
    let keys: Vec<(u64, String)> = seen
        .iter()
        .map(|s| {
            (
                s["updatedAt"].as_u64().unwrap(),
                s["sessionId"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(keys, sorted);
    let first = &seen
        .iter()
        .find(|s| s["sessionId"] == ids[0].as_str())
        .unwrap();
    for field in [
        "sessionId",
        "provider",
        "projectId",
        "projectName",
        "state",
        "createdAt",
        "updatedAt",
        "startTime",
        "providerSessionId",
        "lastSeq",
    ] {
        assert!(!first[field].is_null(), "{field} in {first}");
    }
    assert_eq!(first["provider"], "cursor");
    assert_eq!(first["projectId"], main_id.as_str());

    let count = |v: &Value| v["sessions"].as_array().unwrap().len();
    assert_eq!(
        count(&api.ok(&format!("/api/sessions?project={other_id}")).await),
        2
    );
    assert_eq!(
        count(
            &api.ok(&format!("/api/sessions?project={main_id}&state=failed"))
                .await
        ),
        1
    );
    assert_eq!(count(&api.ok("/api/sessions?state=failed").await), 2);
    assert_eq!(
        count(&api.ok("/api/sessions?state=completed,failed").await),
        7
    );
    assert_eq!(count(&api.ok("/api/sessions?provider=claude").await), 0);
    assert_eq!(count(&api.ok("/api/sessions?provider=cursor").await), 7);
    assert_eq!(
        count(
            &api.ok("/api/sessions?project=&state=&provider=&cursor=")
                .await
        ),
        7,
        "empty values are no filter"
    );

    for (query, status, code) in [
        (
            "project=0b7e1f9a-3c5d-4e2f-8a1b-9c0d2e3f4a5b",
            404,
            "unknown-project",
        ),
        ("project=..%2F..", 400, "invalid-field"),
        ("state=sleeping", 400, "invalid-field"),
        ("provider=emacs", 400, "invalid-field"),
        ("cursor=forged", 400, "invalid-field"),
        ("limit=0", 400, "invalid-field"),
        ("limit=100000", 400, "invalid-field"),
        ("limit=ten", 400, "invalid-field"),
        ("colour=blue", 400, "invalid-field"),
        ("state=failed&state=completed", 400, "invalid-field"),
    ] {
        assert_error(
            &api.get(&format!("/api/sessions?{query}")).await,
            status,
            code,
        );
    }
}

#[tokio::test]
async fn detail_counts_runs_and_refuses_bad_ids() {
    let server = server();
    let api = Api::of(&server);
    let mut client = server.client().await.unwrap();
    let (id, _) = start_session(&mut client, "lines=3 tool", server.project_path())
        .await
        .unwrap();
    let frames = client.recv_until_terminal(&id).await.unwrap();
    let native = frames
        .iter()
        .find(|f| f["type"] == "session-created")
        .unwrap()["providerSessionId"]
        .clone();
    client
        .send(json!({"type": "cursor-command", "command": "lines=1",
                     "options": {"sessionId": id, "model": "gpt-5"}}))
        .await
        .unwrap();
    client.recv_until_terminal(&id).await.unwrap();

    let detail = api.ok(&format!("/api/sessions/{id}")).await;
    assert_eq!(detail["sessionId"], id.as_str());
    assert_eq!(detail["state"], "completed");
    assert_eq!(detail["isProcessing"], false);
    assert_eq!(detail["providerSessionId"], native);
    assert_eq!(detail["model"], "gpt-5");
    assert_eq!(
        detail["cwd"],
        std::fs::canonicalize(server.project_path())
            .unwrap()
            .to_string_lossy()
            .as_ref()
    );
    assert_eq!(detail["counts"]["runs"], 2);
    assert_eq!(detail["counts"]["toolCalls"], 1);
    assert_eq!(detail["counts"]["frames"], detail["lastSeq"]);
    assert!(detail["counts"]["bytes"].as_u64().unwrap() > 0);
    let runs = detail["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert!(runs
        .iter()
        .all(|r| r["state"] == "completed" && r["exitCode"] == 0 && r["endedAt"].is_u64()));
    assert_eq!(runs[0]["seq"], 1);
    assert!(
        detail["usage"]["reports"].as_u64().unwrap() >= 2,
        "{detail}"
    );
    assert!(detail["usage"]["outputTokens"].as_u64().unwrap() > 0);

    let unknown = "0b7e1f9a-3c5d-4e2f-8a1b-9c0d2e3f4a5b";
    assert_error(
        &api.get(&format!("/api/sessions/{unknown}")).await,
        404,
        "unknown-session",
    );
    assert_error(
        &api.get(&format!("/api/sessions/{unknown}/events")).await,
        404,
        "unknown-session",
    );
    for bad in [
        "not-an-id",
        "..",
        "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "0B7E1F9A-3C5D-4E2F-8A1B-9C0D2E3F4A5B",
        "new-session-1",
    ] {
        assert_error(
            &api.get(&format!("/api/sessions/{bad}")).await,
            400,
            "invalid-field",
        );
        assert_error(
            &api.get(&format!("/api/sessions/{bad}/events")).await,
            400,
            "invalid-field",
        );
    }
    for query in [
        "after_seq=-1",
        "after_seq=x",
        "limit=0",
        "limit=5001",
        "lastSeq=1",
    ] {
        assert_error(
            &api.get(&format!("/api/sessions/{id}/events?{query}")).await,
            400,
            "invalid-field",
        );
    }
}

#[tokio::test]
async fn retention_keys_in_the_config_file_prune_finished_sessions() {
    let server = server_with(
        "retention_max_age_secs = 0\nretention_interval_secs = 1\nidle_unload_secs = 1\n",
        &[],
    );
    let api = Api::of(&server);
    let mut client = server.client().await.unwrap();
    let (id, _) = start_session(&mut client, "lines=2", server.project_path())
        .await
        .unwrap();
    client.recv_until_terminal(&id).await.unwrap();
    let (running, _) = start_session(&mut client, "hang", server.project_path())
        .await
        .unwrap();
    // The finished session stays while this connection follows it; once it leaves memory,
    // a pass removes it.
    let mut gone = false;
    for _ in 0..12 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if api.get(&format!("/api/sessions/{id}")).await.0 == 404 {
            gone = true;
            break;
        }
    }
    assert!(!gone, "followed sessions stay");
    client
        .send(json!({"type": "unsubscribe", "sessionId": id}))
        .await
        .unwrap();
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if api.get(&format!("/api/sessions/{id}")).await.0 == 404 {
            gone = true;
            break;
        }
    }
    assert!(gone, "the finished session was pruned");
    assert_eq!(
        api.ok(&format!("/api/sessions/{running}")).await["state"],
        "running"
    );
    client
        .send(json!({"type": "abort-session", "sessionId": running}))
        .await
        .unwrap();
    client.recv_until_terminal(&running).await.unwrap();
}

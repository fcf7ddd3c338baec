//! Per-connection limits: message rate, subscribers per session, and liveness (pings).

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

#[tokio::test]
async fn a_flooding_connection_is_rate_limited_and_stays_usable() {
    let server = server_with("max_messages_per_sec = 5\nmax_message_burst = 5\n", &[]);
    let mut client = server.client().await.unwrap();
    for _ in 0..20 {
        client
            .send(json!({"type":"get-active-sessions"}))
            .await
            .unwrap();
    }
    let mut answered = 0;
    let mut limited = 0;
    for _ in 0..20 {
        let frame = client.recv().await.unwrap();
        match frame["type"].as_str() {
            Some("active-sessions") => answered += 1,
            Some("error") => {
                assert_eq!(frame["code"], "rate-limited");
                limited += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!((5..=7).contains(&answered), "answered {answered}");
    assert_eq!(answered + limited, 20);
    // The bucket refills: after a pause the connection works again.
    tokio::time::sleep(Duration::from_millis(600)).await;
    client
        .send(json!({"type":"get-active-sessions"}))
        .await
        .unwrap();
    assert_eq!(client.recv().await.unwrap()["type"], "active-sessions");
}

#[tokio::test]
async fn a_session_has_a_bounded_number_of_subscribers() {
    let server = server_with("max_subscribers_per_session = 2\n", &[]);
    let mut owner = server.client().await.unwrap();
    let (id, _) = start_session(&mut owner, "hang", server.project_path())
        .await
        .unwrap();
    let mut second = server.client().await.unwrap();
    second
        .send(json!({"type":"subscribe","sessionId": id, "lastSeq": 0}))
        .await
        .unwrap();
    assert_eq!(second.recv().await.unwrap()["type"], "session-status");
    let mut third = server.client().await.unwrap();
    third
        .send(json!({"type":"subscribe","sessionId": id, "lastSeq": 0}))
        .await
        .unwrap();
    let refused = third.recv().await.unwrap();
    assert_eq!(refused["code"], "too-many-subscribers", "{refused}");
    // Re-subscribing on a connection that already follows the session is not one more (frames
    // of the first subscription may still be in flight before the new status).
    second
        .send(json!({"type":"subscribe","sessionId": id, "lastSeq": 0}))
        .await
        .unwrap();
    let frames = second
        .recv_until(|f| f["type"] == "session-status" || f["type"] == "error")
        .await
        .unwrap();
    assert_eq!(frames.last().unwrap()["type"], "session-status");
    // When one leaves, there is room again.
    drop(second);
    tokio::time::sleep(Duration::from_millis(200)).await;
    third
        .send(json!({"type":"subscribe","sessionId": id, "lastSeq": 0}))
        .await
        .unwrap();
    assert_eq!(third.recv().await.unwrap()["type"], "session-status");
    owner
        .send(json!({"type":"abort-session","sessionId": id}))
        .await
        .unwrap();
    owner.recv_until_terminal(&id).await.unwrap();
}

#[tokio::test]
async fn a_connection_that_stops_answering_pings_is_dropped_and_its_session_goes_on() {
    let server = server_with("ping_interval_ms = 100\nidle_timeout_ms = 400\n", &[]);
    let mut owner = server.client().await.unwrap();
    let (id, _) = start_session(&mut owner, "lines=30 delay_ms=50", server.project_path())
        .await
        .unwrap();
    // The owner keeps reading (and so answers pings) the whole time.
    let owner_id = id.clone();
    let owner = tokio::spawn(async move { owner.recv_until_terminal(&owner_id).await.unwrap() });
    // A silent peer: it never reads, so it never answers a ping.
    let silent = server.client().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let mut silent = silent;
    // It subscribed to nothing, so the only thing it can see is the server closing it (a
    // timeout here would mean the server kept it).
    let outcome = silent.recv_timeout(Duration::from_secs(2)).await;
    let error = outcome.expect_err("no frame was expected").to_string();
    assert!(
        !error.contains("no frame within"),
        "the silent connection was not dropped: {error}"
    );
    // The responsive owner still gets the whole run.
    let frames = owner.await.unwrap();
    assert_eq!(frames.last().unwrap()["state"], "completed");
}

#[tokio::test]
async fn a_silent_agent_gets_a_notice_not_a_kill() {
    let server = server_with("agent_silence_notice_secs = 1\n", &[]);
    let mut client = server.client().await.unwrap();
    let (id, _) = start_session(&mut client, "hang", server.project_path())
        .await
        .unwrap();
    let frames = client
        .recv_until(|f| {
            f["event"]["kind"] == "notice"
                && f["event"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("may be hung"))
        })
        .await
        .unwrap();
    let notice = frames.last().unwrap();
    assert_eq!(notice["type"], "cursor-response");
    assert!(
        notice["data"].is_null(),
        "the line is the server's: {notice}"
    );
    // Still running: the watchdog only warns.
    client
        .send(json!({"type":"check-session-status","sessionId": id}))
        .await
        .unwrap();
    let status = client
        .recv_until(|f| f["type"] == "session-status")
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(status["isProcessing"], true);
    client
        .send(json!({"type":"abort-session","sessionId": id}))
        .await
        .unwrap();
    let end = client.recv_until_terminal(&id).await.unwrap();
    assert_eq!(end.last().unwrap()["state"], "aborted");
}

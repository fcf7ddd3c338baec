//! State that survives the server: a restart interrupts live runs, keeps their history, and
//! never reuses a seq, not even after `kill -9`.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

#[tokio::test]
async fn graceful_restart_mid_run_leaves_the_session_interrupted_and_replayable() {
    let mut server = server();
    let mut client = server.client().await.unwrap();
    let (id, mut seen) = start_session(
        &mut client,
        "lines=100000 delay_ms=5",
        server.project_path(),
    )
    .await
    .unwrap();
    seen.extend(
        client
            .recv_until(|f| f["event"]["kind"] == "text")
            .await
            .unwrap(),
    );
    let status = server.stop_with(libc::SIGTERM).unwrap();
    assert!(
        status.success(),
        "SIGTERM ends the server cleanly: {status:?}"
    );
    // Whatever the client got before the connection dropped.
    while let Ok(frame) = client.recv_timeout(Duration::from_millis(200)).await {
        seen.push(frame);
    }
    server.restart().unwrap();

    let mut client = server.client().await.unwrap();
    client
        .send(json!({"type":"subscribe","sessionId": id, "lastSeq": 0}))
        .await
        .unwrap();
    let status = client.recv().await.unwrap();
    assert_eq!(status["type"], "session-status");
    assert_eq!(status["state"], "interrupted");
    assert_eq!(status["isProcessing"], false);
    let history = client.recv_until_terminal(&id).await.unwrap();
    let history: Vec<_> = history.iter().collect();
    assert_eq!(
        seqs(&history),
        (1..=history.len() as u64).collect::<Vec<_>>(),
        "a clean stop leaves no gap"
    );
    assert_eq!(terminal_states(&history), ["interrupted"]);
    let last = history.last().unwrap();
    assert_eq!(last["reason"], "server-restart");
    assert!(last.get("lostFrom").is_none(), "nothing was lost: {last}");
    // Everything the client saw live is in the history, byte for byte.
    for frame in of_session(&seen, &id) {
        let seq = frame["seq"].as_u64().unwrap() as usize;
        assert_eq!(frame, history[seq - 1]);
    }
}

#[tokio::test]
async fn kill_dash_nine_never_reuses_a_seq_and_announces_the_gap() {
    let mut server = server_with("persist_batch_ms = 200\n", &[]);
    let mut client = server.client().await.unwrap();
    let (id, mut seen) = start_session(
        &mut client,
        "lines=100000 delay_ms=1",
        server.project_path(),
    )
    .await
    .unwrap();
    seen.extend(
        client
            .recv_until(|f| f["seq"].as_u64().is_some_and(|s| s > 200))
            .await
            .unwrap(),
    );
    server.stop_with(libc::SIGKILL).unwrap();
    while let Ok(frame) = client.recv_timeout(Duration::from_millis(100)).await {
        seen.push(frame);
    }
    let max_seen = seqs(&of_session(&seen, &id)).into_iter().max().unwrap();
    server.restart().unwrap();

    let mut client = server.client().await.unwrap();
    client
        .send(json!({"type":"subscribe","sessionId": id, "lastSeq": 0}))
        .await
        .unwrap();
    let status = client.recv().await.unwrap();
    assert_eq!(status["state"], "interrupted");
    let history = client.recv_until_terminal(&id).await.unwrap();
    let last = history.last().unwrap();
    assert_eq!(last["state"], "interrupted");
    let terminal_seq = last["seq"].as_u64().unwrap();
    assert!(
        terminal_seq > max_seen,
        "seq {terminal_seq} reused (client saw up to {max_seen})"
    );
    // Frames the client saw but the store never got are inside the announced range.
    let stored: Vec<u64> = history.iter().filter_map(|f| f["seq"].as_u64()).collect();
    for seq in seqs(&of_session(&seen, &id)) {
        if !stored.contains(&seq) {
            let from = last["lostFrom"].as_u64().expect("a gap is announced");
            let to = last["lostTo"].as_u64().unwrap();
            assert!(
                (from..=to).contains(&seq),
                "seq {seq} lost outside {from}..={to}"
            );
        }
    }
    // The agent the dead server left running does not write to the journal any more, and a
    // new run continues above every seq.
    client
        .send(json!({"type":"cursor-command","command":"lines=2",
                     "options":{"projectPath": server.project_path(), "sessionId": id}}))
        .await
        .unwrap();
    let run = client.recv_until_terminal(&id).await.unwrap();
    let first = run
        .iter()
        .find(|f| f["type"] == "session-accepted")
        .unwrap();
    assert!(first["seq"].as_u64().unwrap() > terminal_seq);
    assert_eq!(run.last().unwrap()["state"], "completed");
}

#[tokio::test]
async fn the_next_start_ends_what_a_killed_server_left_running() {
    let mut server = server();
    let mut client = server.client().await.unwrap();
    let (id, grandchild) = start_with_grandchild(&server, &mut client, "left-behind.pid").await;
    // Let the run's marker reach the store, then kill the server without a chance to clean up.
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.stop_with(libc::SIGKILL).unwrap();
    assert!(
        process_alive(grandchild),
        "the grandchild outlives a killed server"
    );
    server.restart().unwrap();
    let mut gone = false;
    for _ in 0..100 {
        if !process_alive(grandchild) {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(gone, "grandchild {grandchild} survived the restart");
    let mut client = server.client().await.unwrap();
    client
        .send(json!({"type":"check-session-status","sessionId": id}))
        .await
        .unwrap();
    assert_eq!(client.recv().await.unwrap()["state"], "interrupted");
}

//! The run lifecycle over the real binary and the fixture cursor CLI: ordering, exactly one
//! terminal state, busy and queue, abort.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

#[tokio::test]
async fn new_session_streams_in_order_and_completes() {
    let server = server();
    let mut client = server.client().await.unwrap();
    client
        .send(json!({"type":"cursor-command","command":"lines=3 tool","clientRequestId":"req-1",
                     "options":{"projectPath": server.project_path(), "sessionId":"new-session-1"}}))
        .await
        .unwrap();
    let first = client.recv().await.unwrap();
    assert_eq!(first["type"], "session-accepted", "{first}");
    assert_eq!(first["clientRequestId"], "req-1");
    assert_eq!(
        first["prompt"], "lines=3 tool",
        "the journal keeps what was asked"
    );
    assert_eq!(first["seq"], 1);
    assert_eq!(first["provider"], "cursor");
    let id = first["sessionId"].as_str().unwrap().to_owned();
    assert!(
        switchboard_protocol::SessionId::parse(&id).is_some(),
        "{id}"
    );
    let mut frames = vec![first];
    frames.extend(client.recv_until_terminal(&id).await.unwrap());
    let frames = of_session(&frames, &id);
    let types: Vec<&str> = frames.iter().map(|f| f["type"].as_str().unwrap()).collect();
    assert_eq!(
        &types[..3],
        [
            "session-accepted",
            "session-state-changed",
            "session-created"
        ]
    );
    assert_eq!(frames[1]["state"], "running");
    assert_eq!(frames[1]["reason"], "command-accepted");
    assert!(frames[2]["providerSessionId"].is_string(), "{}", frames[2]);
    assert_eq!(
        frames[2]["projectName"].as_str().unwrap().chars().next(),
        Some('-')
    );
    assert_eq!(types[types.len() - 2], "cursor-complete");
    assert_eq!(seqs(&frames), (1..=frames.len() as u64).collect::<Vec<_>>());
    assert_eq!(terminal_states(&frames), ["completed"]);
    let last = frames.last().unwrap();
    assert_eq!(last["exitCode"], 0);
    assert_eq!(last["abortRequested"], false);
    // Every agent line became a cursor-response with a normalized event and the raw line.
    let responses: Vec<_> = frames
        .iter()
        .filter(|f| f["type"] == "cursor-response")
        .collect();
    assert!(responses
        .iter()
        .all(|f| f["event"]["kind"].is_string() && !f["data"].is_null()));
    assert!(responses.iter().any(|f| f["event"]["kind"] == "tool-call"));
    assert!(responses
        .iter()
        .any(|f| f["event"]["kind"] == "tool-result"));
    assert!(responses
        .iter()
        .any(|f| f["event"]["kind"] == "native-session"));
    assert!(frames.iter().any(|f| f["type"] == "token-budget"));
}

#[tokio::test]
async fn ten_thousand_lines_arrive_in_order_with_contiguous_seqs() {
    let server = server();
    let mut client = server.client().await.unwrap();
    let (id, mut frames) =
        start_session(&mut client, "lines=10000 bytes=100", server.project_path())
            .await
            .unwrap();
    frames.extend(client.recv_until_terminal(&id).await.unwrap());
    let frames = of_session(&frames, &id);
    assert_eq!(seqs(&frames), (1..=frames.len() as u64).collect::<Vec<_>>());
    let texts: Vec<&str> = frames
        .iter()
        .filter(|f| f["event"]["kind"] == "text")
        .map(|f| f["event"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts.len(), 10_000);
    for (i, text) in texts.iter().enumerate() {
        assert!(
            text.starts_with(&format!("line {} ", i + 1)),
            "line {i}: {text}"
        );
    }
    assert_eq!(terminal_states(&frames), ["completed"]);
}

async fn run_to_end(prompt: &str) -> Vec<serde_json::Value> {
    let server = server();
    let mut client = server.client().await.unwrap();
    let (id, mut frames) = start_session(&mut client, prompt, server.project_path())
        .await
        .unwrap();
    frames.extend(client.recv_until_terminal(&id).await.unwrap());
    // Nothing after the terminal state.
    client
        .expect_silence(Duration::from_millis(300))
        .await
        .unwrap();
    frames
        .into_iter()
        .filter(|f| f["sessionId"] == id)
        .collect()
}

#[tokio::test]
async fn non_zero_exit_fails_once() {
    let frames = run_to_end("lines=2 exit=3").await;
    let frames: Vec<_> = frames.iter().collect();
    assert_eq!(terminal_states(&frames), ["failed"]);
    let last = frames.last().unwrap();
    assert_eq!(last["exitCode"], 3);
    assert_eq!(last["reason"], "exit");
    assert!(frames.iter().any(|f| f["type"] == "cursor-error"));
    assert!(!frames.iter().any(|f| f["type"] == "cursor-complete"));
}

#[tokio::test]
async fn crash_fails_once() {
    let frames = run_to_end("lines=5 crash_after=2").await;
    let frames: Vec<_> = frames.iter().collect();
    assert_eq!(terminal_states(&frames), ["failed"]);
    assert!(frames.last().unwrap()["error"]
        .as_str()
        .unwrap()
        .contains("signal"));
}

#[tokio::test]
async fn error_result_is_agent_error() {
    let frames = run_to_end("lines=1 error_result").await;
    let frames: Vec<_> = frames.iter().collect();
    assert_eq!(terminal_states(&frames), ["failed"]);
    assert_eq!(frames.last().unwrap()["reason"], "agent-error");
}

#[tokio::test]
async fn stderr_is_a_notice_not_a_state() {
    let frames = run_to_end("lines=1 stderr=something_went_sideways").await;
    let frames: Vec<_> = frames.iter().collect();
    assert!(frames
        .iter()
        .any(|f| f["event"]["kind"] == "notice"
            && f["event"]["message"] == "something went sideways"));
    assert_eq!(terminal_states(&frames), ["completed"]);
}

#[tokio::test]
async fn missing_binary_fails_with_spawn_failed() {
    let server = server_with(
        "",
        &[("SWITCHBOARD_CURSOR_BIN", "/nonexistent/cursor-agent")],
    );
    let mut client = server.client().await.unwrap();
    let (id, mut frames) = start_session(&mut client, "hello", server.project_path())
        .await
        .unwrap();
    frames.extend(client.recv_until_terminal(&id).await.unwrap());
    let frames = of_session(&frames, &id);
    assert_eq!(terminal_states(&frames), ["failed"]);
    let last = frames.last().unwrap();
    assert_eq!(last["reason"], "spawn-failed");
    assert!(
        last["error"]
            .as_str()
            .unwrap()
            .contains("SWITCHBOARD_CURSOR_BIN"),
        "{last}"
    );
}

#[tokio::test]
async fn abort_ends_aborted_after_the_process_is_gone() {
    let server = server();
    let mut client = server.client().await.unwrap();
    let (id, _) = start_session(&mut client, "lines=1000 delay_ms=20", server.project_path())
        .await
        .unwrap();
    client
        .recv_until(|f| f["event"]["kind"] == "text")
        .await
        .unwrap();
    client
        .send(json!({"type":"abort-session","sessionId": id, "provider":"cursor"}))
        .await
        .unwrap();
    let frames = client.recv_until_terminal(&id).await.unwrap();
    let frames = of_session(&frames, &id);
    let aborted = frames
        .iter()
        .find(|f| f["type"] == "session-aborted")
        .unwrap();
    assert_eq!(aborted["success"], true);
    assert_eq!(aborted["outcome"], "aborted");
    assert_eq!(terminal_states(&frames), ["aborted"]);
    assert_eq!(frames.last().unwrap()["abortRequested"], true);
    assert!(frames
        .iter()
        .any(|f| f["type"] == "cursor-complete" && f["aborted"] == true));
    // A second abort: the run is over.
    client
        .send(json!({"type":"abort-session","sessionId": id}))
        .await
        .unwrap();
    let again = client.recv().await.unwrap();
    assert_eq!(again["type"], "session-aborted");
    assert_eq!(again["outcome"], "already_finished");
    assert_eq!(again["success"], false);
    // An unknown session.
    let unknown = uuid::Uuid::new_v4().to_string();
    client
        .send(json!({"type":"abort-session","sessionId": unknown}))
        .await
        .unwrap();
    let reply = client.recv().await.unwrap();
    assert_eq!(reply["outcome"], "not_found");
    assert!(reply.get("seq").is_none());
}

#[tokio::test]
async fn abort_escalates_to_sigkill_and_sweeps_a_setsid_grandchild() {
    let server = server_with("abort_grace_ms = 300\n", &[]);
    let mut client = server.client().await.unwrap();
    let (id, grandchild) = start_with_grandchild(&server, &mut client, "grandchild.pid").await;
    assert!(process_alive(grandchild));
    client
        .send(json!({"type":"abort-session","sessionId": id, "provider":"cursor"}))
        .await
        .unwrap();
    let frames = client.recv_until_terminal(&id).await.unwrap();
    assert_eq!(terminal_states(&of_session(&frames, &id)), ["aborted"]);
    // The terminal state comes only after every process is gone.
    assert!(
        !process_alive(grandchild),
        "grandchild {grandchild} survived the abort"
    );
}

#[tokio::test]
async fn abort_racing_completion_has_exactly_one_terminal_state() {
    let server = server();
    let mut client = server.client().await.unwrap();
    for round in 0..12u64 {
        // The run ends after about `round` ms; the abort lands around then.
        let prompt = format!("lines={} delay_ms=1", round + 1);
        let (id, mut frames) = start_session(&mut client, &prompt, server.project_path())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(round * 2)).await;
        client
            .send(json!({"type":"abort-session","sessionId": id}))
            .await
            .unwrap();
        frames.extend(client.recv_until_terminal(&id).await.unwrap());
        // The answer to the abort may come after the terminal state.
        if !frames.iter().any(|f| f["type"] == "session-aborted") {
            frames.extend(
                client
                    .recv_until(|f| f["type"] == "session-aborted")
                    .await
                    .unwrap(),
            );
        }
        let frames = of_session(&frames, &id);
        let states = terminal_states(&frames);
        assert_eq!(states.len(), 1, "round {round}: {states:?}");
        let outcome = frames
            .iter()
            .find(|f| f["type"] == "session-aborted")
            .unwrap()["outcome"]
            .clone();
        match states[0].as_str() {
            "aborted" => assert_eq!(outcome, "aborted"),
            "completed" => assert_eq!(outcome, "already_finished"),
            other => panic!("round {round}: unexpected {other}"),
        }
        client
            .expect_silence(Duration::from_millis(50))
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn concurrent_commands_one_runs_one_is_busy_or_queued() {
    let server = server();
    let mut client = server.client().await.unwrap();
    let (id, _) = start_session(&mut client, "lines=1", server.project_path())
        .await
        .unwrap();
    client.recv_until_terminal(&id).await.unwrap();
    let follow_up = |prompt: &str, queue: bool| {
        json!({"type":"cursor-command","command": prompt,
               "options":{"projectPath": server.project_path(), "sessionId": id, "queue": queue}})
    };
    // Two at once: one accepted, the other busy.
    client
        .send(follow_up("lines=3 delay_ms=50", false))
        .await
        .unwrap();
    client.send(follow_up("lines=1", false)).await.unwrap();
    let frames = client
        .recv_until(|f| f["type"] == "session-busy")
        .await
        .unwrap();
    let busy = frames.last().unwrap();
    assert_eq!(busy["sessionId"], json!(id));
    assert_eq!(busy["requestType"], "cursor-command");
    assert!(busy.get("seq").is_none());
    let rest = client.recv_until_terminal(&id).await.unwrap();
    let all: Vec<_> = frames.iter().chain(rest.iter()).collect();
    assert_eq!(
        all.iter()
            .filter(|f| f["type"] == "session-accepted")
            .count(),
        1
    );
    client
        .expect_silence(Duration::from_millis(300))
        .await
        .unwrap();

    // With queue: true the second waits and then runs.
    client
        .send(follow_up("lines=3 delay_ms=50", false))
        .await
        .unwrap();
    client.send(follow_up("lines=2", true)).await.unwrap();
    let frames = client
        .recv_until(|f| f["type"] == "session-queued")
        .await
        .unwrap();
    assert_eq!(frames.last().unwrap()["position"], 1);
    let first = client.recv_until_terminal(&id).await.unwrap();
    let second = client.recv_until_terminal(&id).await.unwrap();
    assert_eq!(
        second[0]["type"], "session-accepted",
        "the queued command starts after the first ends"
    );
    let states: Vec<_> = [first, second]
        .concat()
        .into_iter()
        .filter(|f| f["type"] == "session-state-changed" && f["state"] != "running")
        .map(|f| f["state"].clone())
        .collect();
    assert_eq!(states, [json!("completed"), json!("completed")]);
}

#[tokio::test]
async fn queue_is_bounded_and_cleared_by_abort() {
    let server = server_with("session_queue_max = 2\n", &[]);
    let mut client = server.client().await.unwrap();
    let (id, _) = start_session(&mut client, "hang", server.project_path())
        .await
        .unwrap();
    let queued = json!({"type":"cursor-command","command":"lines=1","clientRequestId":"q",
                        "options":{"projectPath": server.project_path(), "sessionId": id, "queue": true}});
    for _ in 0..2 {
        client.send(queued.clone()).await.unwrap();
        client
            .recv_until(|f| f["type"] == "session-queued")
            .await
            .unwrap();
    }
    client.send(queued.clone()).await.unwrap();
    let error = client
        .recv_until(|f| f["type"] == "error")
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(error["code"], "queue-full");
    assert_eq!(error["clientRequestId"], "q");
    client
        .send(json!({"type":"abort-session","sessionId": id}))
        .await
        .unwrap();
    let frames = client.recv_until_terminal(&id).await.unwrap();
    let aborted = frames
        .iter()
        .find(|f| f["type"] == "session-aborted")
        .unwrap();
    assert_eq!(aborted["clearedQueue"], 2);
    // Nothing queued runs afterwards.
    client
        .expect_silence(Duration::from_millis(500))
        .await
        .unwrap();
}

#[tokio::test]
async fn too_many_sessions_is_refused_and_leaves_nothing_behind() {
    let server = server_with("max_running_sessions = 1\n", &[]);
    let mut client = server.client().await.unwrap();
    let (id, _) = start_session(&mut client, "hang", server.project_path())
        .await
        .unwrap();
    client
        .send(
            json!({"type":"cursor-command","command":"lines=1","clientRequestId":"second",
                     "options":{"projectPath": server.project_path()}}),
        )
        .await
        .unwrap();
    let error = client
        .recv_until(|f| f["type"] == "error")
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(error["code"], "too-many-sessions");
    assert_eq!(error["clientRequestId"], "second");
    client
        .send(json!({"type":"get-active-sessions"}))
        .await
        .unwrap();
    let active = client
        .recv_until(|f| f["type"] == "active-sessions")
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(active["sessions"]["cursor"], json!([id]));
    client
        .send(json!({"type":"abort-session","sessionId": id}))
        .await
        .unwrap();
    client.recv_until_terminal(&id).await.unwrap();
}

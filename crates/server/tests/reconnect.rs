//! Lossless attach: reconnects at random points, several clients on one session.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;
use serde_json::json;
use switchboard_testkit::client::is_terminal_for;

/// A small deterministic generator, so a failing seed can be replayed.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[tokio::test]
async fn random_disconnects_lose_nothing_and_duplicate_nothing() {
    let server = server();
    for seed in [0x9E37_79B9_7F4A_7C15_u64, 0xD1B5_4A32_D192_ED03, 42] {
        let mut rng = XorShift(seed);
        let mut client = server.client().await.unwrap();
        let (id, first) = start_session(
            &mut client,
            "lines=3000 bytes=60 delay_ms=1",
            server.project_path(),
        )
        .await
        .unwrap();
        let mut received: Vec<u64> = seqs(&of_session(&first, &id));
        let mut reconnects = 0;
        let mut done = false;
        while !done {
            // Read a random number of frames, then drop the connection without a goodbye.
            let budget = 1 + rng.below(400);
            for _ in 0..budget {
                let frame = client.recv().await.unwrap();
                if frame["sessionId"] == id && frame.get("seq").is_some() {
                    received.push(frame["seq"].as_u64().unwrap());
                }
                if is_terminal_for(&frame, &id) {
                    done = true;
                    break;
                }
            }
            if done {
                break;
            }
            drop(client);
            reconnects += 1;
            tokio::time::sleep(Duration::from_millis(rng.below(30))).await;
            client = server.client().await.unwrap();
            let last_seq = *received.last().unwrap();
            client
                .send(json!({"type":"subscribe","sessionId": id, "lastSeq": last_seq}))
                .await
                .unwrap();
            let status = client.recv().await.unwrap();
            assert_eq!(status["type"], "session-status", "seed {seed:#x}: {status}");
            assert!(status["lastSeq"].as_u64().unwrap() >= last_seq);
        }
        let expected: Vec<u64> = (1..=*received.last().unwrap()).collect();
        assert_eq!(
            received, expected,
            "seed {seed:#x}: after {reconnects} reconnects"
        );
        assert!(
            reconnects >= 3,
            "seed {seed:#x}: the run ended too soon to test anything"
        );
        // The run's text arrived whole: 3000 lines.
        client
            .expect_silence(Duration::from_millis(100))
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn check_session_status_with_last_seq_replays_like_subscribe() {
    let server = server();
    let mut client = server.client().await.unwrap();
    let (id, mut frames) = start_session(&mut client, "lines=20", server.project_path())
        .await
        .unwrap();
    frames.extend(client.recv_until_terminal(&id).await.unwrap());
    let all = of_session(&frames, &id);
    let total = all.len() as u64;

    let mut other = server.client().await.unwrap();
    other
        .send(json!({"type":"check-session-status","sessionId": id, "provider":"claude", "lastSeq": 5}))
        .await
        .unwrap();
    let status = other.recv().await.unwrap();
    assert_eq!(status["type"], "session-status");
    assert_eq!(status["isProcessing"], false);
    assert_eq!(status["state"], "completed");
    assert_eq!(status["lastSeq"], total);
    let replay = other.recv_until_terminal(&id).await.unwrap();
    assert_eq!(
        seqs(&replay.iter().collect::<Vec<_>>()),
        (6..=total).collect::<Vec<_>>()
    );
    // Byte-for-byte the same frames as the live ones.
    for frame in &replay {
        let seq = frame["seq"].as_u64().unwrap() as usize;
        assert_eq!(frame, all[seq - 1]);
    }

    // The seed's form, without lastSeq: status only, then live frames.
    let mut seed_client = server.client().await.unwrap();
    seed_client
        .send(json!({"type":"check-session-status","sessionId": id}))
        .await
        .unwrap();
    assert_eq!(seed_client.recv().await.unwrap()["type"], "session-status");
    seed_client
        .expect_silence(Duration::from_millis(200))
        .await
        .unwrap();
}

#[tokio::test]
async fn two_clients_both_receive_everything_and_closing_one_spares_the_other() {
    let server = server();
    let mut a = server.client().await.unwrap();
    let (id, a_first) = start_session(&mut a, "lines=400 delay_ms=2", server.project_path())
        .await
        .unwrap();
    let mut b = server.client().await.unwrap();
    b.send(json!({"type":"subscribe","sessionId": id, "lastSeq": 0}))
        .await
        .unwrap();
    assert_eq!(b.recv().await.unwrap()["type"], "session-status");

    // A reads a little, then goes away.
    let mut a_seen = seqs(&of_session(&a_first, &id));
    for _ in 0..20 {
        let frame = a.recv().await.unwrap();
        a_seen.push(frame["seq"].as_u64().unwrap());
    }
    drop(a);
    let b_frames = b.recv_until_terminal(&id).await.unwrap();
    let b_seen = seqs(&b_frames.iter().collect::<Vec<_>>());
    assert_eq!(b_seen, (1..=b_seen.len() as u64).collect::<Vec<_>>());
    assert_eq!(
        terminal_states(&b_frames.iter().collect::<Vec<_>>()),
        ["completed"]
    );
    assert_eq!(
        &b_seen[..a_seen.len()],
        &a_seen[..],
        "both saw the same frames in the same order"
    );
    let texts = b_frames
        .iter()
        .filter(|f| f["event"]["kind"] == "text")
        .count();
    assert_eq!(texts, 400);
}

#[tokio::test]
async fn many_subscribers_and_a_slow_one_all_get_every_frame() {
    let server = server_with(
        "subscriber_queue_frames = 16\nconnection_queue_frames = 4\n",
        &[],
    );
    let mut owner = server.client().await.unwrap();
    let (id, _) = start_session(
        &mut owner,
        "lines=3000 bytes=100 delay_ms=0",
        server.project_path(),
    )
    .await
    .unwrap();
    let mut readers = Vec::new();
    for slow in [false, false, false, true] {
        let mut client = server.client().await.unwrap();
        client
            .send(json!({"type":"subscribe","sessionId": id, "lastSeq": 0}))
            .await
            .unwrap();
        let id = id.clone();
        readers.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            loop {
                let frame = client.recv().await.unwrap();
                if slow && seen.len() % 200 == 0 {
                    // Far slower than the agent: its live queue overflows and it is caught up
                    // from the journal.
                    tokio::time::sleep(Duration::from_millis(30)).await;
                }
                if let Some(seq) = frame.get("seq").and_then(|s| s.as_u64()) {
                    seen.push(seq);
                }
                if is_terminal_for(&frame, &id) {
                    return seen;
                }
            }
        }));
    }
    let owner_frames = owner.recv_until_terminal(&id).await.unwrap();
    let total = owner_frames.last().unwrap()["seq"].as_u64().unwrap();
    for reader in readers {
        let seen = reader.await.unwrap();
        assert_eq!(seen, (1..=total).collect::<Vec<_>>());
        assert_eq!(seen.iter().collect::<HashSet<_>>().len(), seen.len());
    }
}

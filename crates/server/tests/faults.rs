//! Fault injection over the real binary and the fixture cursor CLI, on loopback only: agents
//! that crash, hang, ignore signals, flood stdout or print a 100 MB line; clients that are slow
//! or keep dropping the connection; a server killed with -9 mid-run.
//!
//! Every test checks the same four things:
//! - nothing lost: every journaled seq 1..N reaches every subscriber exactly once, in order;
//! - exactly one terminal state per run;
//! - bounded memory: the server's peak RSS (`VmHWM`) stays under [`RSS_LIMIT_KIB`];
//! - no process left: nothing that carries this test's environment marker outlives the run.
//!
//! Three tests are ignored because they show server bugs (see their `ignore` reasons): a
//! session loaded again while it leaves memory skips a block of seqs; the orphan reaper can
//! take the exit status of an agent that exits quickly; and a subscription replaced on the
//! same connection can still deliver frames after the new status reply.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use switchboard_testkit::client::{command, is_terminal_for};
use switchboard_testkit::{fixtures, TestServer, TestServerOptions, WsClient};

/// A generous bound on the server's peak RSS that still catches unbounded buffering (a flood of
/// 200,000 frames is about 70 MB of JSON per subscriber; a 100 MB line is 100 MB).
const RSS_LIMIT_KIB: u64 = 400 * 1024;
/// How long any single receive may wait.
const RECV: Duration = Duration::from_secs(20);
const TERMINAL_STATES: [&str; 4] = ["completed", "failed", "aborted", "interrupted"];

/// One server whose environment (and so every agent's) carries a unique marker.
struct Rig {
    marker: String,
    server: TestServer,
}

fn rig(config: &str) -> Rig {
    let marker = uuid::Uuid::new_v4().to_string();
    let env = vec![
        (
            "SWITCHBOARD_CURSOR_BIN".to_owned(),
            fixtures::fake_cursor_agent().to_string_lossy().into_owned(),
        ),
        ("FAULT_RIG".to_owned(), marker.clone()),
    ];
    let server = TestServer::start(
        Path::new(env!("CARGO_BIN_EXE_switchboard")),
        TestServerOptions {
            config: config.to_owned(),
            env,
            ..Default::default()
        },
    )
    .expect("the server starts");
    Rig { marker, server }
}

impl Rig {
    fn project(&self) -> &Path {
        self.server.project_path()
    }

    async fn client(&self) -> WsClient {
        self.server.client().await.expect("connect")
    }

    /// Starts a new cursor session on `client`; returns its id and the frames up to
    /// `session-accepted`.
    async fn start(&self, client: &mut WsClient, prompt: &str) -> (String, Vec<Value>) {
        client
            .send(command("cursor", prompt, self.project(), json!({})))
            .await
            .unwrap();
        let frames = recv_until(client, |f| {
            f["type"] == "session-accepted" || f["type"] == "error"
        })
        .await;
        let last = frames.last().unwrap();
        assert_eq!(last["type"], "session-accepted", "{last}");
        (last["sessionId"].as_str().unwrap().to_owned(), frames)
    }

    /// Live processes that carry this rig's marker, the server itself left out.
    fn processes(&self) -> Vec<i32> {
        let needle = format!("FAULT_RIG={}", self.marker);
        let server = self.server.pid().map(|p| p as i32);
        std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| Some(*pid) != server)
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/environ"))
                    .map(|env| env.split(|b| *b == 0).any(|v| v == needle.as_bytes()))
                    .unwrap_or(false)
            })
            .filter(|pid| process_alive(*pid))
            .collect()
    }

    fn assert_no_processes(&self, what: &str) {
        let left = self.processes();
        assert!(left.is_empty(), "{what}: processes left: {left:?}");
    }

    /// The server's (peak, current) RSS in KiB.
    fn memory(&self) -> (u64, u64) {
        let pid = self.server.pid().expect("the server runs");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
                .unwrap_or_else(|| panic!("{name} in /proc/{pid}/status"))
        };
        (field("VmHWM:"), field("VmRSS:"))
    }

    /// The server's CPU time so far (user + system).
    fn cpu(&self) -> Duration {
        let pid = self.server.pid().expect("the server runs");
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        // After "pid (comm) ", utime and stime are the 12th and 13th fields (14 and 15 of
        // stat(5)), in clock ticks.
        let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        Duration::from_millis(ticks * 1000 / hz)
    }

    fn assert_memory_bounded(&self, what: &str) {
        let (hwm, rss) = self.memory();
        println!(
            "{what}: server VmHWM {} MiB, VmRSS {} MiB, CPU {:?}",
            hwm / 1024,
            rss / 1024,
            self.cpu()
        );
        assert!(
            hwm < RSS_LIMIT_KIB,
            "{what}: the server's peak RSS is {hwm} KiB (limit {RSS_LIMIT_KIB} KiB)"
        );
    }

    /// The session's head (`lastSeq`) and state, from a fresh connection, without replay.
    async fn head(&self, id: &str) -> (u64, String) {
        let mut client = self.client().await;
        client
            .send(json!({"type":"check-session-status","sessionId": id}))
            .await
            .unwrap();
        let status = client.recv_timeout(RECV).await.unwrap();
        assert_eq!(status["type"], "session-status", "{status}");
        (
            status["lastSeq"].as_u64().unwrap(),
            status["state"].as_str().unwrap_or_default().to_owned(),
        )
    }

    /// The whole journal of a session, from a fresh connection: `subscribe {lastSeq: 0}`, read
    /// up to the head the status announced.
    async fn replay(&self, id: &str) -> Vec<Value> {
        let mut client = self.client().await;
        client
            .send(json!({"type":"subscribe","sessionId": id, "lastSeq": 0}))
            .await
            .unwrap();
        let status = client.recv_timeout(RECV).await.unwrap();
        assert_eq!(status["type"], "session-status", "{status}");
        let head = status["lastSeq"].as_u64().unwrap();
        let mut frames = Vec::new();
        while frames.last().map_or(0, seq_of) < head {
            let frame = client.recv_timeout(RECV).await.unwrap();
            if frame["sessionId"] == id && frame.get("seq").is_some() {
                frames.push(frame);
            }
        }
        frames
    }
}

fn process_alive(pid: i32) -> bool {
    // A zombie is dead for our purposes; /proc/<pid>/stat says which.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let after = &stat[stat.rfind(')').unwrap() + 2..];
            !after.starts_with('Z')
        }
        Err(_) => false,
    }
}

fn seq_of(frame: &Value) -> u64 {
    frame["seq"].as_u64().unwrap()
}

async fn recv_until(client: &mut WsClient, mut done: impl FnMut(&Value) -> bool) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let frame = client.recv_timeout(RECV).await.unwrap();
        let stop = done(&frame);
        seen.push(frame);
        if stop {
            return seen;
        }
    }
}

/// Nothing journaled for `id` arrives for `quiet` (broadcast notifications, which every
/// connection gets, may).
async fn expect_nothing_more_of(client: &mut WsClient, id: &str, quiet: Duration) {
    let until = Instant::now() + quiet;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        match client.recv_timeout(left).await {
            Ok(frame) => assert!(
                frame["sessionId"] != id || frame.get("seq").is_none(),
                "expected nothing more of {id}, got {frame}"
            ),
            Err(_) => return,
        }
    }
}

fn is_terminal(frame: &Value) -> bool {
    frame["type"] == "session-state-changed"
        && TERMINAL_STATES.contains(&frame["state"].as_str().unwrap_or_default())
}

/// What one subscriber received of one session.
#[derive(Default, Debug)]
struct Seen {
    seqs: Vec<u64>,
    terminals: Vec<String>,
    texts: usize,
    notices: Vec<String>,
    /// How far behind the leader a slow follower was at most (see [`Slow`]).
    max_lag: u64,
}

impl Seen {
    fn push(&mut self, frame: &Value, id: &str) {
        if frame["sessionId"] != id || frame.get("seq").is_none() {
            return;
        }
        self.seqs.push(seq_of(frame));
        if is_terminal(frame) {
            self.terminals
                .push(frame["state"].as_str().unwrap().to_owned());
        }
        match frame["event"]["kind"].as_str() {
            Some("text") => self.texts += 1,
            Some("notice") => self.notices.push(
                frame["event"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .into(),
            ),
            _ => {}
        }
    }

    fn last(&self) -> u64 {
        self.seqs.last().copied().unwrap_or(0)
    }
}

/// `seqs` is exactly 1..=head: nothing lost, nothing twice, in order.
fn assert_exactly_once(seqs: &[u64], head: u64, who: &str) {
    if let Some(i) = (0..seqs.len()).find(|&i| seqs[i] != i as u64 + 1) {
        panic!(
            "{who}: position {i} holds seq {} instead of {} (around: {:?})",
            seqs[i],
            i + 1,
            &seqs[i.saturating_sub(3)..(i + 3).min(seqs.len())]
        );
    }
    assert_eq!(
        seqs.len() as u64,
        head,
        "{who}: received {} frames, the journal holds {head}",
        seqs.len()
    );
}

/// The journal holds exactly 1..=N; returns N.
fn assert_contiguous(journal: &[Value], what: &str) -> u64 {
    let seqs: Vec<u64> = journal.iter().map(seq_of).collect();
    assert_exactly_once(&seqs, seqs.len() as u64, &format!("{what}: the journal"));
    seqs.len() as u64
}

/// The journal's seqs increase strictly (a crash may leave a gap) with exactly one terminal state per run (runs are counted by their
/// `session-accepted`), and nothing of a run after its terminal state except a late
/// `session-aborted`.
fn assert_one_terminal_per_run(journal: &[Value], what: &str) -> Vec<String> {
    let seqs: Vec<u64> = journal.iter().map(seq_of).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "{what}: the journal's seqs are not strictly increasing"
    );
    let mut states = Vec::new();
    let mut runs = 0;
    let mut ended = true;
    for frame in journal {
        match frame["type"].as_str().unwrap() {
            "session-accepted" => {
                assert!(ended, "{what}: a run started before the previous one ended");
                runs += 1;
                ended = false;
            }
            _ if is_terminal(frame) => {
                assert!(!ended, "{what}: a second terminal state: {frame}");
                ended = true;
                states.push(frame["state"].as_str().unwrap().to_owned());
            }
            "session-aborted" | "session-queued" => {}
            other => assert!(!ended, "{what}: {other} after the run's terminal state"),
        }
    }
    assert!(ended, "{what}: the last run has no terminal state");
    assert_eq!(states.len(), runs, "{what}: {states:?} for {runs} runs");
    states
}

/// Reads the session until its terminal frame, at full speed.
async fn follow(client: WsClient, id: String) -> Seen {
    follow_paced(client, id, None, None).await
}

/// A slow reader: one frame, then `pause`, until it is `behind` frames behind the leader (or
/// until `give_up`); after that as fast as it can.
struct Slow {
    leader: Arc<AtomicU64>,
    behind: u64,
    pause: Duration,
    give_up: Instant,
}

/// Reads the session until its terminal frame, publishing its progress in `progress`, and
/// slowly at first with `slow`.
async fn follow_paced(
    mut client: WsClient,
    id: String,
    progress: Option<Arc<AtomicU64>>,
    slow: Option<Slow>,
) -> Seen {
    let mut seen = Seen::default();
    let mut slow = slow;
    loop {
        let frame = client.recv_timeout(RECV).await.unwrap();
        seen.push(&frame, &id);
        if let Some(progress) = &progress {
            progress.store(seen.last(), Ordering::Relaxed);
        }
        if is_terminal_for(&frame, &id) {
            return seen;
        }
        if let Some(pace) = &slow {
            let lag = pace
                .leader
                .load(Ordering::Relaxed)
                .saturating_sub(seen.last());
            seen.max_lag = seen.max_lag.max(lag);
            if lag >= pace.behind || Instant::now() >= pace.give_up {
                slow = None;
            } else {
                tokio::time::sleep(pace.pause).await;
            }
        }
    }
}

async fn subscribe_from(rig: &Rig, id: &str, last_seq: u64) -> WsClient {
    let mut client = rig.client().await;
    client
        .send(json!({"type":"subscribe","sessionId": id, "lastSeq": last_seq}))
        .await
        .unwrap();
    let status = client.recv_timeout(RECV).await.unwrap();
    assert_eq!(status["type"], "session-status", "{status}");
    client
}

/// Two subscribers (the owner and a second connection from seq 0) follow one run to its end;
/// returns both views and the journal, after checking the four invariants.
async fn run_with_two_subscribers(rig: &Rig, prompt: &str, what: &str) -> (Seen, Vec<Value>) {
    let mut owner = rig.client().await;
    let (id, first) = rig.start(&mut owner, prompt).await;
    let other = subscribe_from(rig, &id, 0).await;
    let other = tokio::spawn(follow(other, id.clone()));
    let mut seen = Seen::default();
    for frame in &first {
        seen.push(frame, &id);
    }
    let rest = follow(owner, id.clone()).await;
    seen.seqs.extend(rest.seqs);
    seen.terminals.extend(rest.terminals);
    seen.texts += rest.texts;
    seen.notices.extend(rest.notices);
    let other = other.await.unwrap();
    rig.assert_no_processes(what);

    let journal = rig.replay(&id).await;
    let head = assert_contiguous(&journal, what);
    assert_exactly_once(&seen.seqs, head, &format!("{what}: owner"));
    assert_exactly_once(&other.seqs, head, &format!("{what}: second subscriber"));
    let states = assert_one_terminal_per_run(&journal, what);
    assert_eq!(seen.terminals, states, "{what}");
    assert_eq!(other.terminals, states, "{what}");
    rig.assert_memory_bounded(what);
    (seen, journal)
}

#[tokio::test]
async fn an_agent_that_crashes_mid_stream_fails_once_and_loses_nothing() {
    let rig = rig("");
    let what = "crash mid-stream";
    let (seen, journal) =
        run_with_two_subscribers(&rig, "lines=4000 bytes=80 crash_after=2500", what).await;
    assert_eq!(seen.terminals, ["failed"]);
    // Everything the agent wrote before it died was read from the pipe.
    assert_eq!(seen.texts, 2500, "{what}");
    let last = journal.last().unwrap();
    assert_eq!(last["reason"], "exit", "{last}");
    assert!(
        last["error"]
            .as_str()
            .unwrap_or_default()
            .contains("signal"),
        "{last}"
    );
    assert!(journal.iter().any(|f| f["type"] == "cursor-error"));
    assert!(!journal.iter().any(|f| f["type"] == "cursor-complete"));
}

/// Starts a hanging agent, waits for its first lines, aborts it and follows both subscribers
/// to the end. Returns how long the abort took.
async fn abort_a_hanging_agent(rig: &Rig, prompt: &str, what: &str) -> Duration {
    let mut owner = rig.client().await;
    let (id, first) = rig.start(&mut owner, prompt).await;
    let other = subscribe_from(rig, &id, 0).await;
    let other = tokio::spawn(follow(other, id.clone()));
    let mut seen = Seen::default();
    for frame in first.iter().chain(
        recv_until(&mut owner, |f| f["event"]["kind"] == "native-session")
            .await
            .iter(),
    ) {
        seen.push(frame, &id);
    }
    assert!(!rig.processes().is_empty(), "{what}: the agent runs");
    let asked = Instant::now();
    owner
        .send(json!({"type":"abort-session","sessionId": id}))
        .await
        .unwrap();
    let rest = follow(owner, id.clone()).await;
    let took = asked.elapsed();
    // The terminal state means the agent and everything it started are gone.
    rig.assert_no_processes(what);
    seen.seqs.extend(rest.seqs);
    seen.terminals.extend(rest.terminals);
    let other = other.await.unwrap();

    let journal = rig.replay(&id).await;
    let head = assert_contiguous(&journal, what);
    assert_exactly_once(&seen.seqs, head, &format!("{what}: owner"));
    assert_exactly_once(&other.seqs, head, &format!("{what}: second subscriber"));
    assert_eq!(assert_one_terminal_per_run(&journal, what), ["aborted"]);
    assert_eq!(seen.terminals, ["aborted"]);
    assert_eq!(other.terminals, ["aborted"]);
    let aborted: Vec<_> = journal
        .iter()
        .filter(|f| f["type"] == "session-aborted")
        .collect();
    assert_eq!(aborted.len(), 1, "{what}");
    assert_eq!(aborted[0]["outcome"], "aborted");
    assert!(journal
        .iter()
        .any(|f| f["type"] == "cursor-complete" && f["aborted"] == true));
    rig.assert_memory_bounded(what);
    took
}

#[tokio::test]
async fn a_hanging_agent_is_aborted_and_one_that_ignores_sigint_and_sigterm_is_killed() {
    let rig = rig("abort_grace_ms = 300\n");
    abort_a_hanging_agent(&rig, "hang", "hang").await;
    let took = abort_a_hanging_agent(
        &rig,
        "hang ignore_sigint ignore_sigterm",
        "hang ignoring SIGINT and SIGTERM",
    )
    .await;
    assert!(
        took >= Duration::from_millis(300),
        "SIGKILL came only after the grace period, yet the abort took {took:?}"
    );
    assert!(took < Duration::from_secs(5), "the abort took {took:?}");
}

#[tokio::test]
async fn a_flooding_agent_reaches_a_fast_and_a_slow_subscriber_whole() {
    let rig = rig("");
    let what = "flood";
    let lines = 200_000;
    let mut owner = rig.client().await;
    let started = Instant::now();
    let (id, first) = rig
        .start(&mut owner, &format!("lines={lines} bytes=100"))
        .await;
    // The slow one: a frame every 3 ms until it is 10,000 frames behind the fast one (the
    // live fan-out buffer holds 4,096, the ring 10,000), then as fast as it can.
    let leader = Arc::new(AtomicU64::new(0));
    let slow = subscribe_from(&rig, &id, 0).await;
    let slow = tokio::spawn(follow_paced(
        slow,
        id.clone(),
        None,
        Some(Slow {
            leader: Arc::clone(&leader),
            behind: 10_000,
            pause: Duration::from_millis(3),
            give_up: Instant::now() + Duration::from_secs(10),
        }),
    ));
    let mut fast = Seen::default();
    for frame in &first {
        fast.push(frame, &id);
    }
    let rest = follow_paced(owner, id.clone(), Some(leader), None).await;
    fast.seqs.extend(rest.seqs);
    fast.terminals.extend(rest.terminals);
    fast.texts += rest.texts;
    let fast_done = started.elapsed();
    let slow = slow.await.unwrap();
    println!(
        "{what}: {} frames; the slow subscriber fell {} frames behind; fast done after \
         {fast_done:?}, slow after {:?}; test CPU {:?}",
        fast.last(),
        slow.max_lag,
        started.elapsed(),
        own_cpu()
    );
    // It fell further behind than the live fan-out buffer holds, so it was caught up from the
    // journal (and from SQLite, past the ring).
    assert!(
        slow.max_lag >= 10_000,
        "{what}: the slow subscriber fell only {} frames behind",
        slow.max_lag
    );
    rig.assert_no_processes(what);

    let (head, state) = rig.head(&id).await;
    assert_eq!(state, "completed");
    assert_exactly_once(&fast.seqs, head, &format!("{what}: fast subscriber"));
    assert_exactly_once(&slow.seqs, head, &format!("{what}: slow subscriber"));
    assert_eq!(fast.texts, lines);
    assert_eq!(slow.texts, lines);
    assert_eq!(fast.terminals, ["completed"]);
    assert_eq!(slow.terminals, ["completed"]);
    rig.assert_memory_bounded(what);
}

#[tokio::test]
async fn a_100_mb_line_is_skipped_with_a_notice_and_the_run_completes() {
    let rig = rig("");
    let what = "100 MB line";
    let (seen, journal) = run_with_two_subscribers(&rig, "lines=3 long_line=104857600", what).await;
    assert_eq!(seen.terminals, ["completed"], "{:?}", journal.last());
    assert_eq!(
        seen.texts, 3,
        "the three ordinary lines arrive, the long one does not"
    );
    // "skipped an agent output line of N bytes (the limit is 67108864)", N ≥ 100 MiB.
    let skipped: Vec<u64> = seen
        .notices
        .iter()
        .filter_map(|n| n.strip_prefix("skipped an agent output line of "))
        .filter_map(|n| n.split_whitespace().next()?.parse().ok())
        .collect();
    assert_eq!(skipped.len(), 1, "{what}: notices {:?}", seen.notices);
    assert!(skipped[0] >= 104_857_600, "{what}: {:?}", seen.notices);
}

#[tokio::test]
async fn a_client_that_keeps_dropping_the_connection_loses_nothing() {
    let rig = rig("");
    let what = "flapping client";
    let mut rng = XorShift(0x5EED_F1A9_u64 ^ std::process::id() as u64);
    let mut client = rig.client().await;
    let (id, first) = rig
        .start(&mut client, "lines=3000 bytes=60 delay_ms=2")
        .await;
    // A steady subscriber alongside.
    let steady = subscribe_from(&rig, &id, 0).await;
    let steady = tokio::spawn(follow(steady, id.clone()));

    let mut seen = Seen::default();
    for frame in &first {
        seen.push(frame, &id);
    }
    let mut reconnects = 0;
    'run: loop {
        let until = Instant::now() + Duration::from_millis(100 + rng.below(300));
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let Ok(frame) = client.recv_timeout(left).await else {
                break;
            };
            seen.push(&frame, &id);
            if is_terminal_for(&frame, &id) {
                break 'run;
            }
        }
        // A goodbye, or the socket just vanishing; then a new connection resumes with
        // `lastSeq`. (Re-subscribing on the same connection has a test of its own.)
        let last = seen.last();
        reconnects += 1;
        if rng.one_in(2) {
            client.close().await.unwrap();
        } else {
            drop(client);
        }
        tokio::time::sleep(Duration::from_millis(rng.below(50))).await;
        client = subscribe_from(&rig, &id, last).await;
    }
    let steady = steady.await.unwrap();
    rig.assert_no_processes(what);
    println!("{what}: {reconnects} reconnects");
    assert!(
        reconnects >= 5,
        "{what}: the run ended too soon to test anything"
    );

    let journal = rig.replay(&id).await;
    let head = assert_contiguous(&journal, what);
    assert_exactly_once(&seen.seqs, head, &format!("{what}: flapping client"));
    assert_exactly_once(&steady.seqs, head, &format!("{what}: steady subscriber"));
    assert_eq!(assert_one_terminal_per_run(&journal, what), ["completed"]);
    assert_eq!(seen.terminals, ["completed"]);
    assert_eq!(seen.texts, 3000);
    expect_nothing_more_of(&mut client, &id, Duration::from_millis(200)).await;
    rig.assert_memory_bounded(what);
}

#[tokio::test]
async fn a_server_killed_mid_run_interrupts_sweeps_and_never_reuses_a_seq() {
    let mut rig = rig("");
    let what = "kill -9";
    let mut owner = rig.client().await;
    let (streaming, mut owner_frames) = rig.start(&mut owner, "lines=100000 delay_ms=1").await;
    let mut second = subscribe_from(&rig, &streaming, 0).await;
    // An agent that would survive the server on its own: it never writes (so no EPIPE) and
    // ignores SIGINT and SIGTERM.
    let mut third = rig.client().await;
    let (hanging, _) = rig
        .start(&mut third, "hang ignore_sigint ignore_sigterm")
        .await;
    recv_until(&mut third, |f| f["event"]["kind"] == "native-session").await;
    owner_frames
        .extend(recv_until(&mut owner, |f| f["seq"].as_u64().is_some_and(|s| s > 300)).await);
    let mut second_frames =
        recv_until(&mut second, |f| f["seq"].as_u64().is_some_and(|s| s > 300)).await;
    // Let the hanging run's marker reach the store.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let before = rig.processes();
    assert!(before.len() >= 2, "{what}: both agents run: {before:?}");
    rig.assert_memory_bounded(&format!("{what}, before"));

    rig.server.stop_with(libc::SIGKILL).unwrap();
    while let Ok(frame) = owner.recv_timeout(Duration::from_millis(200)).await {
        owner_frames.push(frame);
    }
    while let Ok(frame) = second.recv_timeout(Duration::from_millis(200)).await {
        second_frames.push(frame);
    }
    let mut owner_seen = Seen::default();
    let mut second_seen = Seen::default();
    for frame in &owner_frames {
        owner_seen.push(frame, &streaming);
    }
    for frame in &second_frames {
        second_seen.push(frame, &streaming);
    }
    // Live delivery before the crash had no gap either.
    assert_exactly_once(
        &owner_seen.seqs,
        owner_seen.last(),
        "owner before the crash",
    );
    assert_exactly_once(
        &second_seen.seqs,
        second_seen.last(),
        "second before the crash",
    );
    assert!(
        rig.processes().iter().any(|p| before.contains(p)),
        "{what}: the hanging agent outlives a killed server"
    );

    rig.server.restart().unwrap();
    // The restart swept what the dead server left running, before accepting connections.
    let mut left = rig.processes();
    for _ in 0..50 {
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        left = rig.processes();
    }
    assert!(left.is_empty(), "{what}: left after the restart: {left:?}");

    // The streaming session: stored prefix 1..=P, then the interrupted frames above the
    // reservation; every seq a client saw is stored (byte for byte) or inside lostFrom..lostTo.
    let journal = rig.replay(&streaming).await;
    let terminal = journal.last().unwrap().clone();
    assert_eq!(terminal["state"], "interrupted", "{terminal}");
    assert_eq!(terminal["reason"], "server-restart");
    let states: Vec<_> = journal.iter().filter(|f| is_terminal(f)).collect();
    assert_eq!(states.len(), 1, "{what}: one terminal state");
    let stored: Vec<u64> = journal.iter().map(seq_of).collect();
    let prefix = stored.len() as u64 - 2;
    assert_exactly_once(&stored[..prefix as usize], prefix, "the stored prefix");
    let error = &journal[prefix as usize];
    assert_eq!(error["type"], "cursor-error", "{error}");
    assert_eq!(seq_of(error) + 1, seq_of(&terminal));
    let max_seen = owner_seen.last().max(second_seen.last());
    assert!(
        seq_of(error) > max_seen,
        "{what}: seq {} reused (clients saw up to {max_seen})",
        seq_of(error)
    );
    for frame in of_session(&owner_frames, &streaming).chain(of_session(&second_frames, &streaming))
    {
        let seq = seq_of(frame);
        if seq <= prefix {
            assert_eq!(frame, &journal[seq as usize - 1], "{what}: seq {seq}");
        } else {
            let from = terminal["lostFrom"].as_u64().expect("a gap is announced");
            let to = terminal["lostTo"].as_u64().unwrap();
            assert!(
                (from..=to).contains(&seq),
                "seq {seq} lost outside {from}..={to}"
            );
        }
    }
    // A subscriber that comes back with its lastSeq gets the rest exactly once.
    let mut back = subscribe_from(&rig, &streaming, second_seen.last()).await;
    let rest = back.recv_until_terminal(&streaming).await.unwrap();
    let expected: Vec<u64> = stored
        .iter()
        .copied()
        .filter(|s| *s > second_seen.last())
        .collect();
    assert_eq!(
        of_session(&rest, &streaming)
            .map(seq_of)
            .collect::<Vec<_>>(),
        expected
    );
    expect_nothing_more_of(&mut back, &streaming, Duration::from_millis(200)).await;

    // The hanging session: interrupted once too.
    let journal = rig.replay(&hanging).await;
    assert_eq!(
        assert_one_terminal_per_run(&journal, "hanging session"),
        ["interrupted"]
    );

    // A new run continues above every seq, and leaves nothing behind.
    let mut client = rig.client().await;
    client
        .send(json!({"type":"cursor-command","command":"lines=2",
                     "options":{"projectPath": rig.project(), "sessionId": streaming}}))
        .await
        .unwrap();
    let run = client.recv_until_terminal(&streaming).await.unwrap();
    let accepted = run
        .iter()
        .find(|f| f["type"] == "session-accepted")
        .unwrap();
    assert!(seq_of(accepted) > seq_of(&terminal), "{accepted}");
    assert_eq!(run.last().unwrap()["state"], "completed");
    let run: Vec<u64> = of_session(&run, &streaming).map(seq_of).collect();
    assert_eq!(
        run,
        (seq_of(accepted)..seq_of(accepted) + run.len() as u64).collect::<Vec<_>>()
    );
    rig.assert_no_processes(what);
    rig.assert_memory_bounded(&format!("{what}, after"));
}

fn of_session<'a>(frames: &'a [Value], id: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    frames
        .iter()
        .filter(move |f| f["sessionId"] == id && f.get("seq").is_some())
}

/// A small deterministic generator (xorshift64).
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

    fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
}

/// This test process's CPU time so far.
fn own_cpu() -> Duration {
    // SAFETY: getrusage writes into the struct we pass.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let micros = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    Duration::from_micros(micros(usage.ru_utime) + micros(usage.ru_stime))
}

#[tokio::test]
async fn a_session_loaded_again_as_it_leaves_memory_continues_without_a_gap() {
    // The session leaves memory a second after its last event with nobody attached; the
    // lowered reservation then waits for its persistence batch (200 ms here, 5 ms by default:
    // the soak hits the same window with the default). A command in that window loads it.
    let rig = rig("idle_unload_secs = 1\npersist_batch_ms = 200\n");
    let what = "reload while unloading";
    let mut client = rig.client().await;
    let (id, first) = rig.start(&mut client, "lines=3").await;
    let mut seen = Seen::default();
    for frame in first
        .iter()
        .chain(&client.recv_until_terminal(&id).await.unwrap())
    {
        seen.push(frame, &id);
    }
    for offset_ms in [1100, 1050, 1150] {
        client.close().await.unwrap();
        tokio::time::sleep(Duration::from_millis(offset_ms)).await;
        client = rig.client().await;
        client
            .send(json!({"type":"cursor-command","command":"lines=1",
                         "options":{"projectPath": rig.project(), "sessionId": id}}))
            .await
            .unwrap();
        for frame in &client.recv_until_terminal(&id).await.unwrap() {
            seen.push(frame, &id);
        }
    }
    rig.assert_no_processes(what);
    let journal = rig.replay(&id).await;
    assert_eq!(
        assert_one_terminal_per_run(&journal, what),
        ["completed"; 4]
    );
    // Fails here today: 1, 2, …, 12, then 1001, 1002, … (the first reload jumps a block).
    assert_exactly_once(&seen.seqs, seen.seqs.len() as u64, what);
    assert_contiguous(&journal, what);
    rig.assert_memory_bounded(what);
}

/// Processes of our own (`sleep`), killed by their pids when dropped.
struct Crowd(Vec<std::process::Child>);

impl Drop for Crowd {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_that_exits_at_once_keeps_its_exit_status() {
    let rig = rig("");
    let what = "quick agents";
    // A crowded /proc makes the reaper's scan (once a second) long, and with it the window in
    // which it takes an agent for an orphan. Seen in the soak without the crowd, rarely.
    let crowd = Crowd(
        (0..1500)
            .map(|_| {
                std::process::Command::new("sleep")
                    .arg("60")
                    .spawn()
                    .unwrap()
            })
            .collect(),
    );
    let deadline = Instant::now() + Duration::from_secs(8);
    let mut workers = Vec::new();
    for _ in 0..12 {
        let mut client = rig.client().await;
        let project = rig.project().to_owned();
        workers.push(tokio::spawn(async move {
            let mut ends = Vec::new();
            while Instant::now() < deadline {
                client
                    .send(command("cursor", "lines=1", &project, json!({})))
                    .await
                    .unwrap();
                let frames = recv_until(&mut client, is_terminal).await;
                let last = frames.last().unwrap();
                let states: Vec<_> = frames.iter().filter(|f| is_terminal(f)).collect();
                assert_eq!(states.len(), 1, "{what}: {states:?}");
                ends.push(format!("{} {}", last["state"], last["error"]));
            }
            ends
        }));
    }
    let mut ends = Vec::new();
    for worker in workers {
        ends.extend(worker.await.unwrap());
    }
    drop(crowd);
    rig.assert_no_processes(what);
    rig.assert_memory_bounded(what);
    let failed: Vec<&String> = ends
        .iter()
        .filter(|e| !e.starts_with("\"completed\""))
        .collect();
    println!(
        "{what}: {} runs, {} not completed",
        ends.len(),
        failed.len()
    );
    assert!(
        failed.is_empty(),
        "{what}: {} of {} runs did not complete: {:?}",
        failed.len(),
        ends.len(),
        &failed[..failed.len().min(3)]
    );
}

#[tokio::test]
async fn resubscribing_on_the_same_connection_restarts_delivery_exactly_after_last_seq() {
    // Clients that re-subscribe on the connection they have (once or twice in a row, as a
    // double-clicked "reload" would), from a little before what they last saw, often while
    // their previous replay is still being sent: after the (last) status, delivery must
    // restart exactly at lastSeq + 1.
    let rig = rig("max_messages_per_sec = 10000\nmax_message_burst = 10000\n");
    let what = "resubscribe on the same connection";
    let mut owner = rig.client().await;
    let (id, _) = rig
        .start(&mut owner, "lines=1000000 bytes=100 delay_ms=1")
        .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut clients = Vec::new();
    for n in 0..3u64 {
        let client = subscribe_from(&rig, &id, 0).await;
        let id = id.clone();
        let mut rng = XorShift(0x0005_EED5_u64 ^ (std::process::id() as u64) << 8 ^ n);
        clients.push(tokio::spawn(async move {
            let mut client = client;
            let (mut last, mut rounds, mut jumps) = (0, 0, Vec::new());
            while Instant::now() < deadline {
                for _ in 0..1 + rng.below(30) {
                    let frame = client.recv_timeout(RECV).await.unwrap();
                    // Broadcast notifications (no seq) come to every connection.
                    let Some(seq) = frame["seq"].as_u64().filter(|_| frame["sessionId"] == id)
                    else {
                        continue;
                    };
                    if seq != last + 1 {
                        jumps.push((n, rounds, last, seq));
                    }
                    last = seq;
                }
                rounds += 1;
                let from = last.saturating_sub(rng.below(300));
                let times = 1 + rng.below(2);
                for _ in 0..times {
                    client
                        .send(json!({"type":"subscribe","sessionId": id, "lastSeq": from}))
                        .await
                        .unwrap();
                }
                for _ in 0..times {
                    let got = recv_until(&mut client, |f| {
                        f["type"] == "session-status" || f["type"] == "error"
                    })
                    .await;
                    assert_eq!(got.last().unwrap()["type"], "session-status");
                }
                last = from;
            }
            (rounds, jumps)
        }));
    }
    let (mut rounds, mut jumps) = (0, Vec::new());
    for client in clients {
        let (r, j) = client.await.unwrap();
        rounds += r;
        jumps.extend(j);
    }
    owner
        .send(json!({"type":"abort-session","sessionId": id}))
        .await
        .unwrap();
    owner.recv_until_terminal(&id).await.unwrap();
    rig.assert_no_processes(what);
    rig.assert_memory_bounded(what);
    println!("{what}: {rounds} rounds, {} jumps", jumps.len());
    assert!(
        jumps.is_empty(),
        "{what}: {} of {rounds} rounds went on elsewhere than lastSeq + 1 (client, round, \
         expected after, got): {:?}",
        jumps.len(),
        &jumps[..jumps.len().min(5)]
    );
}

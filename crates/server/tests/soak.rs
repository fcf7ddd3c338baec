//! Soak: one server with the fixture cursor CLI, a bounded number of concurrent workers that
//! each loop until a deadline, starting runs with random fixture scripts (normal, delayed,
//! crash, non-zero exit, error result, hang then abort), dropping and resuming their
//! connection at random points with `lastSeq`, and aborting at random. Every seq each
//! session delivered is recorded and, at the end, checked against a full replay.
//!
//! `soak` runs in the normal suite. Two variants, ignored while the server bugs they show are
//! open, also re-subscribe on the same connection (`soak_resubscribing_in_place`) or let
//! sessions leave memory after a second (`soak_with_sessions_leaving_memory`).
//!
//! Knobs (environment):
//! - `SWITCHBOARD_SOAK_SECS` (15): how long workers keep starting runs;
//! - `SWITCHBOARD_SOAK_SESSIONS` (100): how many sessions are created over the whole soak;
//! - `SWITCHBOARD_SOAK_WORKERS` (16): concurrent workers (each one connection at a time);
//! - `SWITCHBOARD_SOAK_SEED`: the RNG seed (printed), to replay a choice of scripts.
//!
//! For example `SWITCHBOARD_SOAK_SECS=600 SWITCHBOARD_SOAK_SESSIONS=500 cargo test -p
//! switchboard-server --test soak -- --nocapture`.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use switchboard_testkit::client::command;
use switchboard_testkit::{fixtures, TestServer, TestServerOptions, WsClient};

/// How long any single receive may wait before the worker reports a stall.
const RECV: Duration = Duration::from_secs(20);
/// A generous bound on the server's peak RSS that would still catch unbounded growth: 400 MiB
/// for up to 100 sessions, plus 4 MiB for each session beyond. Sessions stay in memory until
/// `idle_unload_secs` (300 s) after their last use, each with its bounded journal ring (at most
/// 10,000 frames, here of at most ~600 bytes) and live buffer, so the bound grows with them.
fn rss_limit_kib(sessions: usize) -> u64 {
    (400 + 4 * sessions.saturating_sub(100) as u64) * 1024
}
const ABORT_GRACE_MS: u64 = 300;
const TERMINAL_STATES: [&str; 4] = ["completed", "failed", "aborted", "interrupted"];

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => {
            let v = v.trim();
            let parsed = match v.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => v.parse(),
            };
            parsed.unwrap_or_else(|_| panic!("{name}={v} is not a number"))
        }
        _ => default,
    }
}

/// A small deterministic generator (xorshift64).
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        // splitmix64 of the seed, so that nearby seeds (worker indexes) diverge at once and
        // the state is never zero.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        XorShift((z ^ (z >> 31)) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
}

/// What a run's agent is told to do.
#[derive(Clone, Copy, Debug)]
enum Script {
    Normal {
        lines: u64,
        bytes: u64,
        delay_ms: u64,
    },
    Crash {
        lines: u64,
        after: u64,
    },
    Exit {
        lines: u64,
        code: u64,
    },
    ErrorResult {
        lines: u64,
    },
    /// Hangs until aborted; `stubborn` ignores SIGINT and SIGTERM (SIGKILL after the grace).
    Hang {
        stubborn: bool,
    },
}

impl Script {
    fn random(rng: &mut XorShift) -> Script {
        match rng.below(12) {
            0..=3 => Script::Normal {
                lines: rng.range(1, 300),
                bytes: rng.range(10, 200),
                delay_ms: 0,
            },
            4 | 5 => Script::Normal {
                lines: rng.range(5, 40),
                bytes: rng.range(10, 100),
                delay_ms: rng.range(2, 20),
            },
            6 => {
                let lines = rng.range(1, 200);
                Script::Crash {
                    lines,
                    after: rng.below(lines + 1),
                }
            }
            7 => Script::Exit {
                lines: rng.range(0, 50),
                code: rng.range(1, 9),
            },
            8 => Script::ErrorResult {
                lines: rng.range(0, 20),
            },
            9 | 10 => Script::Hang { stubborn: false },
            _ => Script::Hang { stubborn: true },
        }
    }

    fn prompt(self) -> String {
        match self {
            Script::Normal {
                lines,
                bytes,
                delay_ms,
            } => format!("soak lines={lines} bytes={bytes} delay_ms={delay_ms}"),
            Script::Crash { lines, after } => format!("soak lines={lines} crash_after={after}"),
            Script::Exit { lines, code } => format!("soak lines={lines} exit={code}"),
            Script::ErrorResult { lines } => format!("soak lines={lines} error_result"),
            Script::Hang { stubborn: false } => "soak hang".to_owned(),
            Script::Hang { stubborn: true } => "soak hang ignore_sigint ignore_sigterm".to_owned(),
        }
    }

    /// The terminal state when nobody aborts (a hanging agent never ends by itself).
    fn natural(self) -> Option<&'static str> {
        match self {
            Script::Normal { .. } => Some("completed"),
            Script::Crash { .. } | Script::Exit { .. } | Script::ErrorResult { .. } => {
                Some("failed")
            }
            Script::Hang { .. } => None,
        }
    }

    fn hangs(self) -> bool {
        matches!(self, Script::Hang { .. })
    }
}

/// One run as the worker saw it live.
#[derive(Debug)]
struct RunLog {
    script: Script,
    abort_sent: bool,
    /// `session-aborted.outcome`, once seen.
    abort_outcome: Option<String>,
    terminal: Option<String>,
    /// The terminal frame's reason, error and exit code, and any `cursor-error`'s error, for
    /// the report.
    detail: String,
}

/// One session: every frame delivered live (across reconnects), as (seq, fingerprint).
#[derive(Debug)]
struct SessionLog {
    id: String,
    received: Vec<(u64, u64)>,
    /// Live deliveries that were not `last + 1`.
    out_of_order: u64,
    runs: Vec<RunLog>,
}

impl SessionLog {
    fn last(&self) -> u64 {
        self.received.last().map_or(0, |r| r.0)
    }
}

#[derive(Default, Debug)]
struct WorkerStats {
    reconnects: u64,
    resubscribes: u64,
    aborts: u64,
    stray_frames: u64,
}

struct Shared {
    addr: std::net::SocketAddr,
    token: String,
    project: PathBuf,
    deadline: Instant,
    /// Sessions that may still be created.
    session_budget: AtomicUsize,
    runs_started: AtomicU64,
    resubscribe_in_place: bool,
}

struct Worker {
    index: usize,
    shared: Arc<Shared>,
    rng: XorShift,
    client: WsClient,
    sessions: Vec<SessionLog>,
    stats: WorkerStats,
    runs: u64,
}

fn fingerprint(frame: &Value) -> u64 {
    let mut hasher = DefaultHasher::new();
    frame.to_string().hash(&mut hasher);
    hasher.finish()
}

fn seq_of(frame: &Value) -> Option<u64> {
    frame.get("seq").and_then(Value::as_u64)
}

fn is_terminal(frame: &Value) -> bool {
    frame["type"] == "session-state-changed"
        && TERMINAL_STATES.contains(&frame["state"].as_str().unwrap_or_default())
}

impl Worker {
    async fn connect(shared: &Shared) -> Result<WsClient> {
        WsClient::connect(shared.addr, &shared.token).await
    }

    async fn recv(&mut self, timeout: Duration) -> Result<Value> {
        self.client.recv_timeout(timeout).await
    }

    /// Records a journaled frame of session `slot`.
    fn record(&mut self, slot: usize, frame: &Value) {
        let seq = seq_of(frame).expect("journaled");
        let log = &mut self.sessions[slot];
        if seq != log.last() + 1 {
            log.out_of_order += 1;
        }
        log.received.push((seq, fingerprint(frame)));
    }

    /// Drops the connection (with or without a goodbye) and resumes the session on a new one
    /// with `lastSeq`, or (with `resubscribe_in_place`) re-subscribes on the same connection.
    async fn resume(&mut self, slot: usize) -> Result<()> {
        let id = self.sessions[slot].id.clone();
        let last = self.sessions[slot].last();
        if self.shared.resubscribe_in_place && self.rng.one_in(4) {
            self.stats.resubscribes += 1;
        } else {
            self.stats.reconnects += 1;
            let old = std::mem::replace(&mut self.client, Self::connect(&self.shared).await?);
            if self.rng.one_in(2) {
                let _ = old.close().await;
            } else {
                drop(old);
            }
            tokio::time::sleep(Duration::from_millis(self.rng.below(30))).await;
        }
        self.client
            .send(json!({"type":"subscribe","sessionId": id, "lastSeq": last}))
            .await?;
        // Frames of the replaced subscription may come before the status; they come again
        // after it.
        loop {
            let frame = self.recv(RECV).await?;
            match frame["type"].as_str() {
                Some("session-status") if frame["sessionId"] == id.as_str() => return Ok(()),
                Some("error") => bail!("subscribe {id} from {last}: {frame}"),
                _ => {}
            }
        }
    }

    async fn run(mut self) -> Result<Worker> {
        let mut current: Option<usize> = None;
        while Instant::now() < self.shared.deadline {
            // Which session: a new one (while the budget lasts), the current one, or an older
            // one of this worker (which may have left memory meanwhile).
            let want_new = current.is_none() || self.rng.one_in(3);
            let slot = if want_new && self.take_budget() {
                None
            } else if let Some(current) = current {
                if self.sessions.len() > 1 && self.rng.one_in(3) {
                    Some(self.rng.below(self.sessions.len() as u64) as usize)
                } else {
                    Some(current)
                }
            } else {
                break; // no budget left and nothing of our own
            };
            if let (Some(previous), true) = (current, slot != current) {
                let id = self.sessions[previous].id.clone();
                self.client
                    .send(json!({"type":"unsubscribe","sessionId": id}))
                    .await?;
            }
            if self.rng.one_in(8) {
                // A fresh connection between runs (subscribed to nothing).
                self.client = Self::connect(&self.shared).await?;
                self.stats.reconnects += 1;
            }
            current = Some(self.run_once(slot).await?);
        }
        Ok(self)
    }

    fn take_budget(&self) -> bool {
        self.shared
            .session_budget
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }

    /// One run, from the command to its terminal state (and the answer to our abort, if we
    /// sent one). Returns the session's slot.
    async fn run_once(&mut self, slot: Option<usize>) -> Result<usize> {
        let script = Script::random(&mut self.rng);
        self.runs += 1;
        let request = format!("w{}-r{}", self.index, self.runs);
        let mut message = command("cursor", &script.prompt(), &self.shared.project, json!({}));
        message["clientRequestId"] = json!(request);
        if let Some(slot) = slot {
            message["options"]["sessionId"] = json!(self.sessions[slot].id);
        }
        self.client.send(message).await?;
        self.shared.runs_started.fetch_add(1, Ordering::Relaxed);
        let accepted = loop {
            let frame = self
                .recv(RECV)
                .await
                .with_context(|| format!("{request}: waiting for session-accepted"))?;
            if frame["clientRequestId"] == request.as_str() {
                if frame["type"] == "session-accepted" {
                    break frame;
                }
                bail!("{request} ({script:?}) was not accepted: {frame}");
            }
            self.stats.stray_frames += 1;
        };
        let id = accepted["sessionId"].as_str().unwrap().to_owned();
        let slot = match slot {
            Some(slot) => slot,
            None => {
                self.sessions.push(SessionLog {
                    id: id.clone(),
                    received: Vec::new(),
                    out_of_order: 0,
                    runs: Vec::new(),
                });
                self.sessions.len() - 1
            }
        };
        anyhow::ensure!(self.sessions[slot].id == id, "{request}: accepted for {id}");
        self.record(slot, &accepted);
        let mut run = RunLog {
            script,
            abort_sent: false,
            abort_outcome: None,
            terminal: None,
            detail: String::new(),
        };
        // A hanging agent is aborted a little after acceptance (maybe before it even spoke).
        let mut abort_at = script
            .hangs()
            .then(|| Instant::now() + Duration::from_millis(self.rng.below(300)));

        while run.terminal.is_none() || (run.abort_sent && run.abort_outcome.is_none()) {
            // Never drop the connection with an abort in flight: it might not have been read.
            if !run.abort_sent && self.rng.one_in(100) {
                self.resume(slot).await?;
            }
            if !run.abort_sent && run.terminal.is_none() {
                let due = match abort_at {
                    Some(at) => Instant::now() >= at,
                    None => self.rng.one_in(150),
                };
                if due {
                    self.client
                        .send(json!({"type":"abort-session","sessionId": id}))
                        .await?;
                    run.abort_sent = true;
                    abort_at = None;
                    self.stats.aborts += 1;
                }
            }
            let wait = match abort_at {
                Some(at) if !run.abort_sent => at.saturating_duration_since(Instant::now()),
                _ => RECV,
            };
            let frame = match self.recv(wait).await {
                Ok(frame) => frame,
                Err(_) if wait < RECV => continue, // time to abort
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("{request} ({script:?}) on {id}: stalled, {run:?}")
                    })
                }
            };
            if frame["sessionId"] != id.as_str() || seq_of(&frame).is_none() {
                if frame["type"] == "error" {
                    bail!("{request} on {id}: {frame}");
                }
                self.stats.stray_frames += 1;
                continue;
            }
            self.record(slot, &frame);
            match frame["type"].as_str().unwrap_or_default() {
                "session-aborted" => {
                    run.abort_outcome = frame["outcome"].as_str().map(str::to_owned);
                }
                "session-accepted" => bail!("{request} on {id}: a second run started: {frame}"),
                _ if is_terminal(&frame) => {
                    if let Some(first) = &run.terminal {
                        bail!("{request} on {id}: a second terminal state after {first}: {frame}");
                    }
                    run.terminal = frame["state"].as_str().map(str::to_owned);
                    run.detail.push_str(&format!(
                        "reason {} error {} exitCode {}",
                        frame["reason"], frame["error"], frame["exitCode"]
                    ));
                }
                "cursor-error" => {
                    run.detail
                        .push_str(&format!("cursor-error {}; ", frame["error"]));
                }
                _ => {}
            }
        }
        self.sessions[slot].runs.push(run);
        Ok(slot)
    }
}

/// Live processes that carry `marker`, `server` left out.
fn marked_processes(marker: &str, server: Option<u32>) -> Vec<i32> {
    let needle = format!("SOAK_RIG={marker}");
    let server = server.map(|p| p as i32);
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| Some(*pid) != server)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .map(|env| env.split(|b| *b == 0).any(|v| v == needle.as_bytes()))
                .unwrap_or(false)
        })
        .filter(|pid| {
            // A zombie is dead for our purposes.
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|stat| !stat[stat.rfind(')').unwrap() + 2..].starts_with('Z'))
                .unwrap_or(false)
        })
        .collect()
}

/// `(VmHWM, VmRSS)` of `pid`, in KiB.
fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// The session's whole journal, from a fresh connection: `subscribe {lastSeq: 0}`, read up to
/// the head the status announces.
async fn replay(shared: &Shared, id: &str) -> Result<Vec<Value>> {
    let mut client = Worker::connect(shared).await?;
    client
        .send(json!({"type":"subscribe","sessionId": id, "lastSeq": 0}))
        .await?;
    let status = client.recv_timeout(RECV).await?;
    anyhow::ensure!(status["type"] == "session-status", "{id}: {status}");
    let head = status["lastSeq"]
        .as_u64()
        .ok_or_else(|| anyhow!("{status}"))?;
    let mut frames: Vec<Value> = Vec::new();
    while frames.last().and_then(seq_of).unwrap_or(0) < head {
        let frame = client.recv_timeout(RECV).await?;
        if frame["sessionId"] == id && seq_of(&frame).is_some() {
            frames.push(frame);
        }
    }
    let _ = client.close().await;
    Ok(frames)
}

#[derive(Default, Debug)]
struct Verdict {
    frames_lost: u64,
    frames_duplicated: u64,
    frames_out_of_order: u64,
    frames_differing: u64,
    /// Places where a session's journal skips seqs (allowed only across a crash; none here).
    seq_gaps: u64,
    terminal_violations: u64,
    problems: Vec<String>,
}

impl Verdict {
    fn problem(&mut self, text: String) {
        if self.problems.len() < 20 {
            self.problems.push(text);
        }
    }
}

/// Compares one session's live deliveries and runs with its replayed journal.
fn check_session(session: &SessionLog, journal: &[Value], verdict: &mut Verdict) {
    let id = &session.id;
    let replayed: Vec<(u64, u64)> = journal
        .iter()
        .map(|f| (seq_of(f).unwrap(), fingerprint(f)))
        .collect();
    // The journal itself: 1..=N (nothing here crashes, so no gap is allowed).
    if let Some(i) = (0..replayed.len()).find(|&i| replayed[i].0 != i as u64 + 1) {
        verdict.seq_gaps += 1;
        let around: Vec<String> = journal[i.saturating_sub(3)..(i + 3).min(journal.len())]
            .iter()
            .map(|f| format!("{} {} {}", f["seq"], f["type"], f["state"]))
            .collect();
        verdict.problem(format!(
            "{id}: the journal is not 1..=N: at position {i} seq {} ({around:?})",
            replayed[i].0
        ));
    }
    let received: HashSet<u64> = session.received.iter().map(|r| r.0).collect();
    let stored: HashSet<u64> = replayed.iter().map(|r| r.0).collect();
    let lost = stored.difference(&received).count() as u64;
    let extra = received.difference(&stored).count() as u64;
    let duplicated = (session.received.len() - received.len()) as u64;
    if lost + extra > 0 {
        verdict.problem(format!(
            "{id}: {lost} journaled frames never delivered, {extra} delivered but not journaled"
        ));
    }
    verdict.frames_lost += lost + extra;
    verdict.frames_duplicated += duplicated;
    verdict.frames_out_of_order += session.out_of_order;
    if session.out_of_order > 0 {
        let jumps: Vec<(u64, u64)> = session
            .received
            .windows(2)
            .filter(|w| w[1].0 != w[0].0 + 1)
            .map(|w| (w[0].0, w[1].0))
            .collect();
        verdict.problem(format!(
            "{id}: {} deliveries out of order: {jumps:?}",
            session.out_of_order
        ));
    }
    if lost + extra + duplicated + session.out_of_order == 0 {
        let differing = session
            .received
            .iter()
            .zip(&replayed)
            .filter(|(a, b)| a != b)
            .count() as u64;
        if differing > 0 {
            verdict.problem(format!("{id}: {differing} frames differ from the journal"));
        }
        verdict.frames_differing += differing;
    }

    // Runs: exactly one terminal state each, nothing of the run after it but a late
    // `session-aborted`, and the state the script and our abort call for.
    let mut runs: Vec<(Vec<&str>, Option<String>)> = Vec::new(); // (terminals, abort outcome)
    let mut after_terminal = false;
    for frame in journal {
        let kind = frame["type"].as_str().unwrap_or_default();
        if kind == "session-accepted" {
            runs.push((Vec::new(), None));
            after_terminal = false;
            continue;
        }
        let Some(run) = runs.last_mut() else {
            verdict.terminal_violations += 1;
            verdict.problem(format!("{id}: {kind} before any run"));
            continue;
        };
        if is_terminal(frame) {
            run.0.push(frame["state"].as_str().unwrap());
            after_terminal = true;
        } else if kind == "session-aborted" {
            run.1 = frame["outcome"].as_str().map(str::to_owned);
        } else if after_terminal {
            verdict.terminal_violations += 1;
            verdict.problem(format!("{id}: {kind} after the run's terminal state"));
        }
    }
    if runs.len() != session.runs.len() {
        verdict.terminal_violations += 1;
        verdict.problem(format!(
            "{id}: {} runs journaled, {} started",
            runs.len(),
            session.runs.len()
        ));
    }
    for (i, (run, (terminals, outcome))) in session.runs.iter().zip(&runs).enumerate() {
        let expected = match run.abort_outcome.as_deref() {
            Some("aborted") => Some("aborted"),
            _ => run.script.natural(),
        };
        let live = run.terminal.as_deref();
        let consistent = terminals.len() == 1
            && Some(terminals[0]) == live
            && *outcome == run.abort_outcome
            && run.abort_sent == run.abort_outcome.is_some();
        if !(consistent && live == expected) {
            verdict.terminal_violations += 1;
            verdict.problem(format!(
                "{id} run {i}: {run:?}; journal: terminals {terminals:?}, abort {outcome:?}; \
                 expected {expected:?}"
            ));
        }
    }
}

/// What a soak varies besides the random scripts.
struct Mode {
    name: &'static str,
    /// Extra `config.toml` lines.
    config: &'static str,
    /// Whether a worker sometimes re-subscribes on the connection it has, instead of dropping
    /// it and resuming on a new one.
    resubscribe_in_place: bool,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak() {
    soak_with(Mode {
        name: "soak",
        config: "",
        resubscribe_in_place: false,
    })
    .await;
}

/// The soak with workers that also re-subscribe on the connection they have.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_resubscribing_in_place() {
    soak_with(Mode {
        name: "soak (re-subscribing in place)",
        config: "",
        resubscribe_in_place: true,
    })
    .await;
}

/// The soak with sessions leaving memory a second after their last run and subscriber, so
/// that later runs and the final replays load them from the store again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_with_sessions_leaving_memory() {
    soak_with(Mode {
        name: "soak (idle_unload_secs = 1)",
        config: "idle_unload_secs = 1\n",
        resubscribe_in_place: false,
    })
    .await;
}

async fn soak_with(mode: Mode) {
    let name = mode.name;
    let secs = env_u64("SWITCHBOARD_SOAK_SECS", 15);
    let sessions = env_u64("SWITCHBOARD_SOAK_SESSIONS", 100).max(1) as usize;
    let workers = (env_u64("SWITCHBOARD_SOAK_WORKERS", 16).max(1) as usize).min(sessions);
    let seed = env_u64(
        "SWITCHBOARD_SOAK_SEED",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    );
    println!("{name}: seed {seed:#x} (SWITCHBOARD_SOAK_SEED={seed:#x} replays the choices)");
    println!(
        "{name}: {secs} s, {workers} workers, at most {sessions} sessions, abort_grace_ms \
         {ABORT_GRACE_MS}"
    );

    let marker = uuid::Uuid::new_v4().to_string();
    let server = TestServer::start(
        Path::new(env!("CARGO_BIN_EXE_switchboard")),
        TestServerOptions {
            config: format!("abort_grace_ms = {ABORT_GRACE_MS}\n{}", mode.config),
            env: vec![
                (
                    "SWITCHBOARD_CURSOR_BIN".to_owned(),
                    fixtures::fake_cursor_agent().to_string_lossy().into_owned(),
                ),
                ("SOAK_RIG".to_owned(), marker.clone()),
            ],
            capture_log: true,
            ..Default::default()
        },
    )
    .expect("the server starts");
    let server_pid = server.pid().expect("the server runs");

    let started = Instant::now();
    let shared = Arc::new(Shared {
        addr: server.addr,
        token: server.token.clone(),
        project: server.project_path().to_owned(),
        deadline: started + Duration::from_secs(secs),
        session_budget: AtomicUsize::new(sessions),
        runs_started: AtomicU64::new(0),
        resubscribe_in_place: mode.resubscribe_in_place,
    });

    // RSS over time, for the record.
    let sampling = Arc::new(AtomicU64::new(0));
    let sampler = {
        let peak = Arc::clone(&sampling);
        tokio::spawn(async move {
            loop {
                peak.fetch_max(memory(server_pid).1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };

    let mut tasks = Vec::new();
    for index in 0..workers {
        let shared = Arc::clone(&shared);
        let rng = XorShift::new(seed ^ (index as u64).wrapping_mul(0x2545_F491_4F6C_DD1D));
        tasks.push(tokio::spawn(async move {
            let client = Worker::connect(&shared).await?;
            let worker = Worker {
                index,
                shared,
                rng,
                client,
                sessions: Vec::new(),
                stats: WorkerStats::default(),
                runs: 0,
            };
            worker.run().await
        }));
    }
    let mut done = Vec::new();
    let mut failures = Vec::new();
    for (index, task) in tasks.into_iter().enumerate() {
        match task.await {
            Ok(Ok(worker)) => done.push(worker),
            Ok(Err(e)) => failures.push(format!("worker {index}: {e:#}")),
            Err(e) => failures.push(format!("worker {index} panicked: {e}")),
        }
    }
    let run_time = started.elapsed();

    // Every run is over: nothing of any agent may be left.
    let mut leaked = marked_processes(&marker, Some(server_pid));
    for _ in 0..30 {
        if leaked.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        leaked = marked_processes(&marker, Some(server_pid));
    }

    // Check every session against a full replay, a few at a time.
    let all: Vec<SessionLog> = done
        .iter_mut()
        .flat_map(|w| std::mem::take(&mut w.sessions))
        .collect();
    let mut verdict = Verdict::default();
    for chunk in all.chunks(8) {
        let replays = futures_util::future::join_all(chunk.iter().map(|s| replay(&shared, &s.id)));
        for (session, journal) in chunk.iter().zip(replays.await) {
            match journal {
                Ok(journal) => check_session(session, &journal, &mut verdict),
                Err(e) => {
                    verdict.frames_lost += 1;
                    verdict.problem(format!("{}: replay failed: {e:#}", session.id));
                }
            }
        }
    }
    sampler.abort();
    let (hwm, rss) = memory(server_pid);

    let runs: Vec<&RunLog> = all.iter().flat_map(|s| &s.runs).collect();
    let count = |state: &str| {
        runs.iter()
            .filter(|r| r.terminal.as_deref() == Some(state))
            .count()
    };
    let delivered: usize = all.iter().map(|s| s.received.len()).sum();
    let stats = done.iter().fold(WorkerStats::default(), |mut acc, w| {
        acc.reconnects += w.stats.reconnects;
        acc.resubscribes += w.stats.resubscribes;
        acc.aborts += w.stats.aborts;
        acc.stray_frames += w.stats.stray_frames;
        acc
    });
    println!(
        "{name}: ran {:.1} s; sessions {}; runs started {}, runs completed {} (completed {}, \
         failed {}, aborted {})",
        run_time.as_secs_f64(),
        all.len(),
        shared.runs_started.load(Ordering::Relaxed),
        runs.len(),
        count("completed"),
        count("failed"),
        count("aborted"),
    );
    println!(
        "{name}: frames delivered {delivered}; reconnects {}, resubscribes {}, aborts sent {}",
        stats.reconnects, stats.resubscribes, stats.aborts
    );
    println!(
        "{name}: frames lost {}, duplicated {}, out of order {}, differing from the journal {}, \
         seq gaps in the journal {}",
        verdict.frames_lost,
        verdict.frames_duplicated,
        verdict.frames_out_of_order,
        verdict.frames_differing,
        verdict.seq_gaps
    );
    println!(
        "{name}: terminal-state violations {}",
        verdict.terminal_violations
    );
    println!("{name}: leaked processes {} {leaked:?}", leaked.len());
    println!(
        "{name}: peak RSS (VmHWM) {} MiB (limit {} MiB); RSS sampled peak {} MiB, at the end {} MiB",
        hwm / 1024,
        rss_limit_kib(sessions) / 1024,
        sampling.load(Ordering::Relaxed) / 1024,
        rss / 1024
    );
    for problem in failures.iter().chain(&verdict.problems) {
        println!("{name}: PROBLEM {problem}");
    }
    // The server's warnings and errors, for the record.
    let log = std::fs::read_to_string(server.log_path()).unwrap_or_default();
    let log: Vec<&str> = log.lines().collect();
    for line in &log[log.len().saturating_sub(40)..] {
        println!("{name}: server log: {line}");
    }

    assert!(failures.is_empty(), "workers failed: {failures:#?}");
    assert_eq!(verdict.frames_lost, 0, "{:#?}", verdict.problems);
    assert_eq!(verdict.frames_duplicated, 0, "{:#?}", verdict.problems);
    assert_eq!(verdict.frames_out_of_order, 0, "{:#?}", verdict.problems);
    assert_eq!(verdict.frames_differing, 0, "{:#?}", verdict.problems);
    assert_eq!(verdict.seq_gaps, 0, "{:#?}", verdict.problems);
    assert_eq!(verdict.terminal_violations, 0, "{:#?}", verdict.problems);
    assert!(leaked.is_empty(), "leaked processes: {leaked:?}");
    let limit = rss_limit_kib(sessions);
    assert!(
        hwm < limit,
        "the server's peak RSS is {hwm} KiB (limit {limit} KiB)"
    );
    assert!(!runs.is_empty(), "no run finished");
}

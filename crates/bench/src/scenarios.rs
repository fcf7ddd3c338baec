//! The six scenarios of the performance issue. Each returns its Markdown section: a table of
//! medians, with the goal beside each figure it has one for.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use serde_json::json;
use switchboard_testkit::client::command;
use switchboard_testkit::TestServer;
use tokio::sync::Semaphore;

use crate::client::{BenchClient, Delivery};
use crate::harness::{finish_run, lost, prompt, span, start_run, store_bytes, Binaries};
use crate::procfs::{rss, CpuMeter};
use crate::stats::{median, percentile};

/// What the scenarios run with (flags of `switchboard-bench`).
#[derive(Debug, Clone)]
pub struct Params {
    /// Lines per run in the relay scenarios (1 and 6).
    pub lines: u64,
    /// Runs per measured point; medians are over these.
    pub runs: usize,
    /// Subscriber counts of scenario 1.
    pub subscribers: Vec<usize>,
    /// Scenario 2: concurrent sessions, their aggregate line rate, and how long they run.
    pub sessions: usize,
    pub many_rate: f64,
    pub many_secs: f64,
    /// Scenario 3: sessions sharing the aggregate rate, and how long each point runs.
    pub latency_sessions: usize,
    pub latency_secs: f64,
    /// Scenario 4: how far behind the returning client is.
    pub catch_up_frames: u64,
    /// Scenario 5: idle sessions created, then subscribers attached.
    pub idle_sessions: usize,
    /// Extra `config.toml` lines for every server under test.
    pub config: String,
}

fn us(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

fn mib(bytes: f64) -> f64 {
    bytes / (1024.0 * 1024.0)
}

// ---- 1. relay, one session --------------------------------------------------------------

struct RelayPoint {
    subscribers: usize,
    frames: u64,
    rate: f64,
    limit: f64,
    /// Server CPU per frame produced (each delivered to every subscriber).
    cpu_us: f64,
    lost: u64,
}

/// One relayed run of `lines` stamped lines, read by `subscribers` clients.
async fn relay_once(
    server: &TestServer,
    lines: u64,
    subscribers: usize,
) -> Result<(f64, f64, u64, u64)> {
    let cpu = CpuMeter::start(server.pid().unwrap_or_default())?;
    let run = start_run(server, &prompt(lines, None, true), subscribers).await?;
    let started = run.started;
    let deliveries = finish_run(run, false).await?;
    let cpu = cpu.elapsed()?;
    // Every client sees every frame; the sender's count is the run's count.
    let frames = deliveries.iter().map(|d| d.frames).max().unwrap_or(0);
    let rate = frames as f64 / span(started, &deliveries).as_secs_f64();
    Ok((
        rate,
        us(cpu) / frames as f64,
        frames,
        lost(&deliveries, lines),
    ))
}

pub async fn relay(bins: &Binaries, params: &Params) -> Result<String> {
    let server = bins.start(&params.config)?;
    let mut points = Vec::new();
    for &subscribers in &params.subscribers {
        let (mut rates, mut limits, mut cpus) = (Vec::new(), Vec::new(), Vec::new());
        let (mut frames, mut missing) = (0, 0);
        for _ in 0..params.runs {
            limits.push(bins.raw_limit(params.lines, &prompt(params.lines, None, true))?);
            let (rate, cpu, n, lost) = relay_once(&server, params.lines, subscribers).await?;
            rates.push(rate);
            cpus.push(cpu);
            frames = n;
            missing += lost;
        }
        points.push(RelayPoint {
            subscribers,
            frames,
            rate: median(&rates),
            limit: median(&limits),
            cpu_us: median(&cpus),
            lost: missing,
        });
    }
    let mut out = String::from(
        "| subscribers | frames per run | frames/s (median) | raw limit lines/s | ratio | goal | server CPU µs per frame | per frame delivered | goal | frames lost |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    let base = points.iter().find(|p| p.subscribers == 1).map(|p| p.cpu_us);
    for p in &points {
        let ratio_goal = if p.subscribers == 1 {
            "≥ 0.25"
        } else {
            "≥ 0.15"
        };
        let cpu_goal = match (p.subscribers, base) {
            (1, _) => "≤ 2 µs".to_owned(),
            (n, Some(base)) => format!(
                "≤ 0.5 µs per extra subscriber (is {:.2})",
                (p.cpu_us - base) / (n - 1) as f64
            ),
            _ => "–".to_owned(),
        };
        out.push_str(&format!(
            "| {} | {} | {:.0} | {:.0} | {:.3} | {} | {:.2} | {:.2} | {} | {} |\n",
            p.subscribers,
            p.frames,
            p.rate,
            p.limit,
            p.rate / p.limit,
            ratio_goal,
            p.cpu_us,
            p.cpu_us / p.subscribers as f64,
            cpu_goal,
            p.lost
        ));
    }
    Ok(out)
}

// ---- 6. durability cost -----------------------------------------------------------------

pub async fn durability(bins: &Binaries, params: &Params) -> Result<String> {
    let persisted = bins.start(&params.config)?;
    let unpersisted = bins.start(&format!("{}persist_frames = false\n", params.config))?;
    let (mut on, mut off) = (Vec::new(), Vec::new());
    let mut missing = 0;
    // Alternating, so both see the same machine noise.
    for _ in 0..params.runs {
        let run = relay_once(&persisted, params.lines, 1).await?;
        missing += run.3;
        on.push(run);
        let run = relay_once(&unpersisted, params.lines, 1).await?;
        missing += run.3;
        off.push(run);
    }
    let rate =
        |runs: &[(f64, f64, u64, u64)]| median(&runs.iter().map(|r| r.0).collect::<Vec<_>>());
    let cpu = |runs: &[(f64, f64, u64, u64)]| median(&runs.iter().map(|r| r.1).collect::<Vec<_>>());
    Ok(format!(
        "| relay, 1 subscriber | frames/s (median) | server CPU µs per frame |\n|---|---|---|\n\
         | persistence on (default) | {:.0} | {:.2} |\n\
         | persistence off (`persist_frames = false`) | {:.0} | {:.2} |\n\
         | **on ÷ off** (goal ≥ 0.8) | **{:.3}** | |\n\nFrames lost: {missing}.\n",
        rate(&on),
        cpu(&on),
        rate(&off),
        cpu(&off),
        rate(&on) / rate(&off)
    ))
}

// ---- 2. many sessions -------------------------------------------------------------------

/// One session of scenario 2: its sender and one more subscriber, read to the end.
async fn paced_session(
    server: Arc<TestServer>,
    prompt: String,
    setup: Arc<Semaphore>,
) -> Result<Vec<Delivery>> {
    // Connection set-up is throttled so the listener's backlog never overflows.
    let permit = setup.acquire_owned().await?;
    let run = start_run(&server, &prompt, 2).await?;
    drop(permit);
    finish_run(run, true).await
}

pub async fn many_sessions(bins: &Binaries, params: &Params) -> Result<String> {
    let server = Arc::new(bins.start(&params.config)?);
    let pid = server.pid().unwrap_or_default();
    let per_session = params.many_rate / params.sessions as f64;
    let lines = (per_session * params.many_secs).ceil().max(1.0) as u64;
    let (mut rates, mut cpus, mut p99s) = (Vec::new(), Vec::new(), Vec::new());
    let mut missing = 0;
    for _ in 0..params.runs {
        let cpu = CpuMeter::start(pid)?;
        let setup = Arc::new(Semaphore::new(64));
        let started = Instant::now();
        let tasks: Vec<_> = (0..params.sessions)
            .map(|_| {
                tokio::spawn(paced_session(
                    Arc::clone(&server),
                    prompt(lines, Some(per_session), true),
                    Arc::clone(&setup),
                ))
            })
            .collect();
        let mut deliveries = Vec::new();
        for task in tasks {
            deliveries.extend(task.await??);
        }
        let cpu = cpu.elapsed()?;
        let frames: u64 = deliveries.iter().map(|d| d.frames).sum();
        let delays = steady_delays(&deliveries);
        // Over the whole run, start-up of every process and connection included.
        let total = span(started, &deliveries).as_secs_f64();
        rates.push(frames as f64 / total);
        cpus.push(us(cpu) / frames as f64);
        p99s.push(ms(percentile(&delays, 99.0)));
        missing += lost(&deliveries, lines);
    }
    let (_, peak) = rss(pid)?;
    Ok(format!(
        "{} sessions × 2 subscribers, {:.0} lines/s aggregate ({:.1} per session, {lines} lines each, {} runs):\n\n\
         | figure | median | goal |\n|---|---|---|\n\
         | frames delivered per second (whole run, start-up included) | {:.0} | – |\n\
         | frames lost | {missing} | 0 |\n\
         | server CPU µs per frame delivered | {:.2} | – |\n\
         | write-to-client delay p99 (once all are streaming) | {:.2} ms | – |\n\
         | server peak RSS | {:.1} MiB | – |\n",
        params.sessions,
        params.many_rate,
        per_session,
        params.runs,
        median(&rates),
        median(&cpus),
        median(&p99s),
        mib(peak as f64),
    ))
}

/// The delays of the frames that arrived once every session was streaming, sorted: starting
/// sessions one after another (processes, connections) is not the relay's steady state.
fn steady_delays(deliveries: &[Delivery]) -> Vec<u64> {
    let steady_from = deliveries.iter().filter_map(|d| d.first_stamped).max();
    let mut delays: Vec<u64> = deliveries
        .iter()
        .flat_map(|d| d.delays.iter())
        .filter(|(at, _)| steady_from.is_none_or(|from| *at >= from))
        .map(|(_, delay)| *delay)
        .collect();
    delays.sort_unstable();
    delays
}

// ---- 3. latency -------------------------------------------------------------------------

pub struct LatencyPoint {
    pub target: f64,
    pub achieved: f64,
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
    pub cpu_us: f64,
    pub lost: u64,
}

impl LatencyPoint {
    /// Sustained: nearly the whole target rate arrives, and the tail does not run away.
    fn sustained(&self) -> bool {
        self.lost == 0 && self.achieved >= 0.95 * self.target && self.p999 <= 50.0
    }
}

async fn latency_point(server: &TestServer, params: &Params, target: f64) -> Result<LatencyPoint> {
    let sessions = params.latency_sessions.max(1);
    let per_session = target / sessions as f64;
    let lines = (per_session * params.latency_secs).ceil().max(1.0) as u64;
    let mut results = Vec::new();
    for _ in 0..params.runs {
        let cpu = CpuMeter::start(server.pid().unwrap_or_default())?;
        let mut runs = Vec::new();
        for _ in 0..sessions {
            runs.push(start_run(server, &prompt(lines, Some(per_session), true), 1).await?);
        }
        let mut deliveries = Vec::new();
        for task in runs
            .into_iter()
            .map(|run| tokio::spawn(finish_run(run, true)))
            .collect::<Vec<_>>()
        {
            deliveries.extend(task.await??);
        }
        let cpu = cpu.elapsed()?;
        let delays = steady_delays(&deliveries);
        let stamped: u64 = deliveries.iter().map(|d| d.stamped).sum();
        let from = deliveries.iter().filter_map(|d| d.first_stamped).min();
        let to = deliveries.iter().filter_map(|d| d.finished).max();
        let achieved = match (from, to) {
            (Some(from), Some(to)) if to > from => stamped as f64 / (to - from).as_secs_f64(),
            _ => 0.0,
        };
        let frames: u64 = deliveries.iter().map(|d| d.frames).sum();
        results.push(LatencyPoint {
            target,
            achieved,
            p50: ms(percentile(&delays, 50.0)),
            p99: ms(percentile(&delays, 99.0)),
            p999: ms(percentile(&delays, 99.9)),
            cpu_us: us(cpu) / frames.max(1) as f64,
            lost: lost(&deliveries, lines),
        });
    }
    let pick = |f: fn(&LatencyPoint) -> f64| median(&results.iter().map(f).collect::<Vec<_>>());
    Ok(LatencyPoint {
        target,
        achieved: pick(|p| p.achieved),
        p50: pick(|p| p.p50),
        p99: pick(|p| p.p99),
        p999: pick(|p| p.p999),
        cpu_us: pick(|p| p.cpu_us),
        lost: results.iter().map(|p| p.lost).sum(),
    })
}

pub async fn latency(bins: &Binaries, params: &Params) -> Result<String> {
    let server = bins.start(&params.config)?;
    let mut rows = Vec::new();
    for target in [1_000.0, 10_000.0] {
        let point = latency_point(&server, params, target).await?;
        let goal = if target == 10_000.0 {
            "p99 ≤ 1 ms"
        } else {
            "–"
        };
        rows.push((point, goal.to_owned()));
    }
    // The highest sustainable rate: double until the server stops keeping up (bounded).
    let mut best: Option<LatencyPoint> = None;
    let mut first_failed = None;
    let mut target = 20_000.0;
    for _ in 0..4 {
        let point = latency_point(&server, params, target).await?;
        if !point.sustained() {
            first_failed = Some(point);
            break;
        }
        best = Some(point);
        target *= 2.0;
    }
    if let Some(point) = best {
        rows.push((point, "highest sustained".to_owned()));
    }
    if let Some(point) = first_failed {
        rows.push((point, "not sustained (for reference)".to_owned()));
    }
    let mut out = format!(
        "{} sessions share the aggregate rate, one subscriber each, {} s per point, {} runs; \
         delay = client receive time − the fixture's write stamp, counted once every session is \
         streaming (the start-up of the sessions is left out). Sustained means ≥ 95 % of the \
         target arrives, nothing is lost and p99.9 ≤ 50 ms.\n\n\
         | aggregate target lines/s | achieved | p50 ms | p99 ms | p99.9 ms | server CPU µs per frame | frames lost | note / goal |\n|---|---|---|---|---|---|---|---|\n",
        params.latency_sessions, params.latency_secs, params.runs
    );
    for (p, note) in rows {
        out.push_str(&format!(
            "| {:.0} | {:.0} | {:.3} | {:.3} | {:.3} | {:.2} | {} | {note} |\n",
            p.target, p.achieved, p.p50, p.p99, p.p999, p.cpu_us, p.lost
        ));
    }
    Ok(out)
}

// ---- 4. catch-up ------------------------------------------------------------------------

/// Runs one session of `frames` lines, then times `runs` fresh clients that subscribe from
/// seq 0 until they hold the head. Returns the median time, the head and the bytes per frame.
async fn catch_up_on(server: &TestServer, params: &Params) -> Result<(Duration, u64, f64)> {
    let run = start_run(server, &prompt(params.catch_up_frames, None, true), 1).await?;
    let session_id = run.session_id.clone();
    let head = finish_run(run, false).await?[0].last_seq;
    let mut times = Vec::new();
    let mut wire_bytes = 0.0;
    for _ in 0..params.runs {
        let mut client = BenchClient::connect(server.addr, &server.token).await?;
        let started = Instant::now();
        client
            .send(&json!({"type": "subscribe", "sessionId": session_id, "lastSeq": 0}))
            .await?;
        let seen = client.read_until(false, |_, seq| seq >= head).await?;
        let elapsed = started.elapsed();
        if seen.frames != head || seen.seq_gaps != 0 {
            bail!("catch-up delivered {} of {head} frames", seen.frames);
        }
        wire_bytes = seen.bytes as f64 / seen.frames as f64;
        times.push(elapsed.as_secs_f64());
    }
    Ok((Duration::from_secs_f64(median(&times)), head, wire_bytes))
}

pub async fn catch_up(bins: &Binaries, params: &Params) -> Result<String> {
    let ring_config = format!(
        "{}journal_ring_frames = {}\njournal_ring_bytes = {}\n",
        params.config,
        params.catch_up_frames * 2,
        4u64 << 30
    );
    let ring = bins.start(&ring_config)?;
    let (from_ring, head, wire) = catch_up_on(&ring, params).await?;
    drop(ring);
    let store_config = format!("{}journal_ring_frames = 64\n", params.config);
    let mut stored = bins.start(&store_config)?;
    let before = store_bytes(stored.data_dir.path())?;
    let (from_store, _, _) = catch_up_on(&stored, params).await?;
    // A clean stop checkpoints the write-ahead log into the database file.
    stored.stop_with(libc::SIGTERM)?;
    let after = store_bytes(stored.data_dir.path())?;
    let per_frame = after.saturating_sub(before) as f64 / head as f64;
    Ok(format!(
        "A client subscribes with `lastSeq: 0` to a finished session of {head} frames and reads \
         until it holds the head ({} runs).\n\n\
         | catch-up of {head} frames | time (median) | frames/s | goal |\n|---|---|---|---|\n\
         | from the in-memory ring | {:.3} s | {:.0} | – |\n\
         | from the store (ring of 64 frames) | {:.3} s | {:.0} | ≤ 0.5 s |\n\n\
         Journal on disk: **{per_frame:.0} bytes per frame** (growth of the store after a clean \
         stop, ÷ frames: the SQLite database and WAL, and the journal's segment files), for \
         frames of {wire:.0} bytes of JSON on the wire.\n",
        params.runs,
        from_ring.as_secs_f64(),
        head as f64 / from_ring.as_secs_f64(),
        from_store.as_secs_f64(),
        head as f64 / from_store.as_secs_f64(),
    ))
}

// ---- 5. memory --------------------------------------------------------------------------

/// Starts `count` short runs from `connections` clients and waits for all to complete;
/// returns their session ids. The clients are closed after, so the sessions are left idle.
async fn idle_sessions(server: &TestServer, count: usize) -> Result<Vec<String>> {
    let connections = 16.min(count.max(1));
    let mut tasks = Vec::new();
    for worker in 0..connections {
        let (addr, token) = (server.addr, server.token.clone());
        let project = server.project_path().to_owned();
        let share = count / connections + usize::from(worker < count % connections);
        tasks.push(tokio::spawn(async move {
            let mut client = BenchClient::connect(addr, &token).await?;
            let mut ids = Vec::new();
            for _ in 0..share {
                let command = command("cursor", &prompt(2, None, false), &project, json!({}));
                client.send(&command).await?;
                ids.push(client.session_id().await?);
                let seen = client.read_until_terminal(false).await?;
                if seen.terminal != "completed" {
                    bail!("an idle-session run ended {}", seen.terminal);
                }
            }
            anyhow::Ok(ids)
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.extend(task.await??);
    }
    Ok(ids)
}

async fn settled_rss(pid: u32) -> Result<u64> {
    tokio::time::sleep(Duration::from_millis(500)).await;
    Ok(rss(pid)?.0)
}

pub async fn memory(bins: &Binaries, params: &Params) -> Result<String> {
    let count = params.idle_sessions.max(1);
    let (mut per_session, mut per_subscriber) = (Vec::new(), Vec::new());
    for _ in 0..params.runs {
        let server = bins.start(&params.config)?;
        let pid = server.pid().unwrap_or_default();
        // Warm-up: the first run pays for thread pools, the database cache and so on.
        idle_sessions(&server, 4).await?;
        let base = settled_rss(pid).await?;
        let ids = idle_sessions(&server, count).await?;
        let idle = settled_rss(pid).await?;
        let mut clients = Vec::new();
        for id in &ids {
            let mut client = BenchClient::connect(server.addr, &server.token).await?;
            client
                .send(&json!({"type": "subscribe", "sessionId": id, "lastSeq": 0}))
                .await?;
            client.read_until_terminal(false).await?;
            clients.push(client);
        }
        let attached = settled_rss(pid).await?;
        per_session.push(idle.saturating_sub(base) as f64 / count as f64);
        per_subscriber.push(attached.saturating_sub(idle) as f64 / count as f64);
        drop(clients);
    }
    Ok(format!(
        "{count} sessions each ran 2 lines and were left idle (in memory, no run, no \
         subscriber); then one client per session subscribed from seq 0 ({} runs, fresh server \
         each; RSS after settling).\n\n\
         | figure | median | goal |\n|---|---|---|\n\
         | server RSS per idle session | {:.1} KiB | ≤ 64 KiB |\n\
         | server RSS per attached subscriber (its own connection) | {:.1} KiB | – |\n",
        params.runs,
        median(&per_session) / 1024.0,
        median(&per_subscriber) / 1024.0,
    ))
}

// ---- the CI smoke -----------------------------------------------------------------------

/// A quick check that the relay loses nothing: a few thousand lines to several subscribers,
/// and a handful of paced sessions at once. Never a timing.
pub async fn smoke(bins: &Binaries, lines: u64) -> Result<String> {
    let server = bins.start("")?;
    let run = start_run(&server, &prompt(lines, None, true), 3).await?;
    let deliveries = finish_run(run, false).await?;
    let mut missing = lost(&deliveries, lines);
    let mut sessions = Vec::new();
    for _ in 0..8 {
        sessions.push(start_run(&server, &prompt(lines / 8, Some(5_000.0), true), 2).await?);
    }
    for run in sessions {
        missing += lost(&finish_run(run, true).await?, lines / 8);
    }
    if missing > 0 {
        bail!("{missing} frames lost");
    }
    Ok(format!("smoke: {lines} lines to 3 subscribers and 8 paced sessions × 2 subscribers, {missing} frames lost\n"))
}

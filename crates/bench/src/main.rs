//! `switchboard-bench`: relay benchmarks against the release binary, on loopback only.
//!
//! Each scenario is measured side by side with its limit in the same run, so the ratios hold
//! on a noisy machine even when the absolute rates do not:
//! - **raw limit**: the fixture agent writing into a pipe that a reader drains and discards;
//! - **relay**: the same fixture behind the server, read by WebSocket clients.
//!
//! Usage: `switchboard-bench [--lines N] [--runs R] [--subscribers S]` (run through
//! `scripts/bench.sh`, which builds the release binaries first). Prints a Markdown table.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::json;
use switchboard_testkit::client::{command, is_terminal_for};
use switchboard_testkit::{TestServer, TestServerOptions, WsClient};

struct Args {
    lines: u64,
    runs: usize,
    subscribers: Vec<usize>,
    /// Extra `config.toml` lines for the server under test.
    config: String,
    /// Skip the persistence comparison.
    no_compare: bool,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        lines: 100_000,
        runs: 3,
        subscribers: vec![1, 10],
        config: String::new(),
        no_compare: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().context("a flag needs a value");
        match flag.as_str() {
            "--lines" => args.lines = value()?.parse()?,
            "--runs" => args.runs = value()?.parse()?,
            "--subscribers" => {
                args.subscribers = value()?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?
            }
            "--config" => args.config = value()? + "\n",
            "--no-compare" => args.no_compare = true,
            other => bail!("unknown flag {other}"),
        }
    }
    Ok(args)
}

fn sibling(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let path = exe.parent().context("exe has a dir")?.join(name);
    if !path.exists() {
        bail!(
            "{} is missing; build it with `cargo build --release --workspace`",
            path.display()
        );
    }
    Ok(path)
}

fn fixture_prompt(lines: u64) -> String {
    format!("lines={lines} bytes=200")
}

/// Lines per second the fixture reaches writing into a drained pipe.
fn raw_limit(fixture: &Path, lines: u64) -> Result<f64> {
    let started = Instant::now();
    let mut child = Command::new(fixture)
        .args([
            "-p",
            "--output-format",
            "stream-json",
            "--trust",
            &fixture_prompt(lines),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut stdout = child.stdout.take().expect("piped");
    let mut buf = vec![0u8; 64 * 1024];
    while stdout.read(&mut buf)? > 0 {}
    child.wait()?;
    Ok(lines as f64 / started.elapsed().as_secs_f64())
}

/// User + system CPU time of a process.
fn cpu_time(pid: u32) -> Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let fields: Vec<&str> = stat[stat.rfind(')').context("stat")? + 2..]
        .split(' ')
        .collect();
    let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    Ok(Duration::from_nanos(ticks * 1_000_000_000 / hz))
}

struct RelayRun {
    frames_per_sec: f64,
    cpu_us_per_frame: f64,
    frames: u64,
}

async fn relay(server: &TestServer, lines: u64, subscribers: usize) -> Result<RelayRun> {
    let pid = server.pid().context("server pid")?;
    let cpu_before = cpu_time(pid)?;
    let started = Instant::now();
    let mut owner = server.client().await?;
    owner
        .send(command(
            "cursor",
            &fixture_prompt(lines),
            server.project_path(),
            json!({}),
        ))
        .await?;
    let accepted = owner.recv().await?;
    let id = accepted["sessionId"]
        .as_str()
        .context("accepted")?
        .to_owned();
    let mut readers = Vec::new();
    for _ in 1..subscribers {
        let mut client = WsClient::connect(server.addr, &server.token).await?;
        client
            .send(json!({"type":"subscribe","sessionId": id, "lastSeq": 0}))
            .await?;
        readers.push(client);
    }
    let mut tasks = Vec::new();
    for mut client in std::iter::once(owner).chain(readers) {
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            let mut frames = 0u64;
            loop {
                let frame = client.recv().await?;
                if frame.get("seq").is_some() {
                    frames += 1;
                }
                if is_terminal_for(&frame, &id) {
                    if frame["state"] != "completed" {
                        bail!("run ended {}", frame["state"]);
                    }
                    return Ok(frames);
                }
            }
        }));
    }
    let mut delivered = 0;
    for task in tasks {
        delivered += task.await??;
    }
    let elapsed = started.elapsed();
    let cpu = cpu_time(pid)? - cpu_before;
    let per_session = delivered / subscribers as u64;
    Ok(RelayRun {
        frames_per_sec: per_session as f64 / elapsed.as_secs_f64(),
        cpu_us_per_frame: cpu.as_secs_f64() * 1e6 / delivered as f64,
        frames: per_session,
    })
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = parse_args()?;
    let fixture = sibling("fake-cursor-agent")?;
    let binary = sibling("switchboard")?;
    let start = |config: &str| {
        TestServer::start(
            &binary,
            TestServerOptions {
                config: config.to_owned(),
                env: vec![(
                    "SWITCHBOARD_CURSOR_BIN".into(),
                    fixture.to_string_lossy().into_owned(),
                )],
                ..Default::default()
            },
        )
    };
    let server = start(&args.config)?;
    println!("| scenario | frames | median frames/s | raw limit lines/s | ratio | server CPU µs/frame delivered |");
    println!("|---|---|---|---|---|---|");
    for &subscribers in &args.subscribers {
        let mut rates = Vec::new();
        let mut limits = Vec::new();
        let mut cpu = Vec::new();
        let mut frames = 0;
        for _ in 0..args.runs {
            limits.push(raw_limit(&fixture, args.lines)?);
            let run = relay(&server, args.lines, subscribers).await?;
            rates.push(run.frames_per_sec);
            cpu.push(run.cpu_us_per_frame);
            frames = run.frames;
        }
        let (rate, limit) = (median(rates), median(limits));
        println!(
            "| relay, 1 session, {subscribers} subscriber(s) | {frames} | {rate:.0} | {limit:.0} | {:.2} | {:.2} |",
            rate / limit,
            median(cpu)
        );
    }
    if args.no_compare {
        return Ok(());
    }
    // Durability cost: the same relay with frames persisted and not, alternating in one run.
    let unpersisted = start("persist_frames = false\n")?;
    let (mut on, mut off) = (Vec::new(), Vec::new());
    for _ in 0..args.runs {
        on.push(relay(&server, args.lines, 1).await?);
        off.push(relay(&unpersisted, args.lines, 1).await?);
    }
    let rate = |runs: &[RelayRun]| median(runs.iter().map(|r| r.frames_per_sec).collect());
    let cpu = |runs: &[RelayRun]| median(runs.iter().map(|r| r.cpu_us_per_frame).collect());
    println!(
        "| relay, persistence on | {} | {:.0} | – | on ÷ off = {:.2} | {:.2} |",
        on[0].frames,
        rate(&on),
        rate(&on) / rate(&off),
        cpu(&on)
    );
    println!(
        "| relay, persistence off | {} | {:.0} | – | – | {:.2} |",
        off[0].frames,
        rate(&off),
        cpu(&off)
    );
    Ok(())
}

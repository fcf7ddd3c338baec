//! `switchboard-bench`: the benchmark suite of the performance issue, against the release
//! binary, on loopback only.
//!
//! Scenarios (`--scenarios 1,2,3,4,5,6`, all by default):
//! 1. relay, one session, 1 and 10 subscribers, beside the **raw limit** (the same fixture
//!    writing into a pipe that a reader drains), in the same run;
//! 2. many sessions: 1,000 sessions × 2 subscribers at a fixed aggregate rate;
//! 3. latency: write-to-client delay at 1,000 and 10,000 lines/s aggregate and at the highest
//!    sustained rate;
//! 4. catch-up of 100,000 frames, from the ring and from the store;
//! 5. memory per idle session and per attached subscriber; journal bytes per frame on disk;
//! 6. durability cost: persistence on against off, alternating in one run.
//!
//! Every run is bounded (fixed line counts, paced rates, a stall timeout) and every figure is
//! a median over `--runs`. The output is Markdown; `--docs PATH` also writes it into that file
//! between the `<!-- bench:begin -->` and `<!-- bench:end -->` markers. `--smoke` runs only a
//! quick zero-loss check (the CI test `tests/smoke.rs` uses it).

mod client;
mod harness;
mod procfs;
mod report;
mod scenarios;
mod stats;

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use crate::harness::Binaries;
use crate::scenarios::Params;

struct Args {
    params: Params,
    scenarios: Vec<u8>,
    docs: Option<PathBuf>,
    smoke: Option<u64>,
    server: Option<PathBuf>,
    fixture: Option<PathBuf>,
}

const USAGE: &str = "switchboard-bench [--scenarios 1,2,3,4,5,6] [--runs R] [--lines N] \
[--subscribers 1,10] [--sessions N] [--many-rate R] [--many-secs S] [--latency-sessions N] \
[--latency-secs S] [--catch-up-frames N] [--idle-sessions N] [--config 'key = value'] \
[--docs docs/performance.md] [--smoke [LINES]] [--server PATH] [--fixture PATH]";

fn parse_args() -> Result<Args> {
    let mut args = Args {
        params: Params {
            lines: 100_000,
            runs: 3,
            subscribers: vec![1, 10],
            sessions: 1_000,
            many_rate: 10_000.0,
            many_secs: 8.0,
            latency_sessions: 10,
            latency_secs: 3.0,
            catch_up_frames: 100_000,
            idle_sessions: 500,
            config: String::new(),
        },
        scenarios: vec![1, 2, 3, 4, 5, 6],
        docs: None,
        smoke: None,
        server: None,
        fixture: None,
    };
    let mut it = std::env::args().skip(1).peekable();
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        let p = &mut args.params;
        match flag.as_str() {
            "--lines" => p.lines = value()?.parse()?,
            "--runs" => p.runs = value()?.parse::<usize>()?.max(1),
            "--subscribers" => p.subscribers = list(&value()?)?,
            "--sessions" => p.sessions = value()?.parse::<usize>()?.max(1),
            "--many-rate" => p.many_rate = value()?.parse()?,
            "--many-secs" => p.many_secs = value()?.parse()?,
            "--latency-sessions" => p.latency_sessions = value()?.parse::<usize>()?.max(1),
            "--latency-secs" => p.latency_secs = value()?.parse()?,
            "--catch-up-frames" => p.catch_up_frames = value()?.parse()?,
            "--idle-sessions" => p.idle_sessions = value()?.parse()?,
            "--config" => p.config.push_str(&(value()? + "\n")),
            "--scenarios" => args.scenarios = list(&value()?)?,
            "--docs" => args.docs = Some(value()?.into()),
            "--server" => args.server = Some(value()?.into()),
            "--fixture" => args.fixture = Some(value()?.into()),
            "--smoke" => {
                let lines = match it.peek() {
                    Some(n) if !n.starts_with("--") => it.next().expect("peeked").parse()?,
                    _ => 4_000,
                };
                args.smoke = Some(lines);
            }
            "--help" | "-h" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown flag {other}\nusage: {USAGE}"),
        }
    }
    Ok(args)
}

fn list<T: std::str::FromStr>(text: &str) -> Result<Vec<T>>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    Ok(text.split(',').map(str::parse).collect::<Result<_, _>>()?)
}

fn print(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = parse_args()?;
    let bins = Binaries::locate(args.server.clone(), args.fixture.clone())?;
    if let Some(lines) = args.smoke {
        return print(&scenarios::smoke(&bins, lines).await?);
    }
    let p = &args.params;
    let mut sections = Vec::new();
    for &scenario in &args.scenarios {
        let (title, body) = match scenario {
            1 => ("1. Relay, one session", scenarios::relay(&bins, p).await?),
            2 => (
                "2. Many sessions",
                scenarios::many_sessions(&bins, p).await?,
            ),
            3 => ("3. Latency", scenarios::latency(&bins, p).await?),
            4 => ("4. Catch-up", scenarios::catch_up(&bins, p).await?),
            5 => ("5. Memory", scenarios::memory(&bins, p).await?),
            6 => ("6. Durability cost", scenarios::durability(&bins, p).await?),
            other => bail!("there is no scenario {other}"),
        };
        let section = format!("### {title}\n\n{body}\n");
        print(&section)?;
        sections.push(section);
    }
    if let Some(path) = &args.docs {
        // The command as a reader would type it (the script adds `--docs` itself).
        let mut command = Vec::new();
        let mut given = std::env::args().skip(1);
        while let Some(arg) = given.next() {
            match arg.as_str() {
                "--docs" => {
                    given.next();
                }
                _ => command.push(arg),
            }
        }
        let generated = report::generated(&command.join(" "), &sections.concat())?;
        report::update_between_markers(path, &generated)?;
        print(&format!("updated {}\n", path.display()))?;
    }
    Ok(())
}

//! The pieces every scenario uses: the binaries, a server under test, and one relayed run.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::json;
use switchboard_testkit::client::command;
use switchboard_testkit::{TestServer, TestServerOptions};

use crate::client::{BenchClient, Delivery};

/// Server settings that let the bench, and not a protective limit, be what is measured:
/// many runs at once, and clients that send many messages.
pub const BENCH_LIMITS: &str = "max_running_sessions = 4096
max_messages_per_sec = 100000
max_message_burst = 100000
";

pub struct Binaries {
    pub server: PathBuf,
    pub fixture: PathBuf,
}

impl Binaries {
    /// `switchboard` and `fake-cursor-agent` from the given paths, or next to this binary.
    pub fn locate(server: Option<PathBuf>, fixture: Option<PathBuf>) -> Result<Self> {
        let sibling = |name: &str| -> Result<PathBuf> {
            let exe = std::env::current_exe()?;
            Ok(exe.parent().context("exe has a dir")?.join(name))
        };
        let binaries = Self {
            server: server.map_or_else(|| sibling("switchboard"), Ok)?,
            fixture: fixture.map_or_else(|| sibling("fake-cursor-agent"), Ok)?,
        };
        for path in [&binaries.server, &binaries.fixture] {
            if !path.exists() {
                bail!(
                    "{} is missing; build it with `cargo build --release -p switchboard-server -p switchboard-testkit`",
                    path.display()
                );
            }
        }
        Ok(binaries)
    }

    /// A server on 127.0.0.1 port 0 whose cursor CLI is the fixture.
    pub fn start(&self, config: &str) -> Result<TestServer> {
        TestServer::start(
            &self.server,
            TestServerOptions {
                config: format!("{BENCH_LIMITS}{config}"),
                env: vec![(
                    "SWITCHBOARD_CURSOR_BIN".into(),
                    self.fixture.to_string_lossy().into_owned(),
                )],
                ..Default::default()
            },
        )
    }

    /// Lines per second the fixture reaches writing `prompt` into a pipe that is drained.
    pub fn raw_limit(&self, lines: u64, prompt: &str) -> Result<f64> {
        let started = Instant::now();
        let mut child = Command::new(&self.fixture)
            .args(["-p", "--output-format", "stream-json", "--trust", prompt])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let mut stdout = child.stdout.take().expect("piped");
        let mut buf = vec![0u8; 64 * 1024];
        while stdout.read(&mut buf)? > 0 {}
        child.wait()?;
        Ok(lines as f64 / started.elapsed().as_secs_f64())
    }
}

/// The fixture's prompt: `lines` assistant lines of about 200 bytes, optionally paced and
/// stamped with their write time.
pub fn prompt(lines: u64, rate: Option<f64>, stamp: bool) -> String {
    let mut prompt = format!("lines={lines} bytes=200");
    if let Some(rate) = rate {
        prompt.push_str(&format!(" rate={rate}"));
    }
    if stamp {
        prompt.push_str(" stamp");
    }
    prompt
}

/// One run: the command's sender plus the extra subscribers, ready to read.
pub struct Run {
    pub session_id: String,
    pub readers: Vec<BenchClient>,
    pub started: Instant,
}

/// Connects `subscribers` clients, starts a run from the first and attaches the others with
/// `subscribe {lastSeq: 0}` (so each of them must see every frame).
pub async fn start_run(server: &TestServer, prompt: &str, subscribers: usize) -> Result<Run> {
    let mut owner = BenchClient::connect(server.addr, &server.token).await?;
    let mut others = Vec::new();
    for _ in 1..subscribers.max(1) {
        others.push(BenchClient::connect(server.addr, &server.token).await?);
    }
    let started = Instant::now();
    owner
        .send(&command("cursor", prompt, server.project_path(), json!({})))
        .await?;
    let session_id = owner.session_id().await?;
    for client in &mut others {
        client
            .send(&json!({"type": "subscribe", "sessionId": session_id, "lastSeq": 0}))
            .await?;
    }
    let mut readers = vec![owner];
    readers.extend(others);
    Ok(Run {
        session_id,
        readers,
        started,
    })
}

/// Reads every client of a run to the terminal state, concurrently. Every run must complete.
pub async fn finish_run(run: Run, measure_delay: bool) -> Result<Vec<Delivery>> {
    let tasks: Vec<_> = run
        .readers
        .into_iter()
        .map(|mut client| {
            tokio::spawn(async move { client.read_until_terminal(measure_delay).await })
        })
        .collect();
    let mut deliveries = Vec::new();
    for task in tasks {
        let delivery = task.await??;
        if delivery.terminal != "completed" {
            bail!("a run of {} ended {}", run.session_id, delivery.terminal);
        }
        deliveries.push(delivery);
    }
    Ok(deliveries)
}

/// Frames a run should have delivered but did not: missing stamped lines plus seq gaps.
pub fn lost(deliveries: &[Delivery], stamped_lines: u64) -> u64 {
    deliveries
        .iter()
        .map(|d| stamped_lines.saturating_sub(d.stamped) + d.seq_gaps)
        .sum()
}

/// Seconds from `start` to the last delivery's end.
pub fn span(start: Instant, deliveries: &[Delivery]) -> Duration {
    deliveries
        .iter()
        .filter_map(|d| d.finished)
        .max()
        .map_or(Duration::ZERO, |end| end.duration_since(start))
}

/// Total size of the store in a data dir: the database, its write-ahead log and the journal
/// segments.
pub fn store_bytes(data_dir: &Path) -> Result<u64> {
    fn size_of(path: &Path) -> Result<u64> {
        let metadata = std::fs::metadata(path)?;
        if !metadata.is_dir() {
            return Ok(metadata.len());
        }
        let mut total = 0;
        for entry in std::fs::read_dir(path)? {
            total += size_of(&entry?.path())?;
        }
        Ok(total)
    }
    let mut total = 0;
    // The database, its WAL, and the folder of journal segments.
    for entry in std::fs::read_dir(data_dir)? {
        let entry = entry?;
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with("switchboard.sqlite")
        {
            total += size_of(&entry.path())?;
        }
    }
    Ok(total)
}

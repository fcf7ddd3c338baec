//! Running one agent CLI: spawn, read, stop, sweep.
//!
//! The process gets its own process group (so one signal reaches the agent and the helpers it
//! runs in that group), no stdin unless the provider needs one, and the run's marker in its
//! environment (see [`crate::sweep`]). stdout and stderr are read line by line, each line
//! bounded; the provider's [`OutputParser`] turns lines into [`AgentOutput`]s.
//!
//! Stopping, in the order the protocol promises:
//! 1. SIGINT to the group (the agent's own interrupt: claude prints a final result, codex
//!    records `turn_aborted`);
//! 2. after the grace period, SIGKILL to the group;
//! 3. once the agent has exited (for any reason), SIGKILL to every process carrying the run's
//!    marker, wherever it is (its group id is not used after the agent is reaped: the id may
//!    have been reused by then);
//! 4. read what is left in the pipes, then report `Exit`.
//!
//! So `Exit`, and with it the run's terminal state, comes only after every process is gone.

use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use switchboard_agent_api::{AgentLine, AgentOutput, RunIo};
use switchboard_protocol::event::{AgentEvent, NoticeLevel};
use switchboard_protocol::lifecycle::AgentExit;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::lines::{LineReader, ReadLine};
use crate::sweep::{self, RUN_MARKER};

/// How long to wait for the pipes to close after the agent and its leftovers are gone. Only
/// a process that escaped the sweep (one that cleared its environment) can hold them open.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest stderr line kept to explain a bad exit.
const STDERR_TAIL_MAX: usize = 2000;
/// Read buffers of the pipes. Every run allocates them and frees them at its end; at 64 KiB
/// each, the allocator kept the freed space scattered between long-lived session objects and
/// an idle session cost about 280 KiB of RSS. 16 KiB still takes dozens of lines per `read`
/// from a busy agent; stderr carries little.
const STDOUT_BUFFER: usize = 16 * 1024;
const STDERR_BUFFER: usize = 4 * 1024;

/// What to start.
#[derive(Debug, Clone)]
pub struct ProcessSpec {
    pub program: OsString,
    pub args: Vec<OsString>,
    pub cwd: PathBuf,
    /// Added to the inherited environment.
    pub env: Vec<(OsString, OsString)>,
    /// Said when the program cannot be found, e.g. "install X or set SWITCHBOARD_X_BIN".
    pub not_found_hint: String,
}

/// What the agent's stdin is.
pub enum Stdin {
    /// `/dev/null`: the agent reads nothing (and cannot wait for input that never comes).
    Null,
    /// A pipe fed with these lines (a newline is added when missing). The pipe closes when
    /// every sender is dropped, which is how a provider tells a stream-json CLI it is done.
    Lines(mpsc::Receiver<Vec<u8>>),
}

/// A provider's reading of its CLI's output.
pub trait OutputParser: Send {
    /// One stdout line (without its newline).
    fn stdout_line(&mut self, line: &[u8], out: &mut Vec<AgentOutput>);

    /// One stderr line. Output, never a state change.
    fn stderr_line(&mut self, line: &str, out: &mut Vec<AgentOutput>) {
        out.push(AgentOutput::Line(AgentLine::text(
            AgentEvent::Notice {
                level: NoticeLevel::Warning,
                message: line.to_owned(),
            },
            line,
        )));
    }

    /// The process is gone: the provider's verdict on the run.
    fn finish(
        &mut self,
        exit_code: Option<i32>,
        signal: Option<i32>,
        stderr_tail: Option<String>,
    ) -> AgentExit;
}

/// Runs the process to its end and reports everything through `io`, ending with `Exit`.
pub async fn run_supervised(
    spec: ProcessSpec,
    stdin: Stdin,
    run_id: &str,
    io: RunIo,
    parser: &mut dyn OutputParser,
) {
    let mut command = Command::new(&spec.program);
    command
        .args(&spec.args)
        .current_dir(&spec.cwd)
        .env(RUN_MARKER, run_id)
        .stdin(match stdin {
            Stdin::Null => Stdio::null(),
            Stdin::Lines(_) => Stdio::piped(),
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        // A safety net only: the normal path kills and reaps explicitly below.
        .kill_on_drop(true);
    for name in crate::SECRET_ENV {
        command.env_remove(name);
    }
    for (key, value) in &spec.env {
        command.env(key, value);
    }
    // The operator's per-provider settings come last, so they win.
    for (key, value) in &io.env {
        command.env(key, value);
    }
    let mut child = match sweep::spawn_tracked(&mut command) {
        Ok(child) => child,
        Err(e) => {
            let program = spec.program.to_string_lossy();
            let error = if e.kind() == std::io::ErrorKind::NotFound {
                format!("{program} was not found: {}", spec.not_found_hint)
            } else {
                format!("cannot start {program}: {e}")
            };
            let _ = io
                .output
                .send(AgentOutput::Exit(AgentExit::SpawnFailed { error }))
                .await;
            return;
        }
    };
    let pid = child.id().map(|p| p as i32).unwrap_or(0);
    if let (Stdin::Lines(lines), Some(pipe)) = (stdin, child.stdin.take()) {
        tokio::spawn(feed_stdin(pipe, lines));
    }
    let mut stdout = LineReader::with_capacity(
        child.stdout.take().expect("stdout is piped"),
        STDOUT_BUFFER,
        io.limits.max_line_bytes,
    );
    let mut stderr = LineReader::with_capacity(
        child.stderr.take().expect("stderr is piped"),
        STDERR_BUFFER,
        io.limits.max_line_bytes,
    );
    let mut pipes = Pipes {
        stdout_open: true,
        stderr_open: true,
        stderr_tail: None,
        max_line: io.limits.max_line_bytes,
    };
    let mut outputs = Vec::new();
    let mut kill_at: Option<Instant> = None;
    let mut aborting = false;

    let status = loop {
        tokio::select! {
            line = stdout.next(), if pipes.stdout_open => {
                pipes.stdout(line, parser, &mut outputs);
                if !send_all(&io, &mut outputs).await && !aborting {
                    // Nobody listens any more: stop the agent rather than run it blind.
                    aborting = true;
                    sweep::signal_group(pid, libc::SIGKILL);
                }
            }
            line = stderr.next(), if pipes.stderr_open => {
                pipes.stderr(line, parser, &mut outputs);
                send_all(&io, &mut outputs).await;
            }
            status = child.wait() => break status,
            _ = io.abort.cancelled(), if !aborting => {
                aborting = true;
                sweep::signal_group(pid, libc::SIGINT);
                kill_at = Some(Instant::now() + io.limits.abort_grace);
            }
            _ = sleep_until(kill_at) => {
                kill_at = None;
                sweep::signal_group(pid, libc::SIGKILL);
            }
        }
    };
    sweep::untrack_child(pid);

    // The agent is gone; so must be everything it started. Only the marker decides: the
    // agent has been reaped, so its pid (and with it its group id) may already belong to an
    // unrelated process, and signalling the group now could hit a stranger.
    let swept = sweep::sweep_run(run_id, Some(pid)).await;
    if swept > 0 {
        tracing::debug!(run_id, swept, "killed processes the agent left behind");
    }
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while pipes.stdout_open || pipes.stderr_open {
            tokio::select! {
                line = stdout.next(), if pipes.stdout_open => pipes.stdout(line, parser, &mut outputs),
                line = stderr.next(), if pipes.stderr_open => pipes.stderr(line, parser, &mut outputs),
            }
            send_all(&io, &mut outputs).await;
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            run_id,
            "an agent's pipes stayed open after it exited; stopped reading"
        );
    }

    let (exit_code, signal) = match &status {
        Ok(status) => (status.code(), status.signal()),
        Err(_) => (None, None),
    };
    let exit = parser.finish(exit_code, signal, pipes.stderr_tail.take());
    send_all(&io, &mut outputs).await;
    let _ = io.output.send(AgentOutput::Exit(exit)).await;
}

struct Pipes {
    stdout_open: bool,
    stderr_open: bool,
    stderr_tail: Option<String>,
    max_line: usize,
}

impl Pipes {
    fn stdout(
        &mut self,
        line: std::io::Result<ReadLine>,
        parser: &mut dyn OutputParser,
        out: &mut Vec<AgentOutput>,
    ) {
        match line {
            Ok(ReadLine::Line(line)) => parser.stdout_line(&line, out),
            Ok(ReadLine::TooLong { bytes }) => out.push(too_long(bytes, self.max_line)),
            Ok(ReadLine::Eof) | Err(_) => self.stdout_open = false,
        }
    }

    fn stderr(
        &mut self,
        line: std::io::Result<ReadLine>,
        parser: &mut dyn OutputParser,
        out: &mut Vec<AgentOutput>,
    ) {
        match line {
            Ok(ReadLine::Line(line)) => {
                let text = String::from_utf8_lossy(&line);
                let text = text.trim_end();
                if text.is_empty() {
                    return;
                }
                self.stderr_tail = Some(text.chars().take(STDERR_TAIL_MAX).collect());
                parser.stderr_line(text, out);
            }
            Ok(ReadLine::TooLong { bytes }) => out.push(too_long(bytes, self.max_line)),
            Ok(ReadLine::Eof) | Err(_) => self.stderr_open = false,
        }
    }
}

fn too_long(bytes: usize, max: usize) -> AgentOutput {
    let message = format!("skipped an agent output line of {bytes} bytes (the limit is {max})");
    AgentOutput::Line(AgentLine::text(
        AgentEvent::Notice {
            level: NoticeLevel::Error,
            message: message.clone(),
        },
        &message,
    ))
}

/// Sends queued outputs in order. Waiting here is the backpressure that keeps memory bounded.
async fn send_all(io: &RunIo, outputs: &mut Vec<AgentOutput>) -> bool {
    for output in outputs.drain(..) {
        if io.output.send(output).await.is_err() {
            return false;
        }
    }
    true
}

/// Writes lines to the agent's stdin until the provider drops its senders (then the pipe
/// closes) or the agent stops reading.
async fn feed_stdin(mut pipe: tokio::process::ChildStdin, mut lines: mpsc::Receiver<Vec<u8>>) {
    while let Some(mut line) = lines.recv().await {
        if line.last() != Some(&b'\n') {
            line.push(b'\n');
        }
        if pipe.write_all(&line).await.is_err() || pipe.flush().await.is_err() {
            return;
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

//! Bash: one command in the project directory, in a process group of its own, with a timeout
//! and bounded output.
//!
//! The command carries the run's marker (`SWITCHBOARD_RUN_ID`), like every process of a CLI
//! agent, so [`crate::sweep`] finds whatever it started, wherever it went: on timeout and on
//! abort the group is killed and the run is swept before the tool returns. Background
//! processes a command leaves behind on a normal exit live until the run ends, when the agent
//! loop sweeps the run.
//!
//! Switchboard's own secrets (its token, the API key of the model) are removed from the
//! command's environment: the model could otherwise print them.

use std::os::fd::{FromRawFd, OwnedFd};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

use super::{arg_str, arg_u64};
use crate::sweep::{self, RUN_MARKER};

/// Used when the model names no timeout (the seed's 120 s).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
/// The longest timeout the model may ask for.
const MAX_TIMEOUT: Duration = Duration::from_secs(600);
/// The output kept per command (stdout and stderr together); the rest is counted.
const OUTPUT_MAX_BYTES: usize = 30 * 1024;
/// How long to wait for the pipes after the shell exited (a background child may hold them).
const DRAIN: Duration = Duration::from_millis(500);

/// What a command runs with.
pub struct BashContext<'a> {
    pub cwd: &'a std::path::Path,
    pub run_id: &'a str,
    /// The operator's `[agents.<provider>.env]`.
    pub env: &'a [(String, String)],
    /// Names removed from the inherited environment.
    pub secret_env: &'a [&'a str],
    pub abort: &'a CancellationToken,
}

/// How a command ended.
#[derive(Debug, PartialEq)]
pub enum BashOutcome {
    /// The text for the model and whether it is an error (non-zero exit, timeout).
    Done {
        output: String,
        is_error: bool,
    },
    Aborted,
}

pub async fn run(ctx: &BashContext<'_>, args: &Value) -> BashOutcome {
    let Some(command_text) = arg_str(args, &["command"]) else {
        return error("command is required");
    };
    // Claude Code's `timeout` is in milliseconds.
    let timeout = arg_u64(args, "timeout")
        .map(Duration::from_millis)
        .unwrap_or(DEFAULT_TIMEOUT)
        .clamp(Duration::from_millis(100), MAX_TIMEOUT);
    let mut command = Command::new("bash");
    // The model's command is the script itself, one argv entry: nothing is interpolated.
    command
        .arg("-c")
        .arg(command_text)
        .current_dir(ctx.cwd)
        .env(RUN_MARKER, ctx.run_id)
        .stdin(Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    for name in crate::SECRET_ENV.iter().chain(ctx.secret_env) {
        command.env_remove(name);
    }
    for (key, value) in ctx.env {
        command.env(key, value);
    }
    // stdout and stderr share one pipe, so the model reads them interleaved as they happened.
    let pipe = output_pipe().and_then(|(read, write)| {
        command
            .stdout(Stdio::from(write.try_clone()?))
            .stderr(Stdio::from(write));
        tokio::net::unix::pipe::Receiver::from_owned_fd(read)
    });
    let pipe = match pipe {
        Ok(pipe) => pipe,
        Err(e) => return error(&format!("cannot create the output pipe: {e}")),
    };
    let spawned = sweep::spawn_tracked(&mut command);
    // The command holds our copies of the pipe's write end: without dropping it, the pipe
    // would never reach its end.
    drop(command);
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => return error(&format!("cannot start bash: {e}")),
    };
    let pid = child.id().map(|p| p as i32).unwrap_or(0);
    let output = Arc::new(Mutex::new(Captured::default()));
    let readers = [tokio::spawn(capture(Some(pipe), Arc::clone(&output)))];
    enum End {
        Exited(Option<i32>),
        TimedOut,
        Aborted,
    }
    let end = tokio::select! {
        status = child.wait() => End::Exited(status.ok().and_then(|s| s.code())),
        _ = tokio::time::sleep(timeout) => End::TimedOut,
        _ = ctx.abort.cancelled() => End::Aborted,
    };
    if !matches!(end, End::Exited(_)) {
        // The shell has not been reaped, so its pid (the group id) cannot have been reused.
        sweep::signal_group(pid, libc::SIGKILL);
        let _ = child.wait().await;
    }
    sweep::untrack_child(pid);
    if !matches!(end, End::Exited(_)) {
        sweep::sweep_run(ctx.run_id, None).await;
    }
    for mut reader in readers {
        if tokio::time::timeout(DRAIN, &mut reader).await.is_err() {
            // A background process still holds the pipe; stop reading it.
            reader.abort();
        }
    }
    let captured = std::mem::take(&mut *output.lock());
    match end {
        End::Aborted => BashOutcome::Aborted,
        End::TimedOut => BashOutcome::Done {
            output: format!(
                "{}\n(the command timed out after {} s and was killed)",
                captured.text(),
                timeout.as_secs_f32()
            ),
            is_error: true,
        },
        End::Exited(code) => {
            let mut text = captured.text();
            let is_error = code != Some(0);
            if is_error {
                let status = code.map_or("a signal".to_owned(), |c| format!("status {c}"));
                text.push_str(&format!("\n(exited with {status})"));
            }
            if text.is_empty() {
                text = "(no output)".into();
            }
            BashOutcome::Done {
                output: text,
                is_error,
            }
        }
    }
}

/// A pipe whose ends are closed on exec (the child gets its own copies as stdout and stderr).
fn output_pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two new descriptors into the array it is given.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just created, and nothing else owns them.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn error(message: &str) -> BashOutcome {
    BashOutcome::Done {
        output: message.to_owned(),
        is_error: true,
    }
}

#[derive(Default)]
struct Captured {
    bytes: Vec<u8>,
    dropped: usize,
}

impl Captured {
    fn text(&self) -> String {
        let mut text = String::from_utf8_lossy(&self.bytes).trim_end().to_owned();
        if self.dropped > 0 {
            text.push_str(&format!("\n… ({} more bytes not shown)", self.dropped));
        }
        text
    }
}

/// Reads a pipe to its end, keeping the first [`OUTPUT_MAX_BYTES`] of all output.
async fn capture(pipe: Option<impl AsyncRead + Unpin>, into: Arc<Mutex<Captured>>) {
    let Some(mut pipe) = pipe else {
        return;
    };
    let mut buf = [0u8; 8192];
    loop {
        match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                let mut captured = into.lock();
                let room = OUTPUT_MAX_BYTES.saturating_sub(captured.bytes.len());
                let kept = n.min(room);
                captured.bytes.extend_from_slice(&buf[..kept]);
                captured.dropped += n - kept;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn run_id() -> String {
        format!("bash-test-{}", uuid_like())
    }

    fn uuid_like() -> u128 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    }

    async fn bash(args: Value, abort: &CancellationToken, run_id: &str) -> BashOutcome {
        let dir = std::env::temp_dir();
        let env = [("SB_TEST_VAR".to_owned(), "from-config".to_owned())];
        let ctx = BashContext {
            cwd: &dir,
            run_id,
            env: &env,
            // A variable this process surely has, so the test fails if it reaches the shell.
            secret_env: &["HOME"],
            abort,
        };
        run(&ctx, &args).await
    }

    #[tokio::test]
    async fn output_status_and_env() {
        let abort = CancellationToken::new();
        let id = run_id();
        let ok = bash(
            json!({"command": "echo hi; echo err >&2; echo $SB_TEST_VAR; echo \"[$HOME]\""}),
            &abort,
            &id,
        )
        .await;
        assert_eq!(
            ok,
            BashOutcome::Done {
                output: "hi\nerr\nfrom-config\n[]".into(),
                is_error: false
            }
        );
        let failed = bash(json!({"command": "exit 3"}), &abort, &id).await;
        assert_eq!(
            failed,
            BashOutcome::Done {
                output: "\n(exited with status 3)".into(),
                is_error: true
            }
        );
        assert!(matches!(
            bash(json!({}), &abort, &id).await,
            BashOutcome::Done { is_error: true, .. }
        ));
    }

    #[tokio::test]
    async fn output_is_bounded() {
        let abort = CancellationToken::new();
        let outcome = bash(
            json!({"command": "head -c 100000 /dev/zero | tr '\\0' a"}),
            &abort,
            &run_id(),
        )
        .await;
        let BashOutcome::Done { output, is_error } = outcome else {
            panic!("not done")
        };
        assert!(!is_error);
        assert!(output.len() < OUTPUT_MAX_BYTES + 100);
        assert!(output.ends_with("more bytes not shown)"));
    }

    #[tokio::test]
    async fn timeout_and_abort_kill_the_whole_group() {
        let abort = CancellationToken::new();
        let id = run_id();
        let timed_out = bash(
            json!({"command": "sleep 30 & sleep 30", "timeout": 200}),
            &abort,
            &id,
        )
        .await;
        assert!(
            matches!(timed_out, BashOutcome::Done { is_error: true, ref output } if output.contains("timed out"))
        );
        assert!(sweep::marked_processes(&id).is_empty());

        let id = run_id();
        let stopper = abort.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            stopper.cancel();
        });
        // A grandchild in a session of its own escapes the group; the sweep still finds it.
        let aborted = bash(
            json!({"command": "setsid sleep 30 & sleep 30"}),
            &abort,
            &id,
        )
        .await;
        assert_eq!(aborted, BashOutcome::Aborted);
        assert!(sweep::marked_processes(&id).is_empty());
    }
}

//! Claude Code: `claude -p --output-format stream-json --input-format stream-json`.
//!
//! The binary comes from `SWITCHBOARD_CLAUDE_BIN`, else `claude` on PATH. The turn is written
//! to claude's stdin as stream-json (see [`control`]), never put on argv, so a prompt cannot
//! be read as a flag. `--permission-prompt-tool stdio` makes claude ask us before a tool that
//! needs approval; the question goes to the client as a [`PermissionAsk`] and the answer back
//! on stdin.
//!
//! Sessions: a new session gets Switchboard's own id (`--session-id`), so claude's native id
//! equals ours; later runs resume the native id (`--resume`).
//!
//! [`PermissionAsk`]: switchboard_agent_api::PermissionAsk

mod control;
mod parse;

use std::ffi::OsString;
use std::path::PathBuf;

use switchboard_agent_api::{Agent, BoxFuture, RunIo, RunSpec};
use switchboard_protocol::{PermissionMode, Provider};
use tokio::sync::mpsc;

pub use parse::ClaudeParser;

use crate::supervisor::{run_supervised, ProcessSpec, Stdin};

/// Lines queued for claude's stdin: the two opening lines and control responses.
const STDIN_QUEUE: usize = 64;

pub struct ClaudeAgent {
    binary: PathBuf,
}

impl ClaudeAgent {
    pub fn new(binary: PathBuf) -> Self {
        Self { binary }
    }

    pub fn from_env() -> Self {
        Self::new(crate::json_line::binary_from_env(
            "SWITCHBOARD_CLAUDE_BIN",
            "claude",
        ))
    }

    /// The argv after the program name. Every value is its own entry; ids and models were
    /// checked at the edge (they cannot start with `-`).
    pub fn args(spec: &RunSpec) -> Vec<OsString> {
        let mut args: Vec<OsString> = [
            "-p",
            "--output-format",
            "stream-json",
            "--verbose",
            "--include-partial-messages",
            "--input-format",
            "stream-json",
            "--permission-prompt-tool",
            "stdio",
        ]
        .into_iter()
        .map(OsString::from)
        .collect();
        if let Some(model) = &spec.model {
            args.push("--model".into());
            args.push(model.into());
        }
        // `default` is claude's own default: no flag, and every approval comes to us.
        let mode = spec.effective_permission_mode();
        if mode != PermissionMode::Default {
            args.push("--permission-mode".into());
            args.push(mode.as_str().into());
        }
        match &spec.resume {
            Some(native) => {
                args.push("--resume".into());
                args.push(native.into());
            }
            None => {
                args.push("--session-id".into());
                args.push(spec.session_id.to_string().into());
            }
        }
        args
    }

    /// Added to the inherited environment. As root, claude refuses bypass mode unless it
    /// believes it runs in a sandbox.
    pub fn env(spec: &RunSpec, is_root: bool) -> Vec<(OsString, OsString)> {
        if is_root && spec.effective_permission_mode() == PermissionMode::BypassPermissions {
            vec![("IS_SANDBOX".into(), "1".into())]
        } else {
            Vec::new()
        }
    }
}

/// The turn's text. The legacy `cursor-resume` carries no prompt; claude needs one.
fn prompt(spec: &RunSpec) -> String {
    spec.turn_text()
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

impl Agent for ClaudeAgent {
    fn provider(&self) -> Provider {
        Provider::Claude
    }

    /// A new session is started with `--session-id <our id>`, so claude's id is ours.
    fn chosen_native_id(&self, spec: &RunSpec) -> Option<String> {
        spec.resume.is_none().then(|| spec.session_id.to_string())
    }

    fn run(&self, spec: RunSpec, io: RunIo) -> BoxFuture<()> {
        let process = ProcessSpec {
            program: self.binary.clone().into_os_string(),
            args: Self::args(&spec),
            cwd: spec.cwd.clone(),
            env: Self::env(&spec, is_root()),
            not_found_hint: "install Claude Code (npm package @anthropic-ai/claude-code), or set \
                             SWITCHBOARD_CLAUDE_BIN to its path"
                .into(),
        };
        Box::pin(async move {
            let (stdin, lines) = mpsc::channel(STDIN_QUEUE);
            // Queued now, written as soon as claude runs. The receiver is alive, so these
            // cannot fail.
            let _ = stdin.send(control::initialize_line()).await;
            let _ = stdin.send(control::user_line(&prompt(&spec))).await;
            // The parser holds the only sender and drops it after the `result` line.
            let mut parser = ClaudeParser::new(stdin, spec.model.clone());
            run_supervised(process, Stdin::Lines(lines), &spec.run_id, io, &mut parser).await;
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_protocol::SessionId;

    fn spec() -> RunSpec {
        RunSpec {
            session_id: SessionId::parse("7d0c7a40-4b7e-4c39-9a43-2a4f3a9d1e01").unwrap(),
            run_id: format!("test-run-{}", SessionId::new_v4()), // unique: a run sweeps its id's processes
            prompt: "hello".into(),
            cwd: "/tmp".into(),
            model: Some("claude-sonnet-4-5".into()),
            permission_mode: None,
            resume: None,
            options: Default::default(),
            continue_only: false,
            attachments: Vec::new(),
        }
    }

    fn strings(args: Vec<OsString>) -> Vec<String> {
        args.into_iter().map(|a| a.into_string().unwrap()).collect()
    }

    const BASE: [&str; 9] = [
        "-p",
        "--output-format",
        "stream-json",
        "--verbose",
        "--include-partial-messages",
        "--input-format",
        "stream-json",
        "--permission-prompt-tool",
        "stdio",
    ];

    #[test]
    fn new_session_uses_our_id() {
        let mut expected: Vec<&str> = BASE.to_vec();
        expected.extend([
            "--model",
            "claude-sonnet-4-5",
            "--session-id",
            "7d0c7a40-4b7e-4c39-9a43-2a4f3a9d1e01",
        ]);
        assert_eq!(strings(ClaudeAgent::args(&spec())), expected);
    }

    #[test]
    fn resume_uses_the_native_id() {
        let mut s = spec();
        s.model = None;
        s.resume = Some("11111111-2222-4333-8444-555555555555".into());
        let mut expected: Vec<&str> = BASE.to_vec();
        expected.extend(["--resume", "11111111-2222-4333-8444-555555555555"]);
        assert_eq!(strings(ClaudeAgent::args(&s)), expected);
    }

    #[test]
    fn permission_modes() {
        let mode_flag = |mode: Option<PermissionMode>| {
            let mut s = spec();
            s.permission_mode = mode;
            let args = strings(ClaudeAgent::args(&s));
            let at = args.iter().position(|a| a == "--permission-mode");
            at.map(|i| args[i + 1].clone())
        };
        assert_eq!(mode_flag(None), None);
        assert_eq!(mode_flag(Some(PermissionMode::Default)), None);
        assert_eq!(
            mode_flag(Some(PermissionMode::AcceptEdits)).as_deref(),
            Some("acceptEdits")
        );
        assert_eq!(
            mode_flag(Some(PermissionMode::Plan)).as_deref(),
            Some("plan")
        );
        assert_eq!(
            mode_flag(Some(PermissionMode::BypassPermissions)).as_deref(),
            Some("bypassPermissions")
        );
    }

    #[test]
    fn the_prompt_never_reaches_argv() {
        let mut s = spec();
        s.prompt = "--help".into();
        assert!(!strings(ClaudeAgent::args(&s)).contains(&"--help".to_string()));
    }

    #[test]
    fn is_sandbox_only_for_bypass_as_root() {
        let mut s = spec();
        s.permission_mode = Some(PermissionMode::BypassPermissions);
        assert_eq!(
            ClaudeAgent::env(&s, true),
            vec![(OsString::from("IS_SANDBOX"), OsString::from("1"))]
        );
        assert!(ClaudeAgent::env(&s, false).is_empty());
        s.permission_mode = Some(PermissionMode::AcceptEdits);
        assert!(ClaudeAgent::env(&s, true).is_empty());
    }

    #[test]
    fn seed_skip_permissions_means_bypass() {
        let mut s = spec();
        s.options.insert(
            "toolsSettings".into(),
            serde_json::json!({"skipPermissions": true}),
        );
        assert!(strings(ClaudeAgent::args(&s)).contains(&"bypassPermissions".to_string()));
        assert_eq!(ClaudeAgent::env(&s, true).len(), 1);
        s.permission_mode = Some(PermissionMode::Plan);
        let args = strings(ClaudeAgent::args(&s));
        assert!(args.windows(2).any(|w| w == ["--permission-mode", "plan"]));
    }

    #[test]
    fn continue_only_gets_a_prompt() {
        let mut s = spec();
        s.continue_only = true;
        s.prompt = String::new();
        assert_eq!(prompt(&s), "Continue.");
    }

    #[test]
    fn from_env_defaults_to_claude() {
        // Only the fallback is checked: tests must not change the process environment.
        if std::env::var_os("SWITCHBOARD_CLAUDE_BIN").is_none() {
            assert_eq!(ClaudeAgent::from_env().binary, PathBuf::from("claude"));
        }
        let agent = ClaudeAgent::new("/opt/claude".into());
        assert_eq!(agent.provider(), Provider::Claude);
        assert_eq!(agent.default_model(), None);
    }
}

//! OpenAI's Codex CLI: `codex exec --json`.
//!
//! The binary comes from `SWITCHBOARD_CODEX_BIN`, else `codex` on PATH. One run is one
//! `codex exec` process; a later turn resumes the thread with `codex exec … resume <thread
//! id>`. Exec-level options go before `resume` (codex honours them there, including `-s`,
//! which the `resume` subcommand itself does not take).
//!
//! Every client value is its own argv entry: the model is attached with `=` and the resume
//! id and the prompt come after `--`, so none of them can be read as a flag. stdin is
//! `/dev/null` because codex appends whatever stdin carries to the prompt.
//!
//! `codex exec` cannot ask for approval, so every permission mode is a sandbox: `default`
//! and `acceptEdits` → `workspace-write`, `plan` → `read-only`, `bypassPermissions` → no
//! sandbox. Approvals are always `never`, so a user's `config.toml` cannot make codex wait
//! for an answer nobody can give (or let the model ask to leave the sandbox).

mod parse;

use std::ffi::OsString;
use std::path::PathBuf;

use serde_json::Value;
use switchboard_agent_api::{Agent, BoxFuture, RunIo, RunSpec};
use switchboard_protocol::{PermissionMode, Provider};

pub use parse::CodexParser;

use crate::supervisor::{run_supervised, ProcessSpec, Stdin};

/// The values codex accepts for `model_reasoning_effort` (the seed's `modelReasoningEffort`).
const REASONING_EFFORTS: &[&str] = &["none", "minimal", "low", "medium", "high", "xhigh"];

pub struct CodexAgent {
    binary: PathBuf,
}

impl CodexAgent {
    pub fn new(binary: PathBuf) -> Self {
        Self { binary }
    }

    pub fn from_env() -> Self {
        Self::new(crate::json_line::binary_from_env(
            "SWITCHBOARD_CODEX_BIN",
            "codex",
        ))
    }

    /// The argv after the program name.
    pub fn args(spec: &RunSpec) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec![
            "exec".into(),
            "--json".into(),
            "--skip-git-repo-check".into(),
            // Quiet and local: no update check, no plugin sync with github.com.
            "-c".into(),
            "check_for_update_on_startup=false".into(),
            "--disable".into(),
            "plugins".into(),
            "--disable".into(),
            "remote_plugin".into(),
        ];
        if let Some(model) = spec.model.as_deref().filter(|m| !m.is_empty()) {
            args.push(format!("--model={model}").into());
        }
        // Attached images go as codex's own image inputs, not as paths in the prompt.
        for image in &spec.attachments {
            args.push(format!("--image={}", image.display()).into());
        }
        if let Some(effort) = reasoning_effort(spec) {
            args.push("-c".into());
            args.push(format!("model_reasoning_effort=\"{effort}\"").into());
        }
        match spec.permission_mode.unwrap_or_default() {
            PermissionMode::BypassPermissions => {
                args.push("--dangerously-bypass-approvals-and-sandbox".into());
            }
            mode => {
                let sandbox = if mode == PermissionMode::Plan {
                    "read-only"
                } else {
                    "workspace-write"
                };
                args.push("-s".into());
                args.push(sandbox.into());
                args.push("-c".into());
                args.push("approval_policy=\"never\"".into());
            }
        }
        if let Some(thread) = &spec.resume {
            args.push("resume".into());
            args.push("--".into());
            args.push(thread.into());
        } else {
            args.push("--".into());
        }
        args.push(prompt(spec).into());
        args
    }
}

/// The legacy `cursor-resume` carries no prompt; codex needs one to run a turn.
fn prompt(spec: &RunSpec) -> &str {
    spec.prompt_or_continue()
}

/// `options.modelReasoningEffort`, when it is one codex knows (`check` refuses the others).
fn reasoning_effort(spec: &RunSpec) -> Option<&str> {
    spec.options
        .get("modelReasoningEffort")
        .and_then(Value::as_str)
        .filter(|e| REASONING_EFFORTS.contains(e))
}

/// A codex thread id as `thread.started` reports it: a UUID (8-4-4-4-12 hex digits).
fn is_thread_id(id: &str) -> bool {
    let groups: Vec<&str> = id.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| g.len() == len && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

impl Agent for CodexAgent {
    fn provider(&self) -> Provider {
        Provider::Codex
    }

    /// None: codex picks its own default (from the user's config or its built-in one).
    fn default_model(&self) -> Option<String> {
        None
    }

    fn check(&self, spec: &RunSpec) -> Result<(), String> {
        if let Some(thread) = &spec.resume {
            // codex treats anything else as a thread *name*, and silently starts a new thread
            // when no thread has that name.
            if !is_thread_id(thread) {
                return Err(format!(
                    "cannot resume codex session {thread:?}: a codex thread id is a UUID"
                ));
            }
        }
        match spec.options.get("modelReasoningEffort") {
            None | Some(Value::Null) => Ok(()),
            Some(Value::String(e)) if REASONING_EFFORTS.contains(&e.as_str()) => Ok(()),
            Some(other) => Err(format!(
                "modelReasoningEffort {other} is not one of {}",
                REASONING_EFFORTS.join(", ")
            )),
        }
    }

    fn run(&self, spec: RunSpec, io: RunIo) -> BoxFuture<()> {
        let process = ProcessSpec {
            program: self.binary.clone().into_os_string(),
            args: Self::args(&spec),
            cwd: spec.cwd.clone(),
            env: Vec::new(),
            not_found_hint: "install the Codex CLI (npm package @openai/codex), or set \
                             SWITCHBOARD_CODEX_BIN to its path"
                .into(),
        };
        Box::pin(async move {
            let mut parser = CodexParser::default();
            run_supervised(process, Stdin::Null, &spec.run_id, io, &mut parser).await;
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_protocol::SessionId;

    const THREAD: &str = "01a21397-a820-7bb3-a349-7756076a360f";

    fn spec() -> RunSpec {
        RunSpec {
            session_id: SessionId::new_v4(),
            run_id: format!("test-run-{}", SessionId::new_v4()), // unique: a run sweeps its id's processes
            prompt: "hello".into(),
            cwd: "/tmp".into(),
            model: Some("gpt-5.5".into()),
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

    const COMMON: [&str; 9] = [
        "exec",
        "--json",
        "--skip-git-repo-check",
        "-c",
        "check_for_update_on_startup=false",
        "--disable",
        "plugins",
        "--disable",
        "remote_plugin",
    ];

    fn expected(rest: &[&str]) -> Vec<String> {
        COMMON.iter().chain(rest).map(|s| s.to_string()).collect()
    }

    #[test]
    fn new_session_command_line() {
        assert_eq!(
            strings(CodexAgent::args(&spec())),
            expected(&[
                "--model=gpt-5.5",
                "-s",
                "workspace-write",
                "-c",
                "approval_policy=\"never\"",
                "--",
                "hello"
            ])
        );
    }

    #[test]
    fn resume_puts_exec_options_before_the_subcommand() {
        let mut s = spec();
        s.resume = Some(THREAD.into());
        s.model = None;
        s.permission_mode = Some(PermissionMode::Plan);
        assert_eq!(
            strings(CodexAgent::args(&s)),
            expected(&[
                "-s",
                "read-only",
                "-c",
                "approval_policy=\"never\"",
                "resume",
                "--",
                THREAD,
                "hello"
            ])
        );
    }

    #[test]
    fn permission_modes() {
        let tail = |mode| {
            let mut s = spec();
            s.model = None;
            s.permission_mode = mode;
            strings(CodexAgent::args(&s))[COMMON.len()..].to_vec()
        };
        let sandboxed = |sandbox: &str| {
            vec![
                "-s".to_string(),
                sandbox.into(),
                "-c".into(),
                "approval_policy=\"never\"".into(),
                "--".into(),
                "hello".into(),
            ]
        };
        assert_eq!(tail(None), sandboxed("workspace-write"));
        assert_eq!(
            tail(Some(PermissionMode::Default)),
            sandboxed("workspace-write")
        );
        assert_eq!(
            tail(Some(PermissionMode::AcceptEdits)),
            sandboxed("workspace-write")
        );
        assert_eq!(tail(Some(PermissionMode::Plan)), sandboxed("read-only"));
        assert_eq!(
            tail(Some(PermissionMode::BypassPermissions)),
            ["--dangerously-bypass-approvals-and-sandbox", "--", "hello"]
        );
    }

    #[test]
    fn client_values_cannot_become_flags() {
        let mut s = spec();
        s.prompt = "--help".into();
        s.model = Some("-x".into());
        let args = strings(CodexAgent::args(&s));
        assert!(args.contains(&"--model=-x".to_string()));
        assert_eq!(&args[args.len() - 2..], ["--", "--help"]);
    }

    #[test]
    fn continue_only_sends_a_prompt() {
        let mut s = spec();
        s.prompt = String::new();
        s.continue_only = true;
        s.resume = Some(THREAD.into());
        assert_eq!(strings(CodexAgent::args(&s)).last().unwrap(), "Continue.");
    }

    #[test]
    fn reasoning_effort_is_checked_and_passed() {
        let agent = CodexAgent::new("codex".into());
        let mut s = spec();
        assert_eq!(agent.check(&s), Ok(()));
        s.options
            .insert("modelReasoningEffort".into(), Value::from("high"));
        assert_eq!(agent.check(&s), Ok(()));
        let args = strings(CodexAgent::args(&s));
        assert!(args
            .windows(2)
            .any(|w| w == ["-c", "model_reasoning_effort=\"high\""]));
        s.options.insert(
            "modelReasoningEffort".into(),
            Value::from("high\"\nsandbox_mode=\"danger-full-access"),
        );
        assert!(agent.check(&s).is_err());
        assert!(!strings(CodexAgent::args(&s))
            .iter()
            .any(|a| a.contains("reasoning")));
    }

    #[test]
    fn resume_needs_a_thread_id() {
        let agent = CodexAgent::new("codex".into());
        let mut s = spec();
        s.resume = Some(THREAD.into());
        assert_eq!(agent.check(&s), Ok(()));
        for bad in [
            "--last",
            "my-thread",
            "",
            "01a21397-a820-7bb3-a349-7756076a360",
        ] {
            s.resume = Some(bad.into());
            assert!(agent.check(&s).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn binary_and_defaults() {
        let agent = CodexAgent::new("/opt/codex".into());
        assert_eq!(agent.provider(), Provider::Codex);
        assert_eq!(agent.default_model(), None);
        for mode in [
            PermissionMode::Default,
            PermissionMode::AcceptEdits,
            PermissionMode::Plan,
            PermissionMode::BypassPermissions,
        ] {
            let mut s = spec();
            s.permission_mode = Some(mode);
            assert_eq!(agent.check(&s), Ok(()));
        }
    }
}

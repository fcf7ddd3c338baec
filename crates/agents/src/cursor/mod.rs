//! Cursor's agent CLI: `cursor-agent -p --output-format stream-json`.
//!
//! The binary comes from `SWITCHBOARD_CURSOR_BIN`, else `cursor-agent` on PATH. The prompt is
//! a separate argv entry (never a shell string). Permission modes map onto the CLI's only
//! controls: `-f` (run commands without asking) and `--mode plan`; without `-f`, headless
//! cursor applies file edits but refuses shell commands, which is what `default` and
//! `acceptEdits` mean here.

mod parse;

use std::ffi::OsString;
use std::path::PathBuf;

use switchboard_agent_api::{Agent, BoxFuture, RunIo, RunSpec};
use switchboard_protocol::{PermissionMode, Provider};

pub use parse::CursorParser;

use crate::argv::prompt_arg;
use crate::supervisor::{run_supervised, ProcessSpec, Stdin};

pub struct CursorAgent {
    binary: PathBuf,
}

impl CursorAgent {
    pub fn new(binary: PathBuf) -> Self {
        Self { binary }
    }

    pub fn from_env() -> Self {
        Self::new(crate::json_line::binary_from_env(
            "SWITCHBOARD_CURSOR_BIN",
            "cursor-agent",
        ))
    }

    /// The argv after the program name.
    pub fn args(spec: &RunSpec) -> Vec<OsString> {
        let mut args: Vec<OsString> = Vec::new();
        if let Some(resume) = &spec.resume {
            // `--resume` takes an optional value, so it must be attached with `=`.
            args.push(format!("--resume={resume}").into());
        }
        args.push("-p".into());
        args.push("--output-format".into());
        args.push("stream-json".into());
        args.push("--trust".into());
        if spec.resume.is_none() {
            if let Some(model) = &spec.model {
                args.push("--model".into());
                args.push(model.into());
            }
        }
        // The seed honoured `skipPermissions` as `-f`.
        match spec.effective_permission_mode() {
            PermissionMode::BypassPermissions => args.push("-f".into()),
            PermissionMode::Plan => {
                args.push("--mode".into());
                args.push("plan".into());
            }
            PermissionMode::Default | PermissionMode::AcceptEdits => {}
        }
        args.push(prompt_arg(spec).into());
        args
    }
}

impl Agent for CursorAgent {
    fn provider(&self) -> Provider {
        Provider::Cursor
    }

    fn run(&self, spec: RunSpec, io: RunIo) -> BoxFuture<()> {
        let process = ProcessSpec {
            program: self.binary.clone().into_os_string(),
            args: Self::args(&spec),
            cwd: spec.cwd.clone(),
            env: Vec::new(),
            not_found_hint: "install Cursor's agent CLI, or set SWITCHBOARD_CURSOR_BIN to its path"
                .into(),
        };
        Box::pin(async move {
            let mut parser = CursorParser::default();
            run_supervised(process, Stdin::Null, &spec.run_id, io, &mut parser).await;
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_protocol::SessionId;

    fn spec() -> RunSpec {
        RunSpec {
            session_id: SessionId::new_v4(),
            run_id: format!("test-run-{}", SessionId::new_v4()), // unique: a run sweeps its id's processes
            prompt: "hello".into(),
            cwd: "/tmp".into(),
            model: Some("gpt-5".into()),
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

    #[test]
    fn new_session_command_line() {
        assert_eq!(
            strings(CursorAgent::args(&spec())),
            [
                "-p",
                "--output-format",
                "stream-json",
                "--trust",
                "--model",
                "gpt-5",
                "hello"
            ]
        );
    }

    #[test]
    fn resume_drops_model_and_attaches_the_id() {
        let mut s = spec();
        s.resume = Some("abc".into());
        s.permission_mode = Some(PermissionMode::BypassPermissions);
        assert_eq!(
            strings(CursorAgent::args(&s)),
            [
                "--resume=abc",
                "-p",
                "--output-format",
                "stream-json",
                "--trust",
                "-f",
                "hello"
            ]
        );
    }

    #[test]
    fn prompt_cannot_become_a_flag() {
        let mut s = spec();
        s.prompt = "--help".into();
        assert_eq!(strings(CursorAgent::args(&s)).last().unwrap(), " --help");
    }

    #[test]
    fn seed_skip_permissions_means_force() {
        let mut s = spec();
        s.options.insert(
            "toolsSettings".into(),
            serde_json::json!({"skipPermissions": true}),
        );
        assert!(strings(CursorAgent::args(&s)).contains(&"-f".to_string()));
        s.permission_mode = Some(PermissionMode::Plan);
        let args = strings(CursorAgent::args(&s));
        assert!(!args.contains(&"-f".to_string()));
        assert!(args.windows(2).any(|w| w == ["--mode", "plan"]));
    }
}

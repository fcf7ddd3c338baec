//! Google's Gemini CLI: `gemini --prompt=<prompt> -o stream-json`.
//!
//! The binary comes from `SWITCHBOARD_GEMINI_BIN`, else `gemini` on PATH. Every client value is
//! attached to its flag with `=` (yargs then takes it whole, even when it starts with `-`),
//! and stdin is `/dev/null` (gemini appends stdin to the prompt).
//!
//! - Sessions: a new session passes `--session-id=<Switchboard's id>`, so gemini's id is ours;
//!   a later run passes `--resume=<native id>`. See [`session`] for the two cases where
//!   gemini refuses those and the run starts over.
//! - Permission modes map onto `--approval-mode`: headless gemini cannot ask, so in `default`
//!   it simply does not offer the tools that would need approval (shell, write, edit).
//! - `--skip-trust`: headless gemini refuses an untrusted folder (exit 55), and the working
//!   directory is always inside a project the operator registered.
//! - `GEMINI_CLI_NO_RELAUNCH=true`: otherwise gemini re-spawns itself in a child and the
//!   parent ignores SIGINT, so an abort would wait for the grace period and a SIGKILL.

mod parse;
mod session;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use switchboard_agent_api::{Agent, BoxFuture, RunIo, RunSpec};
use switchboard_protocol::{PermissionMode, Provider};

pub use parse::{GeminiParser, SessionProblem};
use session::SessionArg;

use crate::supervisor::ProcessSpec;

pub struct GeminiAgent {
    binary: PathBuf,
}

impl GeminiAgent {
    pub fn new(binary: PathBuf) -> Self {
        Self { binary }
    }

    pub fn from_env() -> Self {
        Self::new(crate::json_line::binary_from_env(
            "SWITCHBOARD_GEMINI_BIN",
            "gemini",
        ))
    }

    /// The argv after the program name, for the run's first attempt.
    pub fn args(spec: &RunSpec) -> Vec<OsString> {
        args_with(spec, &SessionArg::for_spec(spec))
    }

    /// Added to the inherited environment.
    pub fn env() -> Vec<(OsString, OsString)> {
        vec![("GEMINI_CLI_NO_RELAUNCH".into(), "true".into())]
    }
}

/// One attempt's process.
fn process(binary: &Path, spec: &RunSpec, session: &SessionArg) -> ProcessSpec {
    ProcessSpec {
        program: binary.as_os_str().to_owned(),
        args: args_with(spec, session),
        cwd: spec.cwd.clone(),
        env: GeminiAgent::env(),
        not_found_hint: "install the Gemini CLI (npm install -g @google/gemini-cli), or set \
                         SWITCHBOARD_GEMINI_BIN to its path"
            .into(),
    }
}

fn args_with(spec: &RunSpec, session: &SessionArg) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec![
        format!("--prompt={}", prompt(spec)).into(),
        "-o".into(),
        "stream-json".into(),
    ];
    if let Some(model) = spec.model.as_deref().filter(|m| !m.is_empty()) {
        // Gemini does not pin a model to a session, so a resumed run takes it too.
        args.push(format!("--model={model}").into());
    }
    match session {
        SessionArg::New(id) => args.push(format!("--session-id={id}").into()),
        SessionArg::Resume(id) => args.push(format!("--resume={id}").into()),
        SessionArg::Fresh => {}
    }
    args.push("--approval-mode".into());
    args.push(approval_mode(spec.permission_mode.unwrap_or_default()).into());
    args.push("--skip-trust".into());
    args
}

fn approval_mode(mode: PermissionMode) -> &'static str {
    match mode {
        PermissionMode::Default => "default",
        PermissionMode::AcceptEdits => "auto_edit",
        PermissionMode::Plan => "plan",
        PermissionMode::BypassPermissions => "yolo",
    }
}

/// The legacy `cursor-resume` carries no prompt; gemini needs one to run a turn.
fn prompt(spec: &RunSpec) -> String {
    spec.turn_text()
}

/// A gemini session id as `init` reports it: a UUID (8-4-4-4-12 hex digits).
fn is_session_id(id: &str) -> bool {
    let groups: Vec<&str> = id.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| g.len() == len && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

impl Agent for GeminiAgent {
    fn provider(&self) -> Provider {
        Provider::Gemini
    }

    /// A new session is started with `--session-id=<our id>`, so gemini's id is ours (unless
    /// gemini refuses it and starts over; its `init` line then reports the new id).
    fn chosen_native_id(&self, spec: &RunSpec) -> Option<String> {
        spec.resume.is_none().then(|| spec.session_id.to_string())
    }

    /// None: without `--model` gemini routes each request itself (its `auto` model).
    fn default_model(&self) -> Option<String> {
        None
    }

    fn check(&self, spec: &RunSpec) -> Result<(), String> {
        if let Some(id) = &spec.resume {
            // `--resume` also takes `latest` and list indexes, which would continue some
            // other conversation of this directory.
            if !is_session_id(id) {
                return Err(format!(
                    "{id:?} is not a gemini session id (gemini session ids are UUIDs)"
                ));
            }
        }
        Ok(())
    }

    fn run(&self, spec: RunSpec, io: RunIo) -> BoxFuture<()> {
        Box::pin(session::run(self.binary.clone(), spec, io))
    }
}

#[cfg(test)]
mod tests;

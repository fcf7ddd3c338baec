//! nano-claude-code (OpenLAIR, Python): `nano-claude-code --output-format stream-json -p …`.
//!
//! The binary comes from `SWITCHBOARD_NANO_BIN`, else the seed's `NANO_CLAUDE_CODE_COMMAND`,
//! else `nano-claude-code` on PATH. Every value is its own argv entry (never a shell string).
//!
//! - **Conversations** live in files Switchboard owns ([`sessions`]): nano writes
//!   `--session-file` after a successful turn and loads it with `--resume`.
//! - **Streaming.** `--streaming --verbose` always: `stream_delta` lines need both
//!   (`cursor-nano-formats.md` B.2, B.8 #2), so clients get text as it is written.
//! - **Permissions.** nano runs every tool without asking; its permission flags do nothing in
//!   print mode (B.8 #3). So only `bypassPermissions` is honest, and `check` refuses the other
//!   modes instead of silently widening them.

mod parse;
pub mod sessions;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use switchboard_agent_api::{Agent, AgentLine, AgentOutput, BoxFuture, RunIo, RunSpec};
use switchboard_protocol::event::{AgentEvent, NoticeLevel};
use switchboard_protocol::lifecycle::AgentExit;
use switchboard_protocol::{PermissionMode, Provider};

pub use parse::NanoParser;

use crate::argv::prompt_arg;
use crate::supervisor::{run_supervised, ProcessSpec, Stdin};

pub struct NanoAgent {
    binary: PathBuf,
    /// Where session files live; `None` when the environment names no directory.
    sessions_dir: Option<PathBuf>,
}

impl NanoAgent {
    pub fn new(binary: PathBuf, sessions_dir: Option<PathBuf>) -> Self {
        Self {
            binary,
            sessions_dir,
        }
    }

    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var_os(name).filter(|b| !b.is_empty());
        let binary = var("SWITCHBOARD_NANO_BIN")
            // The seed's variable, so an existing deployment keeps working.
            .or_else(|| var("NANO_CLAUDE_CODE_COMMAND"))
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("nano-claude-code"));
        Self::new(binary, sessions::sessions_dir_from_env())
    }

    /// The argv after the program name.
    pub fn args(spec: &RunSpec, session_file: &Path, resume: Option<&Path>) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec![
            "--output-format".into(),
            "stream-json".into(),
            "-p".into(),
            prompt_arg(spec).into(),
            // A no-op in print mode (nano never asks), passed as the seed did: it states
            // what the run does.
            "--dangerously-skip-permissions".into(),
            "--session-file".into(),
            session_file.into(),
        ];
        if let Some(resume) = resume {
            args.push("--resume".into());
            args.push(resume.into());
        }
        args.push("--streaming".into());
        args.push("--verbose".into());
        if let Some(model) = &spec.model {
            args.push("--model".into());
            args.push(model.into());
        }
        args
    }
}

/// Refuses permission modes nano cannot enforce. No mode is accepted as bypass: the seed always
/// ran nano with `--dangerously-skip-permissions` and its clients send no mode for nano, so a
/// missing mode means the client accepts the provider's only behaviour. An explicit mode that
/// asks for less is refused, never widened.
fn check_permission_mode(mode: Option<PermissionMode>) -> Result<(), String> {
    match mode {
        None | Some(PermissionMode::BypassPermissions) => Ok(()),
        Some(mode) => Err(format!(
            "nano-claude-code cannot honour permissionMode {:?}: it runs every tool without \
             asking (its only mode is --dangerously-skip-permissions). Use \
             \"bypassPermissions\", or send no permissionMode",
            mode.as_str()
        )),
    }
}

impl Agent for NanoAgent {
    fn provider(&self) -> Provider {
        Provider::Nano
    }

    fn check(&self, spec: &RunSpec) -> Result<(), String> {
        check_permission_mode(spec.permission_mode)?;
        if spec.prompt.trim().is_empty() && !spec.continue_only {
            return Err("nano-claude-code needs a prompt".into());
        }
        let Some(dir) = &self.sessions_dir else {
            return Err(format!(
                "nano is not configured: set {} or HOME",
                sessions::SESSIONS_DIR_ENV
            ));
        };
        // Adopting a native id (the core passes `resume` here only for that): it must name a
        // saved conversation in our directory.
        if let Some(id) = &spec.resume {
            if *id != sessions::native_id(&spec.session_id) {
                if !sessions::is_file_stem(id) {
                    return Err(format!(
                        "{id:?} is not a nano session id (a saved conversation's name, such as \
                         nano-<uuid>)"
                    ));
                }
                if !sessions::file_of(dir, id).is_file() {
                    return Err(format!("there is no saved nano conversation named {id:?}"));
                }
            }
        }
        Ok(())
    }

    fn run(&self, spec: RunSpec, io: RunIo) -> BoxFuture<()> {
        let binary = self.binary.clone();
        let dir = self.sessions_dir.clone();
        Box::pin(async move {
            let files = match prepare(dir.as_deref(), &spec) {
                Ok(files) => files,
                Err(error) => {
                    let _ = io
                        .output
                        .send(AgentOutput::Exit(AgentExit::SpawnFailed { error }))
                        .await;
                    return;
                }
            };
            if let Some(message) = &files.notice {
                let notice = AgentEvent::Notice {
                    level: NoticeLevel::Info,
                    message: message.clone(),
                };
                let _ = io
                    .output
                    .send(AgentOutput::Line(AgentLine::text(notice, message)))
                    .await;
            }
            let process = ProcessSpec {
                program: binary.into_os_string(),
                args: NanoAgent::args(&spec, &files.session_file, files.resume.as_deref()),
                cwd: spec.cwd.clone(),
                env: Vec::new(),
                not_found_hint:
                    "install nano-claude-code (github.com/OpenLAIR/nano-claude-code), or \
                                 set SWITCHBOARD_NANO_BIN to its path"
                        .into(),
            };
            let mut parser = NanoParser::default();
            run_supervised(process, Stdin::Null, &spec.run_id, io, &mut parser).await;
        })
    }
}

/// The sessions directory, created if needed, and the files of this run.
fn prepare(dir: Option<&Path>, spec: &RunSpec) -> Result<sessions::RunFiles, String> {
    let dir = dir.ok_or_else(|| {
        format!(
            "no directory for nano's session files: set {} or HOME",
            sessions::SESSIONS_DIR_ENV
        )
    })?;
    sessions::create_dir(dir)
        .map_err(|e| format!("cannot create nano's session directory {dir:?}: {e}"))?;
    Ok(sessions::plan(
        dir,
        &spec.session_id,
        spec.resume.as_deref(),
    ))
}

#[cfg(test)]
mod tests;

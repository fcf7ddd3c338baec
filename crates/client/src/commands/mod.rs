//! The terminal client's subcommands and the flags they share.

use std::path::PathBuf;

use crate::error::ClientError;
use crate::rest::Rest;
use crate::target::ServerTarget;

pub mod abort;
pub mod attach;
pub mod chat;
pub mod sessions;

/// How to reach the server; the same flags as `switchboard project`.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnectArgs {
    /// The server's base URL, such as http://127.0.0.1:7420 (a bare ADDR:PORT works too)
    /// [default: `listen` from the config, else 127.0.0.1:7420].
    #[arg(long, global = true, value_name = "URL")]
    pub server: Option<String>,
    /// The access token [default: the config's, else <data-dir>/token when the server is
    /// local].
    #[arg(long, global = true, env = "SWITCHBOARD_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The local server's data dir (for its config and token file).
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The local server's config file [default: <data-dir>/config.toml].
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Print one JSON object per line (frames exactly as received) instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

/// One terminal-client command (subcommands of the `switchboard` binary).
#[derive(Debug, clap::Subcommand)]
pub enum TerminalCommand {
    /// Start a run and stream its answer (terminal client).
    Chat(chat::ChatArgs),
    /// Follow a session's run to its end, across dropped connections (terminal client).
    Attach(attach::AttachArgs),
    /// List the sessions, most recently updated first (terminal client).
    Sessions(sessions::SessionsArgs),
    /// Stop a session's live run (terminal client).
    Abort(abort::AbortArgs),
}

impl TerminalCommand {
    pub fn connect(&self) -> &ConnectArgs {
        match self {
            TerminalCommand::Chat(a) => &a.connect,
            TerminalCommand::Attach(a) => &a.connect,
            TerminalCommand::Sessions(a) => &a.connect,
            TerminalCommand::Abort(a) => &a.connect,
        }
    }

    /// Runs the command; the result is the process's exit code ([`crate::exit`]).
    pub async fn run(self, target: ServerTarget, rest: &dyn Rest) -> Result<u8, ClientError> {
        match self {
            TerminalCommand::Chat(args) => chat::run(target, args).await,
            TerminalCommand::Attach(args) => attach::run(target, rest, args).await,
            TerminalCommand::Sessions(args) => sessions::run(rest, args).await,
            TerminalCommand::Abort(args) => abort::run(target, args).await,
        }
    }
}

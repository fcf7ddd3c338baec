//! `switchboard chat "prompt"`: starts a run and streams its answer until it ends.

use std::path::PathBuf;
use std::time::Duration;

use switchboard_protocol::server::ServerMessageSchema;
use switchboard_protocol::{PermissionMode, Provider};

use super::ConnectArgs;
use crate::connection::Connection;
use crate::error::ClientError;
use crate::exit;
use crate::follower::Follower;
use crate::frame::Frame;
use crate::messages::{self, ChatRequest};
use crate::permission::PermissionPolicy;
use crate::render::Renderer;
use crate::target::ServerTarget;
use crate::watch::{self, WatchOptions};

/// How long the server may take to accept or refuse the command.
const ACCEPT_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, clap::Args)]
pub struct ChatArgs {
    /// The prompt (several words are joined with spaces).
    #[arg(required = true, value_name = "PROMPT")]
    pub prompt: Vec<String>,
    /// The project directory to run in [default: the current directory]. It must be inside
    /// a registered project (`switchboard project add`).
    #[arg(long, value_name = "DIR")]
    pub project: Option<PathBuf>,
    /// The agent: claude, codex, cursor, gemini, nano.
    #[arg(long, default_value = "claude", value_parser = parse_provider)]
    pub provider: Provider,
    /// The model [default: the agent's own].
    #[arg(long)]
    pub model: Option<String>,
    /// default, acceptEdits, plan or bypassPermissions [default: the agent's default].
    #[arg(long, value_name = "MODE", value_parser = parse_permission_mode)]
    pub permission_mode: Option<PermissionMode>,
    /// Continue this session (its id, or the agent's own id) instead of starting one.
    #[arg(long, value_name = "ID")]
    pub session: Option<String>,
    /// Allow every tool the agent asks for, without asking. Without a terminal and without
    /// --yes, permission requests are denied.
    #[arg(long, short = 'y')]
    pub yes: bool,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

fn parse_provider(s: &str) -> Result<Provider, String> {
    Provider::parse(s).ok_or_else(|| {
        let all: Vec<&str> = Provider::ALL.iter().map(|p| p.as_str()).collect();
        format!("not a provider; one of {}", all.join(", "))
    })
}

fn parse_permission_mode(s: &str) -> Result<PermissionMode, String> {
    PermissionMode::parse(s)
        .ok_or_else(|| "one of default, acceptEdits, plan, bypassPermissions".to_owned())
}

pub async fn run(target: ServerTarget, args: ChatArgs) -> Result<u8, ClientError> {
    let prompt = args.prompt.join(" ");
    if prompt.trim().is_empty() {
        return Err(ClientError::Usage("the prompt is empty".into()));
    }
    let request = ChatRequest {
        provider: args.provider,
        prompt,
        project_path: project_dir(args.project)?,
        session: args.session,
        model: args.model,
        permission_mode: args.permission_mode,
        client_request_id: format!("chat-{}", std::process::id()),
    };
    let mut renderer = Renderer::new(args.connect.json);
    let mut connection = Connection::open(&target).await?;
    connection.send(&messages::command(&request)).await?;
    let accepted = tokio::time::timeout(
        ACCEPT_TIMEOUT,
        wait_for_acceptance(&mut connection, &request.client_request_id),
    )
    .await
    .map_err(|_| {
        ClientError::Connection(format!(
            "the server did not answer the command within {ACCEPT_TIMEOUT:?}"
        ))
    })??;
    renderer.frame(&accepted)?;
    let session = accepted
        .session_id()
        .ok_or_else(|| ClientError::BadFrame(accepted.raw.clone()))?
        .to_owned();
    let run_start = accepted.seq().unwrap_or_default();
    let mut follower = Follower::resume(target, connection, session.clone(), run_start);
    let state = watch::follow_run(
        &mut follower,
        &mut renderer,
        WatchOptions {
            policy: PermissionPolicy::detect(args.yes),
            run_start,
            ctrl_c_aborts: true,
        },
    )
    .await?;
    follower.close().await;
    renderer.finish(state, &session);
    Ok(exit::for_state(state))
}

/// The command's `session-accepted`, or why there is none.
async fn wait_for_acceptance(
    connection: &mut Connection,
    client_request_id: &str,
) -> Result<Frame, ClientError> {
    loop {
        let frame = connection.recv().await?.ok_or_else(|| {
            ClientError::Connection("the server closed the connection before answering".into())
        })?;
        if frame.client_request_id() != Some(client_request_id) {
            continue;
        }
        match &frame.message {
            Some(ServerMessageSchema::SessionAccepted(_)) => return Ok(frame),
            Some(ServerMessageSchema::SessionBusy(busy)) => {
                return Err(ClientError::Busy(busy.message.clone()))
            }
            Some(ServerMessageSchema::Error(e)) => return Err(ClientError::from_error_frame(e)),
            _ => continue,
        }
    }
}

/// The absolute, resolved project directory (the server checks that it is registered).
fn project_dir(given: Option<PathBuf>) -> Result<String, ClientError> {
    let dir = match given {
        Some(dir) => dir,
        None => std::env::current_dir()
            .map_err(|e| ClientError::Usage(format!("cannot read the current directory: {e}")))?,
    };
    let resolved = std::fs::canonicalize(&dir)
        .map_err(|e| ClientError::Usage(format!("--project {}: {e}", dir.display())))?;
    resolved
        .to_str()
        .map(str::to_owned)
        .ok_or_else(|| ClientError::Usage(format!("{} is not valid UTF-8", resolved.display())))
}

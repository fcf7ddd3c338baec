//! `switchboard attach <session>`: follows a session's current (or last) run to its end,
//! across dropped connections.

use std::time::Duration;

use switchboard_protocol::api::{ApiErrorCode, SessionDetail};
use switchboard_protocol::SessionId;

use super::ConnectArgs;
use crate::error::ClientError;
use crate::exit;
use crate::follower::{Follower, DEFAULT_RECONNECT_WINDOW};
use crate::permission::PermissionPolicy;
use crate::render::Renderer;
use crate::rest::{self, Rest};
use crate::target::ServerTarget;
use crate::watch::{self, WatchOptions};

#[derive(Debug, clap::Args)]
pub struct AttachArgs {
    /// The session's id (see `switchboard sessions`).
    pub session: String,
    /// Show the frames after this seq [default: from the start of the current or last run].
    /// 0 replays the whole session.
    #[arg(long, value_name = "SEQ")]
    pub last_seq: Option<u64>,
    /// Allow every tool the agent asks for, without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// How long to keep trying to get a lost connection back, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_RECONNECT_WINDOW.as_secs())]
    pub reconnect_for: u64,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

pub async fn run(
    target: ServerTarget,
    rest: &dyn Rest,
    args: AttachArgs,
) -> Result<u8, ClientError> {
    let session = SessionId::parse(&args.session).ok_or_else(|| {
        ClientError::Usage(format!(
            "{:?} is not a Switchboard session id (see `switchboard sessions`)",
            args.session
        ))
    })?;
    let last_seq = match args.last_seq {
        Some(seq) => seq,
        None => current_run_start(rest, &session).await?,
    };
    let mut renderer = Renderer::new(args.connect.json);
    let mut follower = Follower::attach(target, session.to_string(), last_seq)
        .await?
        .with_reconnect_window(Duration::from_secs(args.reconnect_for));
    let state = watch::follow_run(
        &mut follower,
        &mut renderer,
        WatchOptions {
            policy: PermissionPolicy::detect(args.yes),
            run_start: last_seq,
            // Leaving an attached session must not stop it.
            ctrl_c_aborts: false,
        },
    )
    .await?;
    follower.close().await;
    renderer.finish(state, &session.to_string());
    Ok(exit::for_state(state))
}

/// The seq just before the `session-accepted` of the session's latest run.
async fn current_run_start(rest: &dyn Rest, session: &SessionId) -> Result<u64, ClientError> {
    let detail: SessionDetail = rest::get_json(rest, &format!("/api/sessions/{session}"))
        .await
        .map_err(|e| match e {
            ClientError::Server { code, .. } if code == ApiErrorCode::UnknownSession.as_str() => {
                ClientError::NoSuchSession(session.to_string())
            }
            other => other,
        })?;
    Ok(detail
        .runs
        .last()
        .map(|run| run.seq.saturating_sub(1))
        .unwrap_or(0))
}

//! `switchboard abort <session>`: stops a session's live run and waits until its agent is
//! gone.

use std::time::Duration;

use switchboard_protocol::server::{AbortOutcome, ServerMessageSchema, SessionAbortedFrame};

use super::ConnectArgs;
use crate::connection::Connection;
use crate::error::ClientError;
use crate::exit;
use crate::frame::Frame;
use crate::messages;
use crate::target::ServerTarget;

/// Longer than the server's SIGINT → SIGKILL grace plus its sweep.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, clap::Args)]
pub struct AbortArgs {
    /// The session's id, or the agent's own id.
    pub session: String,
    /// Return once the abort is accepted, without waiting for the run's end.
    #[arg(long)]
    pub no_wait: bool,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

pub async fn run(target: ServerTarget, args: AbortArgs) -> Result<u8, ClientError> {
    let json = args.connect.json;
    let mut connection = Connection::open(&target).await?;
    connection.send(&messages::abort(&args.session)).await?;
    let outcome = tokio::time::timeout(STOP_TIMEOUT, async {
        // The server follows the session for us before it answers, so the session's own
        // frames (its output so far) may come ahead of the answer; they are not the answer.
        let (session, seq, outcome) = loop {
            let frame = next_answer(&mut connection, json).await?;
            match &frame.message {
                Some(ServerMessageSchema::SessionAborted(SessionAbortedFrame::Journaled(j))) => {
                    break (
                        j.header.session_id.to_string(),
                        j.header.seq,
                        j.body.outcome,
                    )
                }
                _ if frame.seq().is_some() => continue,
                _ => return Err(ClientError::NoSuchSession(args.session.clone())),
            }
        };
        if outcome == AbortOutcome::Aborted && !args.no_wait {
            // The terminal state comes once the agent and its descendants are gone.
            loop {
                let frame = next_answer(&mut connection, json).await?;
                let ours = frame.session_id() == Some(session.as_str());
                if ours && frame.seq().is_some_and(|s| s > seq) {
                    if let Some(state) = frame.terminal_state() {
                        return Ok((session, outcome, Some(state)));
                    }
                }
            }
        }
        Ok((session, outcome, None))
    })
    .await
    .map_err(|_| {
        ClientError::Connection(format!("the run did not end within {STOP_TIMEOUT:?}"))
    })??;
    connection.close().await;
    if !json {
        let (session, outcome, state) = outcome;
        let mut out = std::io::stdout().lock();
        use std::io::Write;
        match (outcome, state) {
            (AbortOutcome::Aborted, Some(state)) => {
                writeln!(out, "stopped {session}: the run ended {}", state.as_str())?
            }
            (AbortOutcome::Aborted, None) => writeln!(out, "stopping {session}")?,
            _ => writeln!(out, "{session} had no live run")?,
        }
    }
    Ok(exit::OK)
}

/// The next frame, printed with `--json`; an `error` reply or a `not_found` becomes an error.
async fn next_answer(connection: &mut Connection, json: bool) -> Result<Frame, ClientError> {
    let frame = connection.recv().await?.ok_or_else(|| {
        ClientError::Connection("the server closed the connection before answering".into())
    })?;
    if json {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", frame.raw)?;
        out.flush()?;
    }
    match &frame.message {
        Some(ServerMessageSchema::Error(e)) => Err(ClientError::from_error_frame(e)),
        Some(ServerMessageSchema::SessionAborted(SessionAbortedFrame::NotFound(n))) => {
            Err(ClientError::NoSuchSession(n.session_id.clone()))
        }
        _ => Ok(frame),
    }
}

//! Following one run to its end: frames to the renderer, permission requests answered by the
//! policy, Ctrl-C turned into an abort, and the run's terminal state as the result.

use std::collections::{HashSet, VecDeque};

use serde::Deserialize;
use switchboard_protocol::server::{PermissionRequest, ServerMessageSchema};
use switchboard_protocol::RunState;
use tokio::task::JoinHandle;

use crate::error::ClientError;
use crate::follower::{FollowEvent, Follower};
use crate::messages::{self, Decision};
use crate::permission::{self, PermissionPolicy, NO_TERMINAL_DENIAL};
use crate::render::Renderer;

pub struct WatchOptions {
    pub policy: PermissionPolicy,
    /// The run's terminal state is the first one with a seq above this.
    pub run_start: u64,
    /// Ctrl-C aborts the run (the first time) instead of only leaving.
    pub ctrl_c_aborts: bool,
}

type Prompt = (String, JoinHandle<Result<Decision, ClientError>>);

/// Follows the session until a run ends after `run_start`, and returns its state.
pub async fn follow_run(
    follower: &mut Follower,
    renderer: &mut Renderer,
    options: WatchOptions,
) -> Result<RunState, ClientError> {
    let session = follower.session().to_owned();
    let mut asks = Asks::new(options.policy);
    // Set when `session-status` says the session is idle: the run ended at or before its
    // head, and once the replay reaches that head nothing more will come.
    let mut idle_at: Option<(u64, RunState)> = None;
    // The head at the latest subscription: a permission request at or below it is a replay,
    // still open only if `session-status` listed it (and then it was taken from there).
    let mut replay_head: Option<u64> = None;
    let mut interrupts = 0u32;
    loop {
        asks.start_next(renderer);
        tokio::select! {
            event = follower.next() => match event? {
                FollowEvent::Frame(frame) => {
                    renderer.frame(&frame)?;
                    let ours = frame.session_id() == Some(session.as_str());
                    if ours && frame.seq().is_some_and(|seq| seq > options.run_start) {
                        if let Some(state) = frame.terminal_state() {
                            return Ok(state);
                        }
                    }
                    match &frame.message {
                        Some(ServerMessageSchema::PermissionRequest(j))
                            if ours && replay_head.is_none_or(|head| j.header.seq > head) =>
                        {
                            asks.request(follower, renderer, &j.body).await?;
                        }
                        Some(ServerMessageSchema::PermissionCancelled(j)) if ours => {
                            asks.cancelled(&j.body.request_id);
                        }
                        Some(ServerMessageSchema::SessionStatus(status)) => {
                            for pending in &status.pending_permissions {
                                if let Some(request) = pending_request(pending) {
                                    asks.request(follower, renderer, &request).await?;
                                }
                            }
                            idle_at = (!status.is_processing).then_some((status.last_seq, status.state));
                            replay_head = Some(status.last_seq);
                        }
                        Some(ServerMessageSchema::Error(e))
                            if matches!(e.request_type.as_deref(), Some("subscribe")) =>
                        {
                            return Err(ClientError::from_error_frame(e));
                        }
                        _ => {}
                    }
                    if let Some((head, state)) = idle_at {
                        if follower.last_seq() >= head {
                            return Ok(state);
                        }
                    }
                }
                FollowEvent::Disconnected(why) => {
                    renderer.note(&format!("connection lost ({why}); reconnecting"));
                }
                FollowEvent::Reconnected { last_seq } => {
                    renderer.note(&format!("reconnected; resuming after seq {last_seq}"));
                }
            },
            answer = async {
                match asks.prompt.as_mut() {
                    Some((_, handle)) => handle.await,
                    None => std::future::pending().await,
                }
            } => {
                let (request_id, _) = asks.prompt.take().expect("a prompt was running");
                let decision = answer
                    .map_err(|e| ClientError::Prompt(e.to_string()))
                    .and_then(|d| d)?;
                asks.answer(follower, renderer, &request_id, decision, None).await?;
            }
            _ = tokio::signal::ctrl_c() => {
                interrupts += 1;
                if !options.ctrl_c_aborts || interrupts > 1 {
                    return Err(ClientError::Interrupted);
                }
                renderer.note("stopping the run (Ctrl-C again to leave without waiting)");
                follower.send(&messages::abort(&session)).await?;
            }
        }
    }
}

/// A request replayed inside `session-status.pendingPermissions` (a whole frame).
fn pending_request(frame: &serde_json::Value) -> Option<PermissionRequest> {
    match ServerMessageSchema::deserialize(frame).ok()? {
        ServerMessageSchema::PermissionRequest(j) => Some(j.body),
        _ => None,
    }
}

/// The permission requests of the run and their answers.
struct Asks {
    policy: PermissionPolicy,
    /// Every request id seen, so a replayed or re-listed request is handled once.
    seen: HashSet<String>,
    waiting: VecDeque<PermissionRequest>,
    prompt: Option<Prompt>,
    /// Cancelled while its prompt was up: the answer is not sent.
    cancelled: HashSet<String>,
}

impl Asks {
    fn new(policy: PermissionPolicy) -> Self {
        Self {
            policy,
            seen: HashSet::new(),
            waiting: VecDeque::new(),
            prompt: None,
            cancelled: HashSet::new(),
        }
    }

    async fn request(
        &mut self,
        follower: &mut Follower,
        renderer: &mut Renderer,
        request: &PermissionRequest,
    ) -> Result<(), ClientError> {
        if !self.seen.insert(request.request_id.clone()) {
            return Ok(());
        }
        match self.policy {
            PermissionPolicy::Ask => self.waiting.push_back(request.clone()),
            PermissionPolicy::AllowAll => {
                self.answer(
                    follower,
                    renderer,
                    &request.request_id,
                    Decision::Allow,
                    None,
                )
                .await?;
            }
            PermissionPolicy::Deny => {
                renderer.note(&format!(
                    "denied {}: no terminal to ask on (pass --yes to allow tools)",
                    request.tool_name
                ));
                self.answer(
                    follower,
                    renderer,
                    &request.request_id,
                    Decision::Deny,
                    Some(NO_TERMINAL_DENIAL.to_owned()),
                )
                .await?;
            }
        }
        Ok(())
    }

    fn cancelled(&mut self, request_id: &str) {
        self.waiting.retain(|r| r.request_id != request_id);
        self.cancelled.insert(request_id.to_owned());
    }

    /// Puts the next waiting request on the terminal, if none is up.
    fn start_next(&mut self, renderer: &mut Renderer) {
        if self.prompt.is_some() {
            return;
        }
        let Some(request) = self.waiting.pop_front() else {
            return;
        };
        renderer.stop_spinner();
        let (tool, input) = (request.tool_name.clone(), request.input.clone());
        let handle = tokio::task::spawn_blocking(move || permission::ask(&tool, &input));
        self.prompt = Some((request.request_id, handle));
    }

    async fn answer(
        &mut self,
        follower: &mut Follower,
        renderer: &mut Renderer,
        request_id: &str,
        decision: Decision,
        deny_message: Option<String>,
    ) -> Result<(), ClientError> {
        if self.cancelled.contains(request_id) {
            renderer.note("that request had already ended; the answer was not sent");
            return Ok(());
        }
        follower
            .send(&messages::permission_response(
                request_id,
                decision,
                deny_message,
            ))
            .await?;
        if self.policy != PermissionPolicy::Deny {
            renderer.note(match decision {
                Decision::Allow => "allowed",
                Decision::AlwaysAllow => "allowed for the rest of the run",
                Decision::Deny => "denied",
            });
        }
        renderer.waiting("waiting for the agent");
        Ok(())
    }
}

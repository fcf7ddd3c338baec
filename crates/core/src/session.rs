//! One actor per session.
//!
//! The actor owns everything that must change atomically for a session: the live run (at most
//! one), its lifecycle, the queue of waiting commands, the pending permission requests and the
//! seq counter. Requests reach it through its mailbox and are handled one at a time, so the
//! busy check needs no lock and cannot race: the slot is taken in the same step that checks
//! it, before anything is awaited.
//!
//! It is also the only writer of the session's journal. Each frame is serialized once, then
//! appended to the ring, queued for persistence and broadcast to subscribers, in that order
//! (a subscriber that misses the broadcast finds the frame in the ring).

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use serde::Serialize;
use switchboard_agent_api::{
    AgentOutput, PermissionAsk, PermissionDecision, RunIo, RunLimits, RunSpec,
};
use switchboard_protocol::client::PermissionResponse;
use switchboard_protocol::event::{AgentEvent, NoticeLevel};
use switchboard_protocol::lifecycle::{AgentExit, RunLifecycle, TerminalReason};
use switchboard_protocol::server::{
    AbortOutcome, AgentComplete, AgentErrorFrame, FrameEncoder, PermissionCancelReason,
    PermissionCancelled, PermissionRequest, SessionAborted, SessionAccepted, SessionCreated,
    SessionQueued, SessionStateChanged, SessionStatus, TokenBudget, TokenBudgetData,
};
use switchboard_protocol::{
    now_ms, ErrorCode, ProtocolError, Provider, RawJson, RunState, SessionId,
};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::attachments::{self, Attachments};
use crate::fanout::LiveFanout;
use crate::frame::Frame;
use crate::journal::Journal;
use crate::registry::Shared;
use crate::store::{SessionRecord, SessionUpdate, StoreWrite};

/// The largest encoding buffer a session keeps between frames; a bigger frame (a long result
/// line) gets a buffer of its own that is freed after it.
const MAX_KEPT_SCRATCH: usize = 64 * 1024;

/// A command ready to run: its session is resolved and its paths are confined.
#[derive(Debug, Clone)]
pub struct PreparedRun {
    pub request_type: String,
    pub client_request_id: Option<String>,
    pub queue: bool,
    pub is_new_session: bool,
    /// `run_id` is filled in when the run starts.
    pub spec: RunSpec,
    /// Images attached to the prompt; written to the run's folder when it starts.
    pub images: Attachments,
}

/// The actor's answer to a command.
#[derive(Debug, Clone, PartialEq)]
pub enum RunReply {
    Accepted,
    Queued { position: usize },
    Busy,
    Rejected(ProtocolError),
}

pub(crate) enum SessionCommand {
    Run {
        run: Box<PreparedRun>,
        reply: oneshot::Sender<RunReply>,
    },
    Abort {
        reply: oneshot::Sender<AbortOutcome>,
    },
    Permission {
        response: PermissionResponse,
        reply: oneshot::Sender<bool>,
    },
    Shutdown {
        done: oneshot::Sender<()>,
    },
}

/// What the rest of the server sees of a session.
pub struct SessionHandle {
    pub id: SessionId,
    pub provider: Provider,
    pub project_name: Option<String>,
    pub project_id: Option<String>,
    pub cwd: String,
    pub journal: Arc<Journal>,
    pub(crate) live: Arc<LiveFanout>,
    pub(crate) commands: mpsc::Sender<SessionCommand>,
    status: Mutex<StatusSnapshot>,
}

#[derive(Debug, Clone)]
struct StatusSnapshot {
    state: RunState,
    start_time: Option<u64>,
    native_id: Option<String>,
    /// `(request id, full claude-permission-request frame)`.
    pending: Vec<(String, Bytes)>,
}

impl SessionHandle {
    /// The `session-status` reply, as of now.
    pub fn status(&self) -> SessionStatus {
        let snapshot = self.status.lock().clone();
        SessionStatus {
            session_id: self.id,
            provider: self.provider,
            is_processing: snapshot.state == RunState::Running,
            state: snapshot.state,
            start_time: snapshot.start_time,
            last_seq: self.journal.head(),
            pending_permissions: snapshot
                .pending
                .iter()
                .filter_map(|(_, bytes)| serde_json::from_slice(bytes).ok())
                .collect(),
            project_name: self.project_name.clone(),
            provider_session_id: snapshot.native_id,
        }
    }

    pub fn state(&self) -> RunState {
        self.status.lock().state
    }

    pub fn native_id(&self) -> Option<String> {
        self.status.lock().native_id.clone()
    }

    pub fn start_time(&self) -> Option<u64> {
        self.status.lock().start_time
    }

    pub fn subscriber_count(&self) -> usize {
        self.live.receiver_count()
    }
}

/// Starts the actor of a session and returns its handle.
pub(crate) fn spawn(
    shared: Arc<Shared>,
    record: &SessionRecord,
    is_new: bool,
) -> Arc<SessionHandle> {
    let config = &shared.config;
    let journal = Arc::new(Journal::new(
        record.id,
        if is_new { 0 } else { record.seq_reserved },
        Arc::clone(&shared.store),
        config.ring_max_frames,
        config.ring_max_bytes,
    ));
    let live = Arc::new(LiveFanout::new(config.subscriber_queue_frames));
    let (commands_tx, commands) = mpsc::channel(64);
    let handle = Arc::new(SessionHandle {
        id: record.id,
        provider: record.provider,
        project_name: record.project_name.clone(),
        project_id: record.project_id.clone(),
        cwd: record.cwd.clone(),
        journal,
        live,
        commands: commands_tx,
        status: Mutex::new(StatusSnapshot {
            state: record.state,
            start_time: record.start_time,
            native_id: record.native_id.clone(),
            pending: Vec::new(),
        }),
    });
    let prefix = record.provider.frame_prefix();
    let actor = SessionActor {
        handle: Arc::clone(&handle),
        shared: Arc::clone(&shared),
        commands,
        // A new session has used no seq yet; a loaded one continues above its reservation, so
        // after a crash no seq that may have been sent is ever used again.
        last_seq: if is_new { 0 } else { record.seq_reserved },
        reserved: record.seq_reserved,
        next_reservation: None,
        run: None,
        queue: VecDeque::new(),
        needs_created: false,
        native_id: record.native_id.clone(),
        model: record.model.clone(),
        start_time: record.start_time,
        stopping: None,
        discard: false,
        response_type: format!("{prefix}-response"),
        complete_type: format!("{prefix}-complete"),
        error_type: format!("{prefix}-error"),
        encoder: record.frame_encoder(),
        scratch: Vec::new(),
    };
    shared.tracker.spawn(actor.run());
    handle
}

struct ActiveRun {
    lifecycle: RunLifecycle,
    output: mpsc::Receiver<AgentOutput>,
    abort: CancellationToken,
    is_new_session: bool,
    pending: Vec<PendingPermission>,
    /// Set when the server is stopping: the run ends `interrupted`, whatever the agent says.
    interrupted: bool,
    /// The marker every process of this run carries.
    run_id: String,
    /// Whether the run has a folder of attached images to remove.
    has_attachments: bool,
    /// When the agent last said anything (for the silence notice).
    last_output: Instant,
}

struct PendingPermission {
    request_id: String,
    reply: oneshot::Sender<PermissionDecision>,
    deadline: Instant,
}

struct SessionActor {
    handle: Arc<SessionHandle>,
    shared: Arc<Shared>,
    commands: mpsc::Receiver<SessionCommand>,
    last_seq: u64,
    /// Every seq up to here is durably reserved.
    reserved: u64,
    /// A reservation requested ahead of need: `(up to, committed)`.
    next_reservation: Option<(u64, oneshot::Receiver<Result<(), String>>)>,
    run: Option<ActiveRun>,
    queue: VecDeque<PreparedRun>,
    /// A new session owes its `session-created` frame, sent just before its first agent output.
    needs_created: bool,
    native_id: Option<String>,
    model: Option<String>,
    start_time: Option<u64>,
    stopping: Option<oneshot::Sender<()>>,
    /// Set when a new session's first command was refused: the actor forgets the session.
    discard: bool,
    response_type: String,
    complete_type: String,
    error_type: String,
    /// The session's constant header fields, encoded once.
    encoder: FrameEncoder,
    /// Where frames are encoded before being copied out at their exact size. Kept while a run
    /// streams (so a frame costs one allocation, not a buffer grown step by step); a session
    /// without a run holds none.
    scratch: Vec<u8>,
}

impl SessionActor {
    async fn run(mut self) {
        loop {
            if self.stopping.is_some() && self.run.is_none() {
                self.finish_stop().await;
                return;
            }
            if self.discard {
                self.forget().await;
                return;
            }
            let permission_deadline = self
                .run
                .as_ref()
                .and_then(|r| r.pending.iter().map(|p| p.deadline).min());
            let idle = self.run.is_none() && self.queue.is_empty() && self.stopping.is_none();
            // A run that has said nothing for a while (and is not waiting on a person) may be
            // hung: say so once per silence, but never stop it (a long tool call is silent too).
            let silence_deadline = self
                .run
                .as_ref()
                .filter(|r| r.pending.is_empty())
                .map(|r| r.last_output + self.shared.config.agent_silence_notice);
            tokio::select! {
                // Commands first, so an abort is never starved by a flood of output.
                biased;
                command = self.commands.recv() => match command {
                    Some(command) => self.handle_command(command).await,
                    None => return,
                },
                output = recv_output(&mut self.run) => self.handle_output(output).await,
                _ = sleep_until_opt(permission_deadline) => self.expire_permissions().await,
                _ = sleep_until_opt(silence_deadline) => self.notice_silence().await,
                _ = tokio::time::sleep(self.shared.config.idle_unload), if idle => {
                    if self.try_unload().await {
                        return;
                    }
                }
            }
        }
    }

    // ---- commands ---------------------------------------------------------------------------

    async fn handle_command(&mut self, command: SessionCommand) {
        match command {
            SessionCommand::Run { run, reply } => {
                let answer = self.submit(*run).await;
                let _ = reply.send(answer);
            }
            SessionCommand::Abort { reply } => {
                let outcome = self.abort().await;
                let _ = reply.send(outcome);
            }
            SessionCommand::Permission { response, reply } => {
                let _ = reply.send(self.answer_permission(response));
            }
            SessionCommand::Shutdown { done } => {
                self.queue.clear();
                if let Some(run) = &mut self.run {
                    run.interrupted = true;
                    run.abort.cancel();
                }
                self.cancel_permissions(PermissionCancelReason::Cancelled)
                    .await;
                self.stopping = Some(done);
            }
        }
    }

    async fn submit(&mut self, prepared: PreparedRun) -> RunReply {
        if self.stopping.is_some() {
            return RunReply::Rejected(ProtocolError::new(
                ErrorCode::Internal,
                "the server is stopping",
            ));
        }
        if self.run.is_none() {
            return match self.start_run(prepared, true).await {
                Ok(()) => RunReply::Accepted,
                Err(e) => {
                    // A session whose very first command was refused never existed for any
                    // client: forget it rather than leave a record with no run.
                    self.discard = self.last_seq == 0;
                    if self.discard {
                        // Out of the map before the client hears of the refusal, so nothing
                        // it asks next (`get-active-sessions`) still finds the session.
                        self.shared.sessions.lock().remove(&self.handle.id);
                    }
                    RunReply::Rejected(e)
                }
            };
        }
        if !prepared.queue {
            return RunReply::Busy;
        }
        if self.queue.len() >= self.shared.config.session_queue_max {
            return RunReply::Rejected(ProtocolError::new(
                ErrorCode::QueueFull,
                format!(
                    "the session already has {} queued commands",
                    self.shared.config.session_queue_max
                ),
            ));
        }
        let body = SessionQueued {
            request_type: prepared.request_type.clone(),
            client_request_id: prepared.client_request_id.clone(),
            position: self.queue.len() + 1,
            queued_at: now_ms(),
        };
        self.queue.push_back(prepared);
        self.emit("session-queued", &body).await;
        RunReply::Queued {
            position: body.position,
        }
    }

    /// Takes the run slot and starts the agent. `admit` applies the server-wide limit (a
    /// queued command was admitted when it was queued).
    async fn start_run(&mut self, prepared: PreparedRun, admit: bool) -> Result<(), ProtocolError> {
        let Some(agent) = self.shared.agents.get(&self.handle.provider).cloned() else {
            return Err(ProtocolError::new(
                ErrorCode::UnknownProvider,
                format!(
                    "provider {} is not available on this server",
                    self.handle.provider
                ),
            ));
        };
        let running = self.shared.running.fetch_add(1, Ordering::AcqRel);
        if admit && running >= self.shared.config.max_running_sessions {
            self.shared.running.fetch_sub(1, Ordering::AcqRel);
            return Err(ProtocolError::new(
                ErrorCode::TooManySessions,
                format!(
                    "{running} runs are live; the limit is {}",
                    self.shared.config.max_running_sessions
                ),
            ));
        }
        let now = now_ms();
        self.start_time = Some(now);
        if prepared.spec.model.is_some() {
            self.model = prepared.spec.model.clone();
        } else if self.model.is_none() {
            self.model = agent.default_model();
        }
        self.emit(
            "session-accepted",
            &SessionAccepted {
                request_type: prepared.request_type.clone(),
                client_request_id: prepared.client_request_id.clone(),
                accepted_at: now,
                is_new_session: prepared.is_new_session,
                prompt: Some(prepared.spec.prompt.clone()).filter(|p| !p.is_empty()),
            },
        )
        .await;
        self.emit(
            "session-state-changed",
            &SessionStateChanged {
                state: RunState::Running,
                reason: TerminalReason::CommandAccepted,
                changed_at: now,
                exit_code: None,
                error: None,
                abort_requested: None,
                lost_from: None,
                lost_to: None,
            },
        )
        .await;
        self.set_status(RunState::Running);
        if prepared.is_new_session {
            self.needs_created = true;
        }

        let spec_has_no_images = prepared.images.is_empty();
        let mut spec = prepared.spec;
        spec.run_id = uuid::Uuid::new_v4().to_string();
        let run_id = spec.run_id.clone();
        if spec.resume.is_none() {
            spec.resume = self.native_id.clone();
        }
        if let Some(native) = agent.chosen_native_id(&spec) {
            self.learn_native_id(native).await;
        }
        if !prepared.images.is_empty() {
            let root = self.shared.config.attachments_dir.clone();
            let (run, images) = (run_id.clone(), Arc::clone(&prepared.images));
            let written = tokio::task::spawn_blocking(move || {
                attachments::write_run_folder(&root, &run, &images)
            })
            .await;
            match written {
                Ok(Ok(paths)) => spec.attachments = paths,
                // The run goes on without them, and says so.
                Ok(Err(e)) => {
                    tracing::error!(session = %self.handle.id, error = %e, "cannot write attached images")
                }
                Err(e) => {
                    tracing::error!(session = %self.handle.id, error = %e, "cannot write attached images")
                }
            }
        }
        let (output_tx, output) = mpsc::channel(256);
        let abort = CancellationToken::new();
        let io = RunIo {
            output: output_tx,
            abort: abort.clone(),
            env: self
                .shared
                .config
                .agent_env
                .get(&self.handle.provider)
                .cloned()
                .unwrap_or_default(),
            limits: RunLimits {
                abort_grace: self.shared.config.abort_grace,
                max_line_bytes: self.shared.config.max_agent_line_bytes,
            },
        };
        // The agent's future is spawned on its own task: a panic there ends its output
        // channel, which the actor turns into a failed run instead of dying with it.
        // The run's marker is durable before any process exists, so if this server dies at any
        // point after the spawn, the next start can find and end what it left running.
        let recorded = self
            .shared
            .persister
            .write_acked(Some(StoreWrite::UpdateSession(SessionUpdate {
                id: self.handle.id,
                state: RunState::Running,
                native_id: self.native_id.clone(),
                model: self.model.clone(),
                updated_at: now_ms(),
                start_time: self.start_time,
                live_run: Some(spec.run_id.clone()),
            })))
            .await;
        if let Ok(Err(e)) = recorded.await {
            tracing::error!(session = %self.handle.id, error = %e, "cannot record the run before starting it");
        }
        crate::changes::announce(
            &self.shared,
            &self.handle,
            RunState::Running,
            crate::changes::ChangeKind::Started,
        );
        tokio::spawn(agent.run(spec, io));
        self.run = Some(ActiveRun {
            lifecycle: RunLifecycle::running(),
            output,
            abort,
            is_new_session: prepared.is_new_session,
            pending: Vec::new(),
            interrupted: false,
            has_attachments: !spec_has_no_images,
            last_output: Instant::now(),
            run_id,
        });
        Ok(())
    }

    async fn abort(&mut self) -> AbortOutcome {
        let live = self
            .run
            .as_mut()
            .is_some_and(|run| run.lifecycle.request_abort());
        if !live {
            self.emit(
                "session-aborted",
                &SessionAborted {
                    success: false,
                    outcome: AbortOutcome::AlreadyFinished,
                    cleared_queue: None,
                },
            )
            .await;
            return AbortOutcome::AlreadyFinished;
        }
        let cleared = self.queue.len();
        self.queue.clear();
        self.emit(
            "session-aborted",
            &SessionAborted {
                success: true,
                outcome: AbortOutcome::Aborted,
                cleared_queue: (cleared > 0).then_some(cleared),
            },
        )
        .await;
        if let Some(run) = &self.run {
            run.abort.cancel();
        }
        self.cancel_permissions(PermissionCancelReason::Cancelled)
            .await;
        AbortOutcome::Aborted
    }

    fn answer_permission(&mut self, response: PermissionResponse) -> bool {
        let Some(run) = &mut self.run else {
            return false;
        };
        let Some(index) = run
            .pending
            .iter()
            .position(|p| p.request_id == response.request_id)
        else {
            return false;
        };
        let pending = run.pending.swap_remove(index);
        self.shared.permissions.lock().remove(&pending.request_id);
        let remember = response
            .remember_entry
            .as_ref()
            .is_some_and(|v| !v.is_null() && v != &serde_json::Value::Bool(false));
        let _ = pending.reply.send(PermissionDecision {
            allow: response.allow,
            message: response.message,
            updated_input: response.updated_input,
            remember,
        });
        remove_pending(&self.handle, &response.request_id);
        true
    }

    // ---- agent output -----------------------------------------------------------------------

    async fn handle_output(&mut self, output: Option<AgentOutput>) {
        if let Some(run) = &mut self.run {
            run.last_output = Instant::now();
        }
        match output {
            Some(AgentOutput::Line(line)) => {
                if let AgentEvent::NativeSession { id } = &line.event {
                    self.learn_native_id(id.clone()).await;
                }
                self.ensure_created().await;
                self.emit_response(&line.event, &line.raw).await;
            }
            Some(AgentOutput::TokenBudget(report)) => {
                self.ensure_created().await;
                self.emit(
                    "token-budget",
                    &TokenBudget {
                        data: TokenBudgetData {
                            used: report.used,
                            total: report.total,
                            breakdown: report.breakdown,
                        },
                    },
                )
                .await;
            }
            Some(AgentOutput::Permission(ask)) => self.ask_permission(ask).await,
            Some(AgentOutput::Exit(exit)) => self.finish_run(exit).await,
            None => {
                self.finish_run(AgentExit::Exited {
                    exit_code: None,
                    signal: None,
                    reported_success: false,
                    error: Some("the agent ended without reporting its exit".into()),
                    detail: None,
                })
                .await
            }
        }
    }

    async fn notice_silence(&mut self) {
        let silence = self.shared.config.agent_silence_notice;
        let Some(run) = &mut self.run else { return };
        // The next notice only after another full silence.
        run.last_output = Instant::now();
        let message = format!(
            "no output from the agent for {} s; it may be hung (it is not stopped: abort it if it is)",
            silence.as_secs()
        );
        let event = AgentEvent::Notice {
            level: NoticeLevel::Warning,
            message,
        };
        // `data` is null: the line is the server's, not the agent's.
        self.emit_response(&event, &RawJson::null()).await;
    }

    async fn ask_permission(&mut self, ask: PermissionAsk) {
        let aborting = self
            .run
            .as_ref()
            .is_none_or(|r| r.lifecycle.abort_requested() || r.interrupted);
        if aborting {
            let _ = ask
                .reply
                .send(PermissionDecision::deny("the run is being stopped"));
            return;
        }
        self.ensure_created().await;
        let now = now_ms();
        let timeout = self.shared.config.permission_timeout;
        let frame = self
            .emit(
                "claude-permission-request",
                &PermissionRequest {
                    request_id: ask.request_id.clone(),
                    tool_name: ask.tool_name,
                    input: ask.input,
                    created_at: now,
                    expires_at: now + timeout.as_millis() as u64,
                },
            )
            .await;
        self.shared
            .permissions
            .lock()
            .insert(ask.request_id.clone(), self.handle.id);
        self.handle
            .status
            .lock()
            .pending
            .push((ask.request_id.clone(), frame.bytes));
        if let Some(run) = &mut self.run {
            run.pending.push(PendingPermission {
                request_id: ask.request_id,
                reply: ask.reply,
                deadline: Instant::now() + timeout,
            });
        }
    }

    async fn expire_permissions(&mut self) {
        let now = Instant::now();
        let expired: Vec<PendingPermission> = match &mut self.run {
            Some(run) => {
                let (expired, keep) = run.pending.drain(..).partition(|p| p.deadline <= now);
                run.pending = keep;
                expired
            }
            None => Vec::new(),
        };
        for pending in expired {
            self.close_permission(pending, PermissionCancelReason::Timeout)
                .await;
        }
    }

    async fn cancel_permissions(&mut self, reason: PermissionCancelReason) {
        let pending = match &mut self.run {
            Some(run) => std::mem::take(&mut run.pending),
            None => Vec::new(),
        };
        for p in pending {
            self.close_permission(p, reason).await;
        }
    }

    /// Denies the tool, tells every subscriber, and forgets the request.
    async fn close_permission(
        &mut self,
        pending: PendingPermission,
        reason: PermissionCancelReason,
    ) {
        let message = match reason {
            PermissionCancelReason::Timeout => "nobody answered the permission request in time",
            PermissionCancelReason::Cancelled => "the permission request was cancelled",
        };
        let _ = pending.reply.send(PermissionDecision::deny(message));
        self.shared.permissions.lock().remove(&pending.request_id);
        remove_pending(&self.handle, &pending.request_id);
        self.emit(
            "claude-permission-cancelled",
            &PermissionCancelled {
                request_id: pending.request_id,
                reason,
            },
        )
        .await;
    }

    async fn finish_run(&mut self, exit: AgentExit) {
        let Some(mut run) = self.run.take() else {
            return;
        };
        if run.has_attachments {
            let root = self.shared.config.attachments_dir.clone();
            let run_id = run.run_id.clone();
            let _ =
                tokio::task::spawn_blocking(move || attachments::remove_run_folder(&root, &run_id))
                    .await;
        }
        self.cancel_permissions_of(&mut run).await;
        let terminal = if run.interrupted {
            run.lifecycle.interrupt()
        } else {
            run.lifecycle.exit(&exit)
        }
        .expect("a live run accepts exactly one terminal transition");
        self.shared.running.fetch_sub(1, Ordering::AcqRel);
        self.ensure_created().await;
        let native = self.native_id.clone();
        match terminal.state {
            RunState::Completed | RunState::Aborted => {
                let complete_type = std::mem::take(&mut self.complete_type);
                self.emit(
                    &complete_type,
                    &AgentComplete {
                        exit_code: terminal.exit_code,
                        is_new_session: run.is_new_session,
                        aborted: (terminal.state == RunState::Aborted).then_some(true),
                        actual_session_id: native,
                    },
                )
                .await;
                self.complete_type = complete_type;
            }
            _ => {
                let error_type = std::mem::take(&mut self.error_type);
                self.emit(
                    &error_type,
                    &AgentErrorFrame {
                        error: terminal
                            .error
                            .clone()
                            .unwrap_or_else(|| "the run failed".into()),
                        exit_code: terminal.exit_code,
                        reason: terminal.reason,
                        actual_session_id: native,
                    },
                )
                .await;
                self.error_type = error_type;
            }
        }
        self.emit(
            "session-state-changed",
            &SessionStateChanged {
                state: terminal.state,
                reason: terminal.reason,
                changed_at: now_ms(),
                exit_code: terminal.exit_code,
                error: terminal.error,
                abort_requested: Some(terminal.abort_requested),
                lost_from: None,
                lost_to: None,
            },
        )
        .await;
        self.set_status(terminal.state);
        self.persist_state(terminal.state).await;
        if self.stopping.is_none() {
            if let Some(next) = self.queue.pop_front() {
                if let Err(e) = self.start_run(next, false).await {
                    tracing::warn!(session = %self.handle.id, error = %e, "a queued command could not start");
                }
            }
        }
    }

    async fn cancel_permissions_of(&mut self, run: &mut ActiveRun) {
        for pending in std::mem::take(&mut run.pending) {
            self.close_permission(pending, PermissionCancelReason::Cancelled)
                .await;
        }
    }

    async fn learn_native_id(&mut self, id: String) {
        if self.native_id.as_deref() == Some(id.as_str()) {
            return;
        }
        self.native_id = Some(id.clone());
        self.handle.status.lock().native_id = Some(id.clone());
        self.shared
            .native
            .lock()
            .insert((self.handle.provider, id), self.handle.id);
        let state = self.handle.state();
        self.persist_state(state).await;
    }

    async fn ensure_created(&mut self) {
        if !self.needs_created {
            return;
        }
        self.needs_created = false;
        self.emit(
            "session-created",
            &SessionCreated {
                provider_session_id: self.native_id.clone(),
                model: self.model.clone(),
                cwd: self.handle.cwd.clone(),
                start_time: self.start_time.unwrap_or_else(now_ms),
            },
        )
        .await;
    }

    // ---- journal ----------------------------------------------------------------------------

    /// Journals one frame: seq, serialize once, ring, persistence queue, subscribers.
    async fn emit<B: Serialize + ?Sized>(&mut self, frame_type: &str, body: &B) -> Frame {
        let seq = self.next_seq().await;
        self.scratch.clear();
        self.encoder
            .encode(frame_type, seq, body, &mut self.scratch);
        self.journal_frame(seq).await
    }

    /// [`Self::emit`] for a line of agent output (`<provider>-response`).
    async fn emit_response(&mut self, event: &AgentEvent, data: &RawJson) -> Frame {
        let seq = self.next_seq().await;
        self.scratch.clear();
        self.encoder
            .encode_response(&self.response_type, seq, event, data, &mut self.scratch);
        self.journal_frame(seq).await
    }

    async fn journal_frame(&mut self, seq: u64) -> Frame {
        let frame = Frame::new(seq, Bytes::copy_from_slice(&self.scratch));
        if self.run.is_none() || self.scratch.capacity() > MAX_KEPT_SCRATCH {
            self.scratch = Vec::new();
        }
        self.handle.journal.append(frame.clone());
        let watermark = self.handle.journal.persisted_watermark();
        self.shared
            .persister
            .frame(
                StoreWrite::Frame {
                    session: self.handle.id,
                    seq,
                    bytes: frame.bytes.clone(),
                },
                watermark,
                seq,
            )
            .await;
        // No receivers is fine: the frame is in the journal for whoever attaches later.
        self.handle.live.send(frame.clone());
        frame
    }

    /// The next seq, never above a durable reservation: a restart after a crash continues
    /// above any seq that was ever sent. Reservations are requested half a block ahead, so
    /// the hot path normally never waits for the disk.
    async fn next_seq(&mut self) -> u64 {
        let seq = self.last_seq + 1;
        let block = self.shared.config.seq_block.max(1);
        if seq > self.reserved {
            if let Some((upto, committed)) = self.next_reservation.take() {
                if committed.await.is_ok_and(|r| r.is_ok()) {
                    self.reserved = upto;
                }
            }
            if seq > self.reserved {
                let upto = seq - 1 + block;
                let committed = self.reserve(upto).await;
                if let Err(e) | Ok(Err(e)) = committed.await.map_err(|e| e.to_string()) {
                    tracing::error!(session = %self.handle.id, error = %e, "reserving seq values failed");
                }
                self.reserved = upto;
            }
        }
        if self.next_reservation.is_none() && self.reserved - seq < block / 2 {
            let upto = self.reserved + block;
            let committed = self.reserve(upto).await;
            self.next_reservation = Some((upto, committed));
        }
        self.last_seq = seq;
        seq
    }

    /// Queues a reservation of every seq up to `upto`; the receiver answers once it is durable.
    async fn reserve(&self, upto: u64) -> oneshot::Receiver<Result<(), String>> {
        self.shared
            .persister
            .write_acked(Some(StoreWrite::SetSeqReserved {
                session: self.handle.id,
                seq: upto,
            }))
            .await
    }

    fn set_status(&self, state: RunState) {
        let mut status = self.handle.status.lock();
        status.state = state;
        status.start_time = self.start_time;
    }

    async fn persist_state(&self, state: RunState) {
        self.shared
            .persister
            .write(StoreWrite::UpdateSession(SessionUpdate {
                id: self.handle.id,
                state,
                native_id: self.native_id.clone(),
                model: self.model.clone(),
                updated_at: now_ms(),
                start_time: self.start_time,
                live_run: self.run.as_ref().map(|r| r.run_id.clone()),
            }))
            .await;
        crate::changes::announce(
            &self.shared,
            &self.handle,
            state,
            crate::changes::ChangeKind::Updated,
        );
    }

    // ---- leaving memory ---------------------------------------------------------------------

    /// Leaves memory if nothing needs the actor. Checked under the registry's lock, which is
    /// also taken to attach a subscriber or send a command, so neither can slip in between.
    async fn try_unload(&mut self) -> bool {
        if !self.commands.is_empty() || self.handle.live.receiver_count() > 0 {
            return false;
        }
        // The lowered reservation must be durable before the session leaves the map: a load
        // that follows at once reads the store, and would otherwise continue above the old
        // reservation (a gap of up to a block). If the unload is then called off, the next
        // frame simply reserves again.
        self.release_reservation().await;
        let _ = self.shared.persister.flush().await;
        let mut sessions = self.shared.sessions.lock();
        if !self.commands.is_empty() || self.handle.live.receiver_count() > 0 {
            return false;
        }
        sessions.remove(&self.handle.id);
        true
    }

    /// Removes a session that never journaled anything, from memory and from the store.
    async fn forget(&mut self) {
        self.shared.sessions.lock().remove(&self.handle.id);
        if let Some(native) = &self.native_id {
            self.shared
                .native
                .lock()
                .remove(&(self.handle.provider, native.clone()));
        }
        if let Some((_, committed)) = self.next_reservation.take() {
            let _ = committed.await;
        }
        self.shared
            .persister
            .write(StoreWrite::DeleteSession(self.handle.id))
            .await;
    }

    async fn finish_stop(&mut self) {
        self.release_reservation().await;
        let _ = self.shared.persister.flush().await;
        if let Some(done) = self.stopping.take() {
            let _ = done.send(());
        }
    }

    /// Lowers the reservation to the last seq used, so the next load continues without a gap.
    async fn release_reservation(&mut self) {
        if let Some((_, committed)) = self.next_reservation.take() {
            let _ = committed.await;
        }
        self.reserved = self.last_seq;
        self.shared
            .persister
            .write(StoreWrite::SetSeqReserved {
                session: self.handle.id,
                seq: self.last_seq,
            })
            .await;
    }
}

fn remove_pending(handle: &SessionHandle, request_id: &str) {
    handle
        .status
        .lock()
        .pending
        .retain(|(id, _)| id != request_id);
}

async fn recv_output(run: &mut Option<ActiveRun>) -> Option<AgentOutput> {
    match run {
        Some(run) => run.output.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

//! The session registry: finds, loads and creates sessions, and routes requests to their
//! actors. It never runs agents or touches frames itself.
//!
//! Ids are looked up in the order: a Switchboard session id, then a provider-native
//! id already recorded for that provider, else a native id to adopt (the new session resumes
//! it). Creation and adoption happen under the index lock, so two commands naming the same
//! new native id end up on one session (and one of them gets `session-busy`).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use parking_lot::Mutex;
use switchboard_agent_api::{Agent, RunSpec};
use switchboard_protocol::client::{AgentCommand, PermissionResponse, SessionTarget};
use switchboard_protocol::lifecycle::TerminalReason;
use switchboard_protocol::server::{
    AbortOutcome, ActiveSessionDetail, ActiveSessions, AgentErrorFrame, SessionStateChanged,
};
use switchboard_protocol::{now_ms, ErrorCode, ProtocolError, Provider, RunState, SessionId};
use tokio::sync::{broadcast, oneshot};
use tokio_util::task::TaskTracker;

use crate::attachments::decode_images;
use crate::config::CoreConfig;
use crate::fanout::LiveReceiver;
use crate::persist::Persister;
use crate::projects::{Placement, Project, ProjectIndex};
use crate::session::{self, PreparedRun, RunReply, SessionCommand, SessionHandle};
use crate::store::{SessionRecord, SessionStore, SessionUpdate, StoreError, StoreWrite};

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// State shared by the registry and every session actor.
pub(crate) struct Shared {
    pub config: CoreConfig,
    pub store: Arc<dyn SessionStore>,
    pub persister: Persister,
    pub agents: HashMap<Provider, Arc<dyn Agent>>,
    pub projects: ProjectIndex,
    /// Sessions in memory. Also the lock that orders attach/command against unload.
    pub sessions: Mutex<HashMap<SessionId, Arc<SessionHandle>>>,
    /// `(provider, native id) → session`, for sessions in memory and new adoptions.
    pub native: Mutex<HashMap<(Provider, String), SessionId>>,
    /// Pending permission request id → session.
    pub permissions: Mutex<HashMap<String, SessionId>>,
    /// Live runs, server-wide.
    pub running: AtomicUsize,
    pub tracker: TaskTracker,
    /// Serializes session creation (see `Registry::create`).
    pub create_lock: tokio::sync::Mutex<()>,
    /// Session changes, for notifications (see `crate::changes`).
    pub changes: broadcast::Sender<crate::changes::SessionChange>,
    /// Sessions retention is removing right now: they cannot be loaded meanwhile (see
    /// `crate::retention`).
    pub pruning: Mutex<std::collections::HashSet<SessionId>>,
}

#[derive(Clone)]
pub struct Registry {
    pub(crate) shared: Arc<Shared>,
    persist_task: Arc<Mutex<Option<tokio::task::JoinHandle<()>>>>,
}

/// A session that was live when the server last stopped, as found at start-up.
#[derive(Debug, Clone)]
pub struct RecoveredSession {
    pub id: SessionId,
    pub lost_from: Option<u64>,
    pub lost_to: Option<u64>,
    /// The run the last server left live; its processes are still to be swept.
    pub live_run: Option<String>,
}

impl Registry {
    /// Opens the registry: recovers sessions the last server left live (they become
    /// `interrupted`), then starts the persistence task.
    pub async fn open(
        config: CoreConfig,
        store: Arc<dyn SessionStore>,
        agents: Vec<Arc<dyn Agent>>,
        projects: ProjectIndex,
    ) -> Result<(Registry, Vec<RecoveredSession>), RegistryError> {
        let recovered = {
            let store = Arc::clone(&store);
            tokio::task::spawn_blocking(move || recover_interrupted(store.as_ref()))
                .await
                .map_err(|e| StoreError::Backend(e.to_string()))??
        };
        let (persister, task) = Persister::start(
            Arc::clone(&store),
            config.persist_batch_interval,
            config.persist_batch_frames,
            config.persist_frames,
        );
        let agents = agents.into_iter().map(|a| (a.provider(), a)).collect();
        projects.set_allow_any(config.allow_any_project);
        let shared = Arc::new(Shared {
            config,
            store,
            persister,
            agents,
            projects,
            sessions: Mutex::new(HashMap::new()),
            native: Mutex::new(HashMap::new()),
            permissions: Mutex::new(HashMap::new()),
            running: AtomicUsize::new(0),
            tracker: TaskTracker::new(),
            create_lock: tokio::sync::Mutex::new(()),
            changes: crate::changes::channel(),
            pruning: Mutex::new(std::collections::HashSet::new()),
        });
        Ok((
            Registry {
                shared,
                persist_task: Arc::new(Mutex::new(Some(task))),
            },
            recovered,
        ))
    }

    pub fn projects(&self) -> &ProjectIndex {
        &self.shared.projects
    }

    pub fn config(&self) -> &CoreConfig {
        &self.shared.config
    }

    /// Registers a project (canonical root) in the store and the index.
    pub async fn register_project(&self, root: &std::path::Path) -> Result<Project, RegistryError> {
        let record = Project::record_for(root);
        let store = Arc::clone(&self.shared.store);
        let stored = tokio::task::spawn_blocking(move || store.upsert_project(&record))
            .await
            .map_err(|e| StoreError::Backend(e.to_string()))??;
        let project = Project::from_record(&stored);
        self.shared.projects.add(project.clone());
        Ok(project)
    }

    /// Resolves a command to its session (creating it for a new or adopted id) and checks
    /// everything that can be checked before the session's actor sees it. Nothing is spawned
    /// and no frame is journaled when this fails.
    pub async fn prepare(
        &self,
        command: AgentCommand,
    ) -> Result<(Arc<SessionHandle>, PreparedRun), ProtocolError> {
        let agent = self
            .shared
            .agents
            .get(&command.provider)
            .cloned()
            .ok_or_else(|| {
                ProtocolError::new(
                    ErrorCode::UnknownProvider,
                    format!(
                        "provider {} is not available on this server",
                        command.provider
                    ),
                )
            })?;
        let existing = match &command.target {
            SessionTarget::New => None,
            SessionTarget::Existing(reference) => {
                self.find(reference, Some(command.provider)).await?
            }
        };
        let placement = match (
            &existing,
            command.project_path.is_some() || command.cwd.is_some(),
        ) {
            (Some(handle), false) => {
                let cwd = std::path::PathBuf::from(&handle.cwd);
                let project = self.shared.projects.containing(&cwd)?;
                Placement { project, cwd }
            }
            _ => self
                .shared
                .projects
                .place(command.project_path.as_deref(), command.cwd.as_deref())?,
        };
        if let Some(handle) = &existing {
            if handle.provider != command.provider {
                return Err(ProtocolError::invalid_field(format!(
                    "session {} belongs to provider {}, not {}",
                    handle.id, handle.provider, command.provider
                )));
            }
            if handle
                .project_id
                .as_deref()
                .is_some_and(|id| id != placement.project.id)
            {
                return Err(ProtocolError::invalid_field(format!(
                    "session {} belongs to another project",
                    handle.id
                )));
            }
        }
        let adopt = match (&existing, &command.target) {
            (None, SessionTarget::Existing(native)) => Some(native.clone()),
            _ => None,
        };
        let mut options = command.extra;
        let config = &self.shared.config;
        let images = decode_images(&options, config.max_images, config.max_image_bytes)?;
        // Decoded once; the agent gets file paths, not the base64 again.
        options.remove("images");
        let spec = RunSpec {
            session_id: existing
                .as_ref()
                .map(|h| h.id)
                .unwrap_or_else(SessionId::new_v4),
            run_id: String::new(),
            prompt: command.prompt,
            cwd: placement.cwd.clone(),
            model: command.model,
            permission_mode: command.permission_mode,
            resume: adopt.clone(),
            options,
            continue_only: command.request_type == "cursor-resume",
            attachments: Vec::new(),
        };
        agent.check(&spec).map_err(ProtocolError::invalid_field)?;
        let mut prepared = PreparedRun {
            request_type: command.request_type,
            client_request_id: command.client_request_id,
            queue: command.queue,
            is_new_session: existing.is_none(),
            spec,
            images: Arc::new(images),
        };
        let handle = match existing {
            Some(handle) => handle,
            None => {
                let (handle, created) = self
                    .create(
                        command.provider,
                        &placement,
                        adopt,
                        prepared.spec.session_id,
                        prepared.spec.model.clone(),
                    )
                    .await;
                if !created {
                    // Another command adopted the same native id first: this one joins it.
                    prepared.is_new_session = false;
                    prepared.spec.session_id = handle.id;
                }
                handle
            }
        };
        Ok((handle, prepared))
    }

    /// Creates a new session (or, for an adopted native id, returns the one another command
    /// just created for it). Creations are serialized: they are rare, and it keeps "check the
    /// native index, queue the record, publish the handle" one step.
    async fn create(
        &self,
        provider: Provider,
        placement: &Placement,
        native_id: Option<String>,
        id: SessionId,
        model: Option<String>,
    ) -> (Arc<SessionHandle>, bool) {
        let _creating = self.shared.create_lock.lock().await;
        if let Some(native_id) = &native_id {
            let existing = self
                .shared
                .native
                .lock()
                .get(&(provider, native_id.clone()))
                .copied();
            if let Some(handle) =
                existing.and_then(|id| self.shared.sessions.lock().get(&id).cloned())
            {
                return (handle, false);
            }
        }
        let now = now_ms();
        let record = SessionRecord {
            id,
            provider,
            project_id: placement
                .project
                .is_registered()
                .then(|| placement.project.id.clone()),
            project_name: Some(placement.project.project_name.clone()),
            cwd: placement.cwd.to_string_lossy().into_owned(),
            native_id: native_id.clone(),
            model,
            state: RunState::Running,
            created_at: now,
            updated_at: now,
            start_time: None,
            seq_reserved: self.shared.config.seq_block,
            last_persisted_seq: 0,
            live_run: None,
        };
        // Queued before any of the session's frames can be (the handle is not published yet).
        // It is not awaited: if the server dies before the batch commits, the session simply
        // never existed, and no seq of it can be reused.
        self.shared
            .persister
            .write(StoreWrite::CreateSession(record.clone()))
            .await;
        let handle = session::spawn(Arc::clone(&self.shared), &record, true);
        if let Some(native_id) = native_id {
            self.shared.native.lock().insert((provider, native_id), id);
        }
        self.shared.sessions.lock().insert(id, Arc::clone(&handle));
        (handle, true)
    }

    /// Finds a session by our id or by a provider's native id, loading it from the store if
    /// it is not in memory.
    pub async fn find(
        &self,
        reference: &str,
        provider: Option<Provider>,
    ) -> Result<Option<Arc<SessionHandle>>, ProtocolError> {
        if let Some(id) = SessionId::parse(reference) {
            if let Some(handle) = self.load(id).await? {
                return Ok(Some(handle));
            }
        }
        let providers: Vec<Provider> = match provider {
            Some(p) => vec![p],
            None => Provider::ALL.to_vec(),
        };
        for provider in providers {
            let cached = self
                .shared
                .native
                .lock()
                .get(&(provider, reference.to_owned()))
                .copied();
            let id = match cached {
                Some(id) => Some(id),
                None => {
                    let store = Arc::clone(&self.shared.store);
                    let reference = reference.to_owned();
                    blocking(move || store.find_by_native_id(provider, &reference)).await?
                }
            };
            if let Some(id) = id {
                if let Some(handle) = self.load(id).await? {
                    return Ok(Some(handle));
                }
            }
        }
        Ok(None)
    }

    async fn load(&self, id: SessionId) -> Result<Option<Arc<SessionHandle>>, ProtocolError> {
        if let Some(handle) = self.shared.sessions.lock().get(&id) {
            return Ok(Some(Arc::clone(handle)));
        }
        let store = Arc::clone(&self.shared.store);
        let Some(record) = blocking(move || store.load_session(&id)).await? else {
            return Ok(None);
        };
        let mut sessions = self.shared.sessions.lock();
        if let Some(handle) = sessions.get(&id) {
            return Ok(Some(Arc::clone(handle)));
        }
        if self.shared.pruning.lock().contains(&id) {
            // Retention is removing it (it was finished and idle): it is gone.
            return Ok(None);
        }
        let handle = session::spawn(Arc::clone(&self.shared), &record, false);
        if let Some(native) = &record.native_id {
            self.shared
                .native
                .lock()
                .insert((record.provider, native.clone()), id);
        }
        sessions.insert(id, Arc::clone(&handle));
        Ok(Some(handle))
    }

    /// Attaches a live receiver to a session, atomically with respect to its unloading.
    pub async fn attach(
        &self,
        reference: &str,
        provider: Option<Provider>,
    ) -> Result<(Arc<SessionHandle>, LiveReceiver), ProtocolError> {
        for _ in 0..3 {
            let handle = self
                .find(reference, provider)
                .await?
                .ok_or_else(|| unknown_session(reference))?;
            let sessions = self.shared.sessions.lock();
            if sessions
                .get(&handle.id)
                .is_some_and(|h| Arc::ptr_eq(h, &handle))
            {
                let rx = handle.live.subscribe();
                return Ok((handle, rx));
            }
        }
        Err(ProtocolError::new(
            ErrorCode::Internal,
            "the session kept unloading; try again",
        ))
    }

    /// Live receiver for a handle just returned by [`Registry::prepare`].
    pub fn attach_handle(&self, handle: &Arc<SessionHandle>) -> Option<LiveReceiver> {
        let sessions = self.shared.sessions.lock();
        sessions
            .get(&handle.id)
            .filter(|h| Arc::ptr_eq(h, handle))
            .map(|h| h.live.subscribe())
    }

    /// Hands a prepared command to its session's actor.
    pub async fn submit(&self, handle: &Arc<SessionHandle>, run: PreparedRun) -> RunReply {
        let mut handle = Arc::clone(handle);
        for _ in 0..3 {
            let (reply, answer) = oneshot::channel();
            let command = SessionCommand::Run {
                run: Box::new(run.clone()),
                reply,
            };
            if self.send(&handle, command) {
                return answer.await.unwrap_or_else(|_| {
                    RunReply::Rejected(ProtocolError::new(
                        ErrorCode::Internal,
                        "the session stopped",
                    ))
                });
            }
            // The session left memory between lookup and send: load it again.
            match self.load(handle.id).await {
                Ok(Some(fresh)) => handle = fresh,
                Ok(None) => break,
                Err(e) => return RunReply::Rejected(e),
            }
        }
        RunReply::Rejected(ProtocolError::new(
            ErrorCode::Internal,
            "the session kept unloading; try again",
        ))
    }

    pub async fn abort(
        &self,
        reference: &str,
        provider: Option<Provider>,
    ) -> Result<(Option<Arc<SessionHandle>>, AbortOutcome), ProtocolError> {
        let Some(handle) = self.find(reference, provider).await? else {
            return Ok((None, AbortOutcome::NotFound));
        };
        // A provider hint narrows native ids; our own ids are unambiguous (the seed defaulted
        // the hint to claude, so a mismatch there is not a reason to refuse).
        let ours = SessionId::parse(reference).is_some_and(|id| id == handle.id);
        if !ours && provider.is_some_and(|p| p != handle.provider) {
            return Ok((None, AbortOutcome::NotFound));
        }
        for _ in 0..3 {
            let (reply, answer) = oneshot::channel();
            if self.send(&handle, SessionCommand::Abort { reply }) {
                if let Ok(outcome) = answer.await {
                    return Ok((Some(handle), outcome));
                }
            }
        }
        Err(ProtocolError::new(
            ErrorCode::Internal,
            "the session did not answer the abort",
        ))
    }

    pub async fn permission_response(
        &self,
        response: PermissionResponse,
    ) -> Result<(), ProtocolError> {
        let session = self
            .shared
            .permissions
            .lock()
            .get(&response.request_id)
            .copied();
        let request_id = response.request_id.clone();
        let not_pending = || {
            ProtocolError::invalid_field(format!(
                "no pending permission request {request_id:?} (answered already, cancelled, or unknown)"
            ))
        };
        let session = session.ok_or_else(not_pending)?;
        let handle = self
            .shared
            .sessions
            .lock()
            .get(&session)
            .cloned()
            .ok_or_else(not_pending)?;
        let (reply, answer) = oneshot::channel();
        if !self.send(&handle, SessionCommand::Permission { response, reply }) {
            return Err(not_pending());
        }
        match answer.await {
            Ok(true) => Ok(()),
            _ => Err(not_pending()),
        }
    }

    /// Whether a run of `provider` is live in this server now.
    pub fn has_running(&self, provider: Provider) -> bool {
        self.shared
            .sessions
            .lock()
            .values()
            .any(|h| h.provider == provider && h.state() == RunState::Running)
    }

    pub fn active_sessions(&self) -> ActiveSessions {
        let mut sessions: BTreeMap<String, Vec<SessionId>> = Provider::ALL
            .iter()
            .map(|p| (p.as_str().to_owned(), Vec::new()))
            .collect();
        let mut details = Vec::new();
        for handle in self.shared.sessions.lock().values() {
            if handle.state() != RunState::Running {
                continue;
            }
            sessions
                .entry(handle.provider.as_str().to_owned())
                .or_default()
                .push(handle.id);
            details.push(ActiveSessionDetail {
                session_id: handle.id,
                provider: handle.provider,
                state: RunState::Running,
                start_time: handle.start_time(),
                project_name: handle.project_name.clone(),
                provider_session_id: handle.native_id(),
            });
        }
        details.sort_by_key(|d| d.start_time);
        ActiveSessions { sessions, details }
    }

    /// Stops every session: live runs are interrupted (their agents stopped and swept) and
    /// end `interrupted`; then the journal is flushed.
    pub async fn shutdown(&self) {
        let handles: Vec<Arc<SessionHandle>> =
            self.shared.sessions.lock().values().cloned().collect();
        let mut waits = Vec::new();
        for handle in handles {
            let (done, wait) = oneshot::channel();
            if handle
                .commands
                .try_send(SessionCommand::Shutdown { done })
                .is_ok()
            {
                waits.push(wait);
            } else if handle
                .commands
                .send(SessionCommand::Shutdown {
                    done: oneshot::channel().0,
                })
                .await
                .is_ok()
            {
                // Mailbox was full; the second send waited for room. Nothing to wait on.
            }
        }
        let deadline = self.shared.config.abort_grace + std::time::Duration::from_secs(5);
        let _ = tokio::time::timeout(deadline, futures_join_all(waits)).await;
        let _ = self.shared.persister.flush().await;
    }

    fn send(&self, handle: &Arc<SessionHandle>, command: SessionCommand) -> bool {
        let sessions = self.shared.sessions.lock();
        if !sessions
            .get(&handle.id)
            .is_some_and(|h| Arc::ptr_eq(h, handle))
        {
            return false;
        }
        handle.commands.try_send(command).is_ok()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        if Arc::strong_count(&self.persist_task) == 1 {
            if let Some(task) = self.persist_task.lock().take() {
                drop(task);
            }
        }
    }
}

async fn futures_join_all(waits: Vec<oneshot::Receiver<()>>) {
    for wait in waits {
        let _ = wait.await;
    }
}

fn unknown_session(reference: &str) -> ProtocolError {
    ProtocolError::new(
        ErrorCode::UnknownSession,
        format!("no session {reference:?}"),
    )
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ProtocolError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ProtocolError::new(ErrorCode::Internal, e.to_string()))?
        .map_err(|e| ProtocolError::new(ErrorCode::Internal, e.to_string()))
}

/// Marks every session the last server left live as `interrupted`, journaling the terminal
/// frames with seqs above anything that may have been sent, and announcing the range that
/// may have been sent but was never persisted.
fn recover_interrupted(store: &dyn SessionStore) -> Result<Vec<RecoveredSession>, StoreError> {
    let mut recovered = Vec::new();
    for record in store.live_sessions()? {
        let persisted = record.last_persisted_seq;
        let reserved = record.seq_reserved.max(persisted);
        let (lost_from, lost_to) = if reserved > persisted {
            (Some(persisted + 1), Some(reserved))
        } else {
            (None, None)
        };
        let encoder = record.frame_encoder();
        let error = "the server stopped while the run was live".to_string();
        let error_frame = encoder.encode_to_vec(
            &format!("{}-error", record.provider.frame_prefix()),
            reserved + 1,
            &AgentErrorFrame {
                error: error.clone(),
                exit_code: None,
                reason: TerminalReason::ServerRestart,
                actual_session_id: record.native_id.clone(),
            },
        );
        let state_frame = encoder.encode_to_vec(
            "session-state-changed",
            reserved + 2,
            &SessionStateChanged {
                state: RunState::Interrupted,
                reason: TerminalReason::ServerRestart,
                changed_at: now_ms(),
                exit_code: None,
                error: Some(error),
                abort_requested: Some(false),
                lost_from,
                lost_to,
            },
        );
        store.apply(&[
            StoreWrite::Frame {
                session: record.id,
                seq: reserved + 1,
                bytes: error_frame.into(),
            },
            StoreWrite::Frame {
                session: record.id,
                seq: reserved + 2,
                bytes: state_frame.into(),
            },
            StoreWrite::SetSeqReserved {
                session: record.id,
                seq: reserved + 2,
            },
            StoreWrite::UpdateSession(SessionUpdate {
                id: record.id,
                state: RunState::Interrupted,
                native_id: record.native_id.clone(),
                model: record.model.clone(),
                updated_at: now_ms(),
                start_time: record.start_time,
                live_run: None,
            }),
        ])?;
        recovered.push(RecoveredSession {
            id: record.id,
            lost_from,
            lost_to,
            live_run: record.live_run.clone(),
        });
    }
    Ok(recovered)
}

//! The seam between the session core and the agents.
//!
//! `core` drives every provider through [`Agent`] and learns what happened only through
//! [`AgentOutput`]. It never names a concrete provider: the binary registers them. That keeps
//! the core testable with an in-process fake agent, and a new provider touches one module.
//!
//! The contract of one run:
//! - the agent writes its output into `RunIo::output`, in order;
//! - the last thing it writes is exactly one [`AgentOutput::Exit`], after every process it
//!   started is gone;
//! - `RunIo::abort` asks it to stop: interrupt, grace period, kill, sweep;
//! - a [`PermissionAsk`] is answered (or dropped, which means deny) by the core.
//!
//! The output channel is bounded on purpose: when the core falls behind, the agent stops
//! reading its child's stdout and the child blocks on its pipe. Nothing is dropped and
//! memory stays bounded.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use switchboard_protocol::event::AgentEvent;
use switchboard_protocol::lifecycle::AgentExit;
use switchboard_protocol::{PermissionMode, Provider, RawJson, SessionId};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

pub use futures_boxed::BoxFuture;

mod futures_boxed {
    use std::future::Future;
    use std::pin::Pin;
    /// A boxed, sendable future (what [`super::Agent::run`] returns).
    pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;
}

/// Everything an agent needs to start one run. All values were checked at the edge.
#[derive(Debug, Clone)]
pub struct RunSpec {
    pub session_id: SessionId,
    /// A unique id for this run; agents mark their processes with it so that every
    /// descendant can be found and swept.
    pub run_id: String,
    pub prompt: String,
    /// The working directory, canonical and inside a registered project.
    pub cwd: PathBuf,
    pub model: Option<String>,
    pub permission_mode: Option<PermissionMode>,
    /// The provider's own session id to resume, if any.
    pub resume: Option<String>,
    /// The raw command options, for provider-specific settings.
    pub options: serde_json::Map<String, Value>,
    /// True for the legacy `cursor-resume`, which carries no prompt.
    pub continue_only: bool,
    /// Images attached to the prompt, decoded by the core into a folder of this run's that is
    /// removed when the run ends.
    pub attachments: Vec<PathBuf>,
}

impl RunSpec {
    /// The client's prompt, or "Continue." for a turn that carries none (the legacy
    /// `cursor-resume`): every CLI needs some text to run a turn.
    pub fn prompt_or_continue(&self) -> &str {
        if self.prompt.trim().is_empty() {
            "Continue."
        } else {
            &self.prompt
        }
    }

    /// The permission mode this run is under: see [`effective_permission_mode`].
    pub fn effective_permission_mode(&self) -> PermissionMode {
        effective_permission_mode(self.permission_mode, &self.options)
    }

    /// The text of this turn for agents that take attachments as paths in the prompt: the
    /// prompt, then one line per attached file.
    pub fn turn_text(&self) -> String {
        let prompt = self.prompt_or_continue();
        if self.attachments.is_empty() {
            return prompt.to_owned();
        }
        let mut text = format!("{prompt}\n\nAttached images (read them from these paths):");
        for path in &self.attachments {
            text.push_str("\n- ");
            text.push_str(&path.to_string_lossy());
        }
        text
    }
}

/// The permission mode of a command, the same rule for every provider: an explicit
/// `permissionMode` wins; otherwise the seed's `skipPermissions` (top level or in
/// `toolsSettings`) means bypass, and anything else `default`.
pub fn effective_permission_mode(
    mode: Option<PermissionMode>,
    options: &serde_json::Map<String, Value>,
) -> PermissionMode {
    if let Some(mode) = mode {
        return mode;
    }
    let skip = |v: Option<&Value>| v.and_then(Value::as_bool).unwrap_or(false);
    let tools = options.get("toolsSettings");
    if skip(options.get("skipPermissions")) || skip(tools.and_then(|t| t.get("skipPermissions"))) {
        PermissionMode::BypassPermissions
    } else {
        PermissionMode::Default
    }
}

/// Supervision limits that apply to every process-based agent.
#[derive(Debug, Clone)]
pub struct RunLimits {
    /// Interrupt → SIGKILL.
    pub abort_grace: Duration,
    /// The longest line read from an agent; longer lines are cut and reported.
    pub max_line_bytes: usize,
}

impl Default for RunLimits {
    fn default() -> Self {
        Self {
            abort_grace: Duration::from_secs(5),
            max_line_bytes: 64 * 1024 * 1024,
        }
    }
}

/// The channels of one run.
pub struct RunIo {
    pub output: mpsc::Sender<AgentOutput>,
    /// Extra environment for the agent's processes, from the operator's config
    /// (`[agents.<provider>.env]`).
    pub env: Vec<(String, String)>,
    /// Cancelled when a client aborts the run (or the server shuts down).
    pub abort: CancellationToken,
    pub limits: RunLimits,
}

/// One line of agent output, already understood.
#[derive(Debug)]
pub struct AgentLine {
    pub event: AgentEvent,
    /// The provider's own line as JSON: the parsed line for JSON output, a JSON string for
    /// anything else (stderr, plain text).
    pub raw: RawJson,
}

impl AgentLine {
    /// A non-JSON line (stderr or plain stdout): `data` is the text as a JSON string.
    pub fn text(event: AgentEvent, text: &str) -> Self {
        Self {
            event,
            raw: RawJson::string(text),
        }
    }
}

/// The decision sent back for a [`PermissionAsk`].
#[derive(Debug, Clone, PartialEq)]
pub struct PermissionDecision {
    pub allow: bool,
    pub message: Option<String>,
    pub updated_input: Option<Value>,
    /// Allow this tool for the rest of the run.
    pub remember: bool,
}

impl PermissionDecision {
    pub fn deny(message: impl Into<String>) -> Self {
        Self {
            allow: false,
            message: Some(message.into()),
            updated_input: None,
            remember: false,
        }
    }
}

/// The agent asks a client before running a tool. Dropping `reply` without sending means
/// deny: the core does that on timeout and on abort.
#[derive(Debug)]
pub struct PermissionAsk {
    pub request_id: String,
    pub tool_name: String,
    pub input: Value,
    pub reply: oneshot::Sender<PermissionDecision>,
}

/// Context-window usage, reported as a `token-budget` frame.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenBudgetReport {
    pub used: u64,
    pub total: u64,
    pub breakdown: Option<Value>,
}

/// What an agent reports during a run.
#[derive(Debug)]
pub enum AgentOutput {
    Line(AgentLine),
    TokenBudget(TokenBudgetReport),
    Permission(PermissionAsk),
    /// The last message of every run.
    Exit(AgentExit),
}

/// Where an agent that runs the conversation itself keeps it.
///
/// CLI agents keep their own transcripts. The HTTP agent loop (`openrouter`, `local`) talks to
/// a stateless Chat Completions API that remembers nothing, so every request carries the whole
/// conversation, and a resumed session must find it again after the server restarts. That
/// history belongs in Switchboard's store, but the agents crate must not depend on a database:
/// this trait is the seam. The server implements it on its SQLite store
/// (`switchboard_store::conversations`) and hands it to the agents it builds; tests can use an
/// in-memory one.
///
/// Messages are opaque JSON values (the API's own message objects), appended in order and
/// loaded back in that order, keyed by the agent's native session id. The calls block (the
/// store is synchronous): agents make them from `spawn_blocking`.
pub trait ConversationLog: Send + Sync + 'static {
    /// Every message stored for `conversation`, oldest first (empty when none is stored).
    fn load(&self, conversation: &str) -> Result<Vec<Value>, ConversationError>;
    /// Appends `messages` after the ones already stored, in one transaction.
    fn append(&self, conversation: &str, messages: &[Value]) -> Result<(), ConversationError>;
}

/// What a [`ConversationLog`] reports when its storage fails.
#[derive(Debug, thiserror::Error)]
pub enum ConversationError {
    #[error("the conversation store failed: {0}")]
    Storage(String),
    #[error("a stored conversation message is corrupt: {0}")]
    Corrupt(String),
}

/// One provider. `run` returns the future that drives a run to its end; the core spawns it.
pub trait Agent: Send + Sync + 'static {
    fn provider(&self) -> Provider;

    /// The model used when a command names none, for `session-created`.
    fn default_model(&self) -> Option<String> {
        None
    }

    /// For providers that let the caller choose the session id (`claude --session-id`,
    /// `gemini --session-id`): the native id this run will have, known before it starts, so
    /// `session-created` can carry it. None when the provider reveals its id only in its
    /// output.
    fn chosen_native_id(&self, _spec: &RunSpec) -> Option<String> {
        None
    }

    /// Refuses a request this provider cannot honour (for example a permission mode it
    /// cannot enforce), before anything is accepted or spawned.
    fn check(&self, _spec: &RunSpec) -> Result<(), String> {
        Ok(())
    }

    fn run(&self, spec: RunSpec, io: RunIo) -> BoxFuture<()>;
}

//! Server → client messages.
//!
//! Two families:
//! - **journaled frames** belong to a session. They carry `sessionId`, `provider`, `seq` and
//!   `projectName`, go to every subscriber of the session, and are replayed on attach;
//! - **replies** (`session-busy`, `session-status`, `active-sessions`, `error`, and
//!   `session-aborted` for an unknown session) go only to the connection that asked, and
//!   have no `seq`.
//!
//! A journaled frame is serialized once, by [`encode_journaled`], and the same bytes go to the
//! journal and to every socket.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ErrorCode;
use crate::event::AgentEvent;
use crate::ids::{Provider, SessionId};
use crate::lifecycle::{RunState, TerminalReason};

/// The fields every journaled frame starts with.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JournalHeader {
    pub session_id: SessionId,
    pub provider: Provider,
    /// 1, 2, 3, … per session, across runs, never reused (not even after a crash).
    pub seq: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_name: Option<String>,
    /// The registered project's stable id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
}

/// A journaled frame: the header, then the body's own fields.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Journaled<B> {
    #[serde(flatten)]
    pub header: JournalHeader,
    #[serde(flatten)]
    pub body: B,
}

#[derive(Serialize)]
struct JournaledOut<'a, B: Serialize + ?Sized> {
    #[serde(rename = "type")]
    frame_type: &'a str,
    #[serde(flatten)]
    header: &'a JournalHeader,
    #[serde(flatten)]
    body: &'a B,
}

/// Serializes a journaled frame once; the bytes are shared by the journal and every socket.
pub fn encode_journaled<B: Serialize + ?Sized>(
    frame_type: &str,
    header: &JournalHeader,
    body: &B,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    serde_json::to_writer(
        &mut out,
        &JournaledOut {
            frame_type,
            header,
            body,
        },
    )
    .expect("journaled frames always serialize");
    out
}

#[derive(Serialize)]
struct ReplyOut<'a, B: Serialize + ?Sized> {
    #[serde(rename = "type")]
    frame_type: &'a str,
    #[serde(flatten)]
    body: &'a B,
}

/// Serializes a reply frame.
pub fn encode_reply<B: Serialize + ?Sized>(frame_type: &str, body: &B) -> Vec<u8> {
    serde_json::to_vec(&ReplyOut { frame_type, body }).expect("replies always serialize")
}

// ---- journaled bodies ---------------------------------------------------------------------

/// `session-accepted`: the command will run now. First frame of every run.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionAccepted {
    pub request_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_request_id: Option<String>,
    pub accepted_at: u64,
    /// True when this command created the session.
    pub is_new_session: bool,
    /// The turn's prompt as the client sent it (absent for a turn without one, such as
    /// `cursor-resume`). Journaled, so every client and every reload can show what was asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
}

/// `session-queued`: the command waits behind the running run.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionQueued {
    pub request_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_request_id: Option<String>,
    /// 1 = next to run.
    pub position: usize,
    pub queued_at: u64,
}

/// `session-created`: once per new session, before any agent output.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionCreated {
    /// The provider's own id for this session, when known at this point.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_session_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub cwd: String,
    pub start_time: u64,
}

/// `session-state-changed`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionStateChanged {
    pub state: RunState,
    pub reason: TerminalReason,
    pub changed_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Present on terminal states: whether an abort was requested before the exit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort_requested: Option<bool>,
    /// `interrupted` only: the first seq that may have been sent but was never persisted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost_from: Option<u64>,
    /// `interrupted` only: the last seq that may have been sent but was never persisted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost_to: Option<u64>,
}

/// The answer to an abort request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AbortOutcome {
    /// The run was live; its processes are being stopped. `aborted` state follows.
    Aborted,
    /// The session exists but no run was live.
    AlreadyFinished,
    /// No such session.
    NotFound,
}

/// `session-aborted`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionAborted {
    pub success: bool,
    pub outcome: AbortOutcome,
    /// How many queued commands the abort discarded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleared_queue: Option<usize>,
}

/// `session-aborted` for an unknown session: a reply, not journaled.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionAbortedNotFound {
    /// The id as the client sent it.
    pub session_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<Provider>,
    pub success: bool,
    pub outcome: AbortOutcome,
}

/// `<provider>-response`: one line of agent output.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct AgentResponse {
    pub event: AgentEvent,
    /// The provider's own line, unchanged: a JSON value, or a string for a non-JSON line.
    pub data: Value,
}

/// Borrowing twin of [`AgentResponse`] for the hot path: `data` is the agent's line, copied
/// into the frame without being parsed into a tree again.
#[derive(Serialize)]
pub struct AgentResponseOut<'a> {
    pub event: &'a AgentEvent,
    pub data: &'a serde_json::value::RawValue,
}

/// `<provider>-complete`: the run ended (completed, or aborted with `aborted: true`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentComplete {
    pub exit_code: Option<i32>,
    pub is_new_session: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aborted: Option<bool>,
    /// The provider's own session id, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual_session_id: Option<String>,
}

/// `<provider>-error`: the run failed (or was interrupted by a server restart).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentErrorFrame {
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// `spawn-failed`, `exit`, `agent-error` or `server-restart`.
    pub reason: TerminalReason,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual_session_id: Option<String>,
}

/// `token-budget`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TokenBudget {
    pub data: TokenBudgetData,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenBudgetData {
    pub used: u64,
    pub total: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breakdown: Option<Value>,
}

/// `claude-permission-request`: the agent waits for a client's decision.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PermissionRequest {
    pub request_id: String,
    pub tool_name: String,
    pub input: Value,
    pub created_at: u64,
    /// When the request is cancelled (and the tool denied) if nobody answers.
    pub expires_at: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PermissionCancelReason {
    Timeout,
    Cancelled,
}

/// `claude-permission-cancelled`: a pending request ended without an answer.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PermissionCancelled {
    pub request_id: String,
    pub reason: PermissionCancelReason,
}

// ---- replies --------------------------------------------------------------------------------

pub const BUSY_MESSAGE: &str =
    "Session is already running. Wait for completion or stop it before sending another command.";

/// `session-busy`: the session runs already and the command did not ask to queue.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionBusy {
    pub session_id: SessionId,
    pub provider: Provider,
    pub request_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_request_id: Option<String>,
    pub is_processing: bool,
    /// Always `session-already-active`.
    pub reason: String,
    pub message: String,
    pub reported_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_name: Option<String>,
}

/// `session-status`: the snapshot sent on `check-session-status` and `subscribe`, before any
/// replayed frame.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionStatus {
    pub session_id: SessionId,
    pub provider: Provider,
    /// Always present (the seed omitted it for idle claude sessions).
    pub is_processing: bool,
    pub state: RunState,
    /// When the current (or last) run started.
    pub start_time: Option<u64>,
    /// The highest seq journaled so far.
    pub last_seq: u64,
    /// Every pending `claude-permission-request` frame, in full.
    pub pending_permissions: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_session_id: Option<String>,
}

/// `active-sessions`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ActiveSessions {
    /// Running session ids per provider; every provider has a key, possibly empty.
    pub sessions: BTreeMap<String, Vec<SessionId>>,
    /// The same sessions with details.
    pub details: Vec<ActiveSessionDetail>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActiveSessionDetail {
    pub session_id: SessionId,
    pub provider: Provider,
    pub state: RunState,
    pub start_time: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_session_id: Option<String>,
}

/// `error`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorFrame {
    pub code: ErrorCode,
    pub message: String,
    /// The seed's field: the same text as `message`.
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_request_id: Option<String>,
}

impl ErrorFrame {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            code,
            error: message.clone(),
            message,
            request_type: None,
            client_request_id: None,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        encode_reply("error", self)
    }
}

/// `session-aborted` is journaled when the session exists, a reply when it does not.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum SessionAbortedFrame {
    Journaled(Journaled<SessionAborted>),
    NotFound(SessionAbortedNotFound),
}

/// Every server message type, for the schema. `<provider>` is one of the seven providers'
/// frame prefixes: claude, cursor, codex, gemini, openrouter, localgpu, nano.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type")]
pub enum ServerMessageSchema {
    #[serde(rename = "session-accepted")]
    SessionAccepted(Journaled<SessionAccepted>),
    #[serde(rename = "session-queued")]
    SessionQueued(Journaled<SessionQueued>),
    #[serde(rename = "session-created")]
    SessionCreated(Journaled<SessionCreated>),
    #[serde(rename = "session-state-changed")]
    SessionStateChanged(Journaled<SessionStateChanged>),
    #[serde(rename = "session-aborted")]
    SessionAborted(SessionAbortedFrame),
    #[serde(rename = "claude-response")]
    ClaudeResponse(Journaled<AgentResponse>),
    #[serde(rename = "cursor-response")]
    CursorResponse(Journaled<AgentResponse>),
    #[serde(rename = "codex-response")]
    CodexResponse(Journaled<AgentResponse>),
    #[serde(rename = "gemini-response")]
    GeminiResponse(Journaled<AgentResponse>),
    #[serde(rename = "openrouter-response")]
    OpenrouterResponse(Journaled<AgentResponse>),
    #[serde(rename = "localgpu-response")]
    LocalgpuResponse(Journaled<AgentResponse>),
    #[serde(rename = "nano-response")]
    NanoResponse(Journaled<AgentResponse>),
    #[serde(rename = "claude-complete")]
    ClaudeComplete(Journaled<AgentComplete>),
    #[serde(rename = "cursor-complete")]
    CursorComplete(Journaled<AgentComplete>),
    #[serde(rename = "codex-complete")]
    CodexComplete(Journaled<AgentComplete>),
    #[serde(rename = "gemini-complete")]
    GeminiComplete(Journaled<AgentComplete>),
    #[serde(rename = "openrouter-complete")]
    OpenrouterComplete(Journaled<AgentComplete>),
    #[serde(rename = "localgpu-complete")]
    LocalgpuComplete(Journaled<AgentComplete>),
    #[serde(rename = "nano-complete")]
    NanoComplete(Journaled<AgentComplete>),
    #[serde(rename = "claude-error")]
    ClaudeError(Journaled<AgentErrorFrame>),
    #[serde(rename = "cursor-error")]
    CursorError(Journaled<AgentErrorFrame>),
    #[serde(rename = "codex-error")]
    CodexError(Journaled<AgentErrorFrame>),
    #[serde(rename = "gemini-error")]
    GeminiError(Journaled<AgentErrorFrame>),
    #[serde(rename = "openrouter-error")]
    OpenrouterError(Journaled<AgentErrorFrame>),
    #[serde(rename = "localgpu-error")]
    LocalgpuError(Journaled<AgentErrorFrame>),
    #[serde(rename = "nano-error")]
    NanoError(Journaled<AgentErrorFrame>),
    #[serde(rename = "token-budget")]
    TokenBudget(Journaled<TokenBudget>),
    #[serde(rename = "claude-permission-request")]
    PermissionRequest(Journaled<PermissionRequest>),
    #[serde(rename = "claude-permission-cancelled")]
    PermissionCancelled(Journaled<PermissionCancelled>),
    #[serde(rename = "session-busy")]
    SessionBusy(SessionBusy),
    #[serde(rename = "session-status")]
    SessionStatus(SessionStatus),
    #[serde(rename = "active-sessions")]
    ActiveSessions(ActiveSessions),
    #[serde(rename = "error")]
    Error(ErrorFrame),
}

/// The journaled frame types (with `<provider>` standing for each frame prefix).
pub const JOURNALED_TYPES: &[&str] = &[
    "session-accepted",
    "session-queued",
    "session-created",
    "session-state-changed",
    "session-aborted",
    "<provider>-response",
    "<provider>-complete",
    "<provider>-error",
    "token-budget",
    "claude-permission-request",
    "claude-permission-cancelled",
];

/// The reply types, which have no `seq`.
pub const REPLY_TYPES: &[&str] = &["session-busy", "session-status", "active-sessions", "error"];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn header() -> JournalHeader {
        JournalHeader {
            session_id: SessionId::parse("2f1e7a4c-8d7b-4c36-9a51-0c3d2b1a9e8f").unwrap(),
            provider: Provider::Cursor,
            seq: 7,
            project_name: Some("-srv-demo".into()),
            project_id: None,
        }
    }

    #[test]
    fn journaled_frame_layout() {
        let bytes = encode_journaled(
            "session-aborted",
            &header(),
            &SessionAborted {
                success: true,
                outcome: AbortOutcome::Aborted,
                cleared_queue: None,
            },
        );
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            v,
            json!({"type":"session-aborted","sessionId":"2f1e7a4c-8d7b-4c36-9a51-0c3d2b1a9e8f",
                   "provider":"cursor","seq":7,"projectName":"-srv-demo","success":true,"outcome":"aborted"})
        );
        // The type comes first, so a reader can dispatch without parsing the whole frame.
        assert!(bytes.starts_with(br#"{"type":"session-aborted""#));
    }

    #[test]
    fn response_keeps_raw_data_byte_for_byte() {
        let raw = serde_json::value::RawValue::from_string(
            r#"{"type":"user","z":1,  "a":[1, 2]}"#.into(),
        )
        .unwrap();
        let bytes = encode_journaled(
            "cursor-response",
            &header(),
            &AgentResponseOut {
                event: &AgentEvent::Other,
                data: &raw,
            },
        );
        let text = String::from_utf8(bytes).unwrap();
        assert!(
            text.ends_with(
                r#""event":{"kind":"other"},"data":{"type":"user","z":1,  "a":[1, 2]}}"#
            ),
            "{text}"
        );
    }

    #[test]
    fn journaled_frames_deserialize_into_the_schema_enum() {
        let bytes = encode_journaled(
            "session-state-changed",
            &header(),
            &SessionStateChanged {
                state: RunState::Completed,
                reason: TerminalReason::Exit,
                changed_at: 1,
                exit_code: Some(0),
                error: None,
                abort_requested: Some(false),
                lost_from: None,
                lost_to: None,
            },
        );
        let msg: ServerMessageSchema = serde_json::from_slice(&bytes).unwrap();
        assert!(matches!(msg, ServerMessageSchema::SessionStateChanged(j) if j.header.seq == 7));
    }

    #[test]
    fn error_frame_carries_code_message_and_seed_error() {
        let mut e = ErrorFrame::new(ErrorCode::QueueFull, "queue is full");
        e.client_request_id = Some("c1".into());
        let v: Value = serde_json::from_slice(&e.encode()).unwrap();
        assert_eq!(
            v,
            json!({"type":"error","code":"queue-full","message":"queue is full","error":"queue is full","clientRequestId":"c1"})
        );
    }
}

//! Server → client messages.
//!
//! Two families:
//! - **journaled frames** belong to a session. They carry `sessionId`, `provider`, `seq` and
//!   `projectName`, go to every subscriber of the session, and are replayed on attach;
//! - **replies** (`session-busy`, `session-status`, `active-sessions`, `error`, and
//!   `session-aborted` for an unknown session) go only to the connection that asked, and
//!   have no `seq`.
//!
//! A journaled frame is serialized once, by a session's [`FrameEncoder`], and the same bytes go
//! to the journal and to every socket.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ErrorCode;
use crate::event::AgentEvent;
use crate::ids::{Provider, SessionId};
use crate::lifecycle::{RunState, TerminalReason};
use crate::raw_json::RawJson;

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

/// The part of a session's journaled frames that never changes, encoded once per session.
///
/// Every frame of a session repeats its id, provider and project; encoding them for each frame
/// (a UUID formatted, strings escaped, and serde's `flatten` machinery around it all) was a
/// fifth of the cost of a frame. Only `type`, `seq` and the body change.
#[derive(Debug, Clone)]
pub struct FrameEncoder {
    /// `,"sessionId":"…","provider":"…","seq":`
    before_seq: Box<[u8]>,
    /// `,"projectName":"…","projectId":"…"` (each only when known)
    after_seq: Box<[u8]>,
}

impl FrameEncoder {
    pub fn new(
        session_id: SessionId,
        provider: Provider,
        project_name: Option<&str>,
        project_id: Option<&str>,
    ) -> Self {
        let mut before_seq = Vec::with_capacity(96);
        before_seq.extend_from_slice(b",\"sessionId\":\"");
        before_seq.extend_from_slice(session_id.to_string().as_bytes());
        before_seq.extend_from_slice(b"\",\"provider\":\"");
        before_seq.extend_from_slice(provider.as_str().as_bytes());
        before_seq.extend_from_slice(b"\",\"seq\":");
        let mut after_seq = Vec::new();
        for (key, value) in [("projectName", project_name), ("projectId", project_id)] {
            if let Some(value) = value {
                after_seq.extend_from_slice(b",\"");
                after_seq.extend_from_slice(key.as_bytes());
                after_seq.extend_from_slice(b"\":");
                write_json(&mut after_seq, value);
            }
        }
        Self {
            before_seq: before_seq.into(),
            after_seq: after_seq.into(),
        }
    }

    /// Appends `{"type":…,<header>,<the body's fields>}` to `out`. The body must serialize as
    /// a JSON object (every journaled body is a struct).
    pub fn encode<B: Serialize + ?Sized>(
        &self,
        frame_type: &str,
        seq: u64,
        body: &B,
        out: &mut Vec<u8>,
    ) {
        self.header(frame_type, seq, out);
        let start = out.len();
        write_json(out, body);
        debug_assert_eq!(out.get(start), Some(&b'{'), "a journaled body is an object");
        if out.len() - start == 2 {
            // `{}`: no fields to add.
            out.truncate(start);
            out.push(b'}');
        } else {
            // The body's fields continue the header's object.
            out[start] = b',';
        }
    }

    /// [`Self::encode`] into a buffer of its own.
    pub fn encode_to_vec<B: Serialize + ?Sized>(
        &self,
        frame_type: &str,
        seq: u64,
        body: &B,
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        self.encode(frame_type, seq, body, &mut out);
        out
    }

    /// Appends a `<provider>-response` frame: `"event"` serialized, `"data"` copied from the
    /// agent's line as it is.
    pub fn encode_response(
        &self,
        frame_type: &str,
        seq: u64,
        event: &AgentEvent,
        data: &RawJson,
        out: &mut Vec<u8>,
    ) {
        self.header(frame_type, seq, out);
        out.extend_from_slice(b",\"event\":");
        write_json(out, event);
        out.extend_from_slice(b",\"data\":");
        out.extend_from_slice(data.get().as_bytes());
        out.push(b'}');
    }

    fn header(&self, frame_type: &str, seq: u64, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"type\":");
        write_json(out, frame_type);
        out.extend_from_slice(&self.before_seq);
        write_json(out, &seq);
        out.extend_from_slice(&self.after_seq);
    }
}

fn write_json<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    serde_json::to_writer(out, value).expect("protocol values always serialize");
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

    fn encoder() -> FrameEncoder {
        FrameEncoder::new(
            SessionId::parse("2f1e7a4c-8d7b-4c36-9a51-0c3d2b1a9e8f").unwrap(),
            Provider::Cursor,
            Some("-srv-demo"),
            None,
        )
    }

    #[test]
    fn journaled_frame_layout() {
        let bytes = encoder().encode_to_vec(
            "session-aborted",
            7,
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
        let raw = RawJson::parse(r#"{"type":"user","z":1,  "a":[1, 2]}"#.into()).unwrap();
        let mut out = Vec::new();
        encoder().encode_response("cursor-response", 7, &AgentEvent::Other, &raw, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            r#"{"type":"cursor-response","sessionId":"2f1e7a4c-8d7b-4c36-9a51-0c3d2b1a9e8f","provider":"cursor","seq":7,"projectName":"-srv-demo","event":{"kind":"other"},"data":{"type":"user","z":1,  "a":[1, 2]}}"#
        );
        let parsed: ServerMessageSchema = serde_json::from_str(&text).unwrap();
        assert!(matches!(parsed, ServerMessageSchema::CursorResponse(_)));
    }

    #[test]
    fn the_encoder_escapes_the_project_and_appends_to_what_is_there() {
        let encoder = FrameEncoder::new(
            SessionId::parse("2f1e7a4c-8d7b-4c36-9a51-0c3d2b1a9e8f").unwrap(),
            Provider::Claude,
            Some("a \"quoted\" name"),
            Some("p1"),
        );
        let mut out = b"[".to_vec();
        encoder.encode(
            "session-created-empty",
            u64::MAX,
            &serde_json::Map::new(),
            &mut out,
        );
        out.push(b',');
        encoder.encode("session-aborted", 1, &json!({"success": false}), &mut out);
        out.push(b']');
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            v,
            json!([
                {"type":"session-created-empty","sessionId":"2f1e7a4c-8d7b-4c36-9a51-0c3d2b1a9e8f",
                 "provider":"claude","seq":u64::MAX,"projectName":"a \"quoted\" name","projectId":"p1"},
                {"type":"session-aborted","sessionId":"2f1e7a4c-8d7b-4c36-9a51-0c3d2b1a9e8f",
                 "provider":"claude","seq":1,"projectName":"a \"quoted\" name","projectId":"p1",
                 "success":false}
            ])
        );
    }

    #[test]
    fn journaled_frames_deserialize_into_the_schema_enum() {
        let bytes = encoder().encode_to_vec(
            "session-state-changed",
            7,
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

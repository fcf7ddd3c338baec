//! The REST API's bodies (`/api/…`, see `docs/api.md`): projects, session history and the
//! agents' own stores. Like the WebSocket types, these are plain data; the server builds them
//! and clients (the `switchboard project` command, browsers) read them. Their JSON Schema is
//! [`api_schema_json`], committed as `docs/api.schema.json`.

use schemars::{schema_for, JsonSchema};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ErrorCode;
use crate::ids::{Provider, SessionId};
use crate::lifecycle::RunState;

/// The longest display name a project may have, in characters.
pub const MAX_DISPLAY_NAME: usize = 200;

/// Every error code a REST response can carry. Where a WebSocket [`ErrorCode`] means the same
/// thing, the REST code has the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ApiErrorCode {
    /// The request body is not valid JSON. HTTP 400.
    BadJson,
    /// A field, query parameter or path segment is missing, malformed or refused. HTTP 400.
    InvalidField,
    /// No route for this path. HTTP 404.
    NotFound,
    /// The path exists, but not with this method. HTTP 405.
    MethodNotAllowed,
    /// No project with that id. HTTP 404.
    UnknownProject,
    /// No session with that id. HTTP 404.
    UnknownSession,
    /// The project has a live or queued run; abort it first. HTTP 409.
    ProjectBusy,
    /// Something failed inside the server. HTTP 500.
    Internal,
}

impl ApiErrorCode {
    pub const ALL: [ApiErrorCode; 8] = [
        ApiErrorCode::BadJson,
        ApiErrorCode::InvalidField,
        ApiErrorCode::NotFound,
        ApiErrorCode::MethodNotAllowed,
        ApiErrorCode::UnknownProject,
        ApiErrorCode::UnknownSession,
        ApiErrorCode::ProjectBusy,
        ApiErrorCode::Internal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ApiErrorCode::BadJson => "bad-json",
            ApiErrorCode::InvalidField => "invalid-field",
            ApiErrorCode::NotFound => "not-found",
            ApiErrorCode::MethodNotAllowed => "method-not-allowed",
            ApiErrorCode::UnknownProject => "unknown-project",
            ApiErrorCode::UnknownSession => "unknown-session",
            ApiErrorCode::ProjectBusy => "project-busy",
            ApiErrorCode::Internal => "internal",
        }
    }

    /// The HTTP status a response with this code has.
    pub fn http_status(self) -> u16 {
        match self {
            ApiErrorCode::BadJson | ApiErrorCode::InvalidField => 400,
            ApiErrorCode::NotFound
            | ApiErrorCode::UnknownProject
            | ApiErrorCode::UnknownSession => 404,
            ApiErrorCode::MethodNotAllowed => 405,
            ApiErrorCode::ProjectBusy => 409,
            ApiErrorCode::Internal => 500,
        }
    }
}

impl std::fmt::Display for ApiErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<ErrorCode> for ApiErrorCode {
    fn from(code: ErrorCode) -> Self {
        match code {
            ErrorCode::BadJson => ApiErrorCode::BadJson,
            ErrorCode::InvalidField
            | ErrorCode::BadFrame
            | ErrorCode::UnknownProvider
            | ErrorCode::ProjectNotRegistered => ApiErrorCode::InvalidField,
            ErrorCode::UnknownSession => ApiErrorCode::UnknownSession,
            _ => ApiErrorCode::Internal,
        }
    }
}

/// Every error response: `{code, message}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ApiError {
    pub code: ApiErrorCode,
    pub message: String,
}

// ---- projects -------------------------------------------------------------------------------

/// A registered project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProjectInfo {
    /// Stable id (a UUID); frames carry it as `projectId`.
    pub id: String,
    /// What people call it; can be renamed.
    pub display_name: String,
    /// Absolute and canonical (symlinks resolved).
    pub path: String,
    /// Unique; by default the seed's `encodeProjectPath` of `path`. Frames carry it.
    pub project_name: String,
    pub created_at: u64,
}

/// `GET /api/projects`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ProjectList {
    pub projects: Vec<ProjectInfo>,
}

/// `POST /api/projects`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateProject {
    /// An existing directory, absolute. It is canonicalized before it is stored.
    pub path: String,
    /// Defaults to the directory's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// `PATCH /api/projects/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateProject {
    pub display_name: String,
}

// ---- session history ------------------------------------------------------------------------

/// One session in a listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionSummary {
    pub session_id: SessionId,
    pub provider: Provider,
    #[serde(default)]
    pub project_id: Option<String>,
    #[serde(default)]
    pub project_name: Option<String>,
    pub state: RunState,
    pub created_at: u64,
    /// The last change of state (or of the native id).
    pub updated_at: u64,
    /// When the current or last run started.
    #[serde(default)]
    pub start_time: Option<u64>,
    /// The provider's own id: what `options.sessionId` resumes, here or in the agent's CLI.
    #[serde(default)]
    pub provider_session_id: Option<String>,
    /// The highest seq journaled.
    pub last_seq: u64,
    /// The conversation's title, when the agent's own store has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// `GET /api/sessions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionPage {
    /// Most recently updated first (then by id).
    pub sessions: Vec<SessionSummary>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// One run of a session, as its journal tells it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunSummary {
    /// The seq of its `session-accepted` frame.
    pub seq: u64,
    pub request_type: String,
    pub accepted_at: u64,
    /// `running` until its terminal `session-state-changed` is journaled.
    pub state: RunState,
    #[serde(default)]
    pub ended_at: Option<u64>,
    #[serde(default)]
    pub exit_code: Option<i32>,
}

/// Token usage added up over every `usage` event of a session.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageTotals {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    /// Only when the provider reports cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    /// How many `usage` events were added up.
    pub reports: u64,
}

/// Sizes of a session's journal.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionCounts {
    /// Stored journaled frames.
    pub frames: u64,
    /// Their size in bytes.
    pub bytes: u64,
    pub runs: u64,
    pub tool_calls: u64,
    pub permission_requests: u64,
}

/// `GET /api/sessions/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionDetail {
    #[serde(flatten)]
    pub summary: SessionSummary,
    /// True while a run is live.
    pub is_processing: bool,
    #[serde(default)]
    pub model: Option<String>,
    /// Where the agent runs (canonical, inside the project).
    pub cwd: String,
    pub counts: SessionCounts,
    pub usage: UsageTotals,
    /// Oldest first; at most the last 100.
    pub runs: Vec<RunSummary>,
}

/// `GET /api/sessions/{id}/events`: the REST twin of `subscribe`'s replay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventsPage {
    /// Journaled frames with `seq > after_seq`, in order, each exactly the bytes the socket
    /// sends.
    pub events: Vec<Value>,
    /// The seq of the last frame in `events` (or `after_seq` when it is empty): pass it as the
    /// next `after_seq`, or as `lastSeq` to `subscribe` to continue live.
    pub next_after_seq: u64,
    /// More frames follow right now.
    pub has_more: bool,
}

// ---- the agents' own stores -----------------------------------------------------------------

/// Where a session was found.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum SessionSource {
    /// Switchboard's own journal.
    Switchboard,
    /// `~/.claude/projects/<slug>/<id>.jsonl`.
    ClaudeStore,
    /// `~/.codex/sessions/**/rollout-*.jsonl`.
    CodexStore,
    /// `~/.gemini/tmp/<slug>/chats/session-*.jsonl`.
    GeminiStore,
}

/// A path where agents have sessions but that is not a registered project: a suggestion, for
/// a person to register (`POST /api/projects`) or not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DiscoveredProject {
    /// The working directory the agents recorded.
    pub path: String,
    /// Whether it is a directory now (only then can it be registered).
    pub exists: bool,
    pub providers: Vec<Provider>,
    pub session_count: u64,
    #[serde(default)]
    pub last_activity: Option<u64>,
    /// The display name it would get.
    pub suggested_name: String,
}

/// `GET /api/projects/discovered`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DiscoveredProjects {
    pub projects: Vec<DiscoveredProject>,
}

/// One conversation of a project, from every source that knows it, merged by the provider's
/// own id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProjectSession {
    pub provider: Provider,
    /// Switchboard's id, when Switchboard ran it.
    #[serde(default)]
    pub session_id: Option<SessionId>,
    /// The provider's id: resume it with `options.sessionId` set to this.
    #[serde(default)]
    pub provider_session_id: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    /// The last thing that happened, in ms.
    #[serde(default)]
    pub last_activity: Option<u64>,
    /// User and assistant messages in the agent's own store, when it has the conversation.
    #[serde(default)]
    pub message_count: Option<u64>,
    /// Switchboard's state for it; `null` for a conversation Switchboard never ran.
    #[serde(default)]
    pub state: Option<RunState>,
    /// The directory it ran in.
    #[serde(default)]
    pub cwd: Option<String>,
    pub sources: Vec<SessionSource>,
}

/// `GET /api/projects/{id}/sessions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProjectSessions {
    /// Most recent activity first.
    pub sessions: Vec<ProjectSession>,
}

/// One message of a normalized conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TranscriptMessage {
    pub role: TranscriptRole,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub text: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<TranscriptToolCall>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_results: Vec<TranscriptToolResult>,
    #[serde(default)]
    pub timestamp: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TranscriptRole {
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TranscriptToolCall {
    pub id: String,
    pub name: String,
    pub input: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TranscriptToolResult {
    pub id: String,
    pub output: Value,
    pub is_error: bool,
}

/// `GET /api/sessions/{id}/transcript`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Transcript {
    pub provider: Provider,
    pub provider_session_id: String,
    pub source: SessionSource,
    pub messages: Vec<TranscriptMessage>,
    /// True when the file had more than the server reads (lines over the line limit, or past
    /// the message limit).
    pub truncated: bool,
}

/// The payload of a `session-upserted` notification: a session started, changed state or
/// ended. (Also what `projects_updated` carries for Switchboard's own sessions.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionUpserted {
    pub session: SessionSummary,
}

/// The payload of a `projects_updated` notification: the agents' own stores changed (a
/// conversation was added or grew). Refetch what you show of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProjectsUpdated {
    pub source: StoresChangeSource,
    pub providers: Vec<Provider>,
    pub changed_at: u64,
}

/// Who most likely changed an agent's store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum StoresChangeSource {
    /// The agent ran outside Switchboard (no run of that provider was live here, or ended in
    /// the last few seconds). Sent to every connection.
    External,
    /// A run of Switchboard's own writes its agent's store as it goes; its lifecycle frames and
    /// `session-upserted` already say so. Sent only to connections that sent `watch-sessions`.
    SwitchboardRun,
}

/// Every REST body, for the schema.
#[derive(JsonSchema, Serialize)]
#[schemars(title = "Switchboard REST API")]
#[allow(dead_code)]
struct Api {
    error: ApiError,
    project: ProjectInfo,
    project_list: ProjectList,
    create_project: CreateProject,
    update_project: UpdateProject,
    session_page: SessionPage,
    session_detail: SessionDetail,
    events_page: EventsPage,
    discovered_projects: DiscoveredProjects,
    project_sessions: ProjectSessions,
    transcript: Transcript,
    session_upserted: SessionUpserted,
    projects_updated: ProjectsUpdated,
}

/// The REST API's JSON Schema, pretty-printed, ending in a newline.
pub fn api_schema_json() -> String {
    let schema = schema_for!(Api);
    let mut text = serde_json::to_string_pretty(&schema).expect("schema serializes");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_serialize_as_documented() {
        for code in ApiErrorCode::ALL {
            assert_eq!(
                serde_json::to_string(&code).unwrap(),
                format!("\"{}\"", code.as_str())
            );
        }
        // Shared names with the WebSocket codes mean the same thing.
        assert_eq!(
            ApiErrorCode::from(ErrorCode::UnknownSession).as_str(),
            ErrorCode::UnknownSession.as_str()
        );
        assert_eq!(
            ApiErrorCode::from(ErrorCode::BadJson).as_str(),
            ErrorCode::BadJson.as_str()
        );
    }

    /// `docs/api.schema.json` must be exactly what the types generate. Regenerate with
    /// `SWITCHBOARD_UPDATE_SCHEMA=1 cargo test -p switchboard-protocol`.
    #[test]
    fn committed_api_schema_matches_the_types() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/api.schema.json");
        let generated = api_schema_json();
        if std::env::var_os("SWITCHBOARD_UPDATE_SCHEMA").is_some() {
            std::fs::write(&path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "docs/api.schema.json is stale; regenerate it with SWITCHBOARD_UPDATE_SCHEMA=1 cargo test -p switchboard-protocol"
        );
    }

    /// Every error code and route is in `docs/api.md`.
    #[test]
    fn api_doc_names_every_code() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/api.md");
        let doc = std::fs::read_to_string(&path).expect("docs/api.md exists");
        let missing: Vec<&str> = ApiErrorCode::ALL
            .iter()
            .map(|c| c.as_str())
            .filter(|c| !doc.contains(&format!("`{c}`")))
            .collect();
        assert!(
            missing.is_empty(),
            "docs/api.md does not mention {missing:?}"
        );
    }
}

//! Client → server messages, parsed (not just validated) at the edge.
//!
//! Parsing happens in two steps so that every failure gets the right code: first the frame
//! must be a JSON object with a string `type` (`bad-json` / `bad-frame`), then the type must
//! be known (`unknown-type`), then the fields must fit (`invalid-field`). The result is a
//! typed [`ClientMessage`] whose values the rest of the server can trust: model names, ids and
//! permission modes have been checked, so nothing a client sends can become a flag or a path
//! outside its project by accident.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{ErrorCode, ProtocolError};
use crate::ids::{PermissionMode, Provider, SessionId};

/// The longest `clientRequestId` accepted.
pub const MAX_CLIENT_REQUEST_ID: usize = 128;
/// The longest session id (ours or a provider's) accepted.
pub const MAX_SESSION_REF: usize = 200;
/// The longest model name accepted.
pub const MAX_MODEL_NAME: usize = 128;

/// A parsed client message.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientMessage {
    /// `<provider>-command`, or the legacy `cursor-resume`.
    Command(Box<AgentCommand>),
    /// `abort-session`, or the legacy `cursor-abort`.
    Abort {
        session_ref: String,
        provider: Option<Provider>,
        request_type: &'static str,
        client_request_id: Option<String>,
    },
    /// `check-session-status`: a status reply, and attachment for live frames (and for the
    /// frames after `lastSeq` when it is given).
    CheckSessionStatus {
        session_ref: String,
        provider: Option<Provider>,
        last_seq: Option<u64>,
    },
    /// `subscribe`: status reply, replay of every journaled frame after `lastSeq`, then live.
    Subscribe {
        session_ref: String,
        last_seq: u64,
    },
    /// `watch-sessions`: from now on, this connection also gets the session and project list
    /// updates (`session-upserted`, `session-removed`, `projects_updated`).
    WatchSessions,
    /// `unwatch-sessions`: stops them.
    UnwatchSessions,
    Unsubscribe {
        session_ref: String,
    },
    GetActiveSessions,
    PermissionResponse(PermissionResponse),
    /// `telemetry-settings`: accepted and ignored; Switchboard sends no telemetry.
    TelemetrySettings,
}

/// Which session a command is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionTarget {
    /// No id, or the seed's `new-session-…` placeholder.
    New,
    /// Some id: ours, a provider-native id we know, or a native id to adopt.
    Existing(String),
}

/// One agent command, with its values already checked.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentCommand {
    pub provider: Provider,
    /// The inbound `type`, echoed in replies (`cursor-command`, `cursor-resume`, …).
    pub request_type: String,
    pub prompt: String,
    pub target: SessionTarget,
    pub project_path: Option<String>,
    pub cwd: Option<String>,
    pub model: Option<String>,
    pub permission_mode: Option<PermissionMode>,
    /// Queue behind a running run instead of answering `session-busy`.
    pub queue: bool,
    pub client_request_id: Option<String>,
    /// Every other option, for the provider to read (`images`, `toolsSettings`, …).
    pub extra: Map<String, Value>,
}

/// `claude-permission-response` (also accepted as `permission-response`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PermissionResponse {
    pub request_id: String,
    #[serde(default)]
    pub allow: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_input: Option<Value>,
    /// Allow this tool for the rest of the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remember_entry: Option<Value>,
}

/// Why a frame was refused, with what is known of the request for the reply.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseFailure {
    pub error: ProtocolError,
    pub request_type: Option<String>,
    pub client_request_id: Option<String>,
}

// ---- wire shapes (schema + serde) ----------------------------------------------------------

/// The options object of every `<provider>-command`. Unknown keys are kept for the provider.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommandOptions {
    /// The project the session belongs to; must be inside a registered project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_path: Option<String>,
    /// The agent's working directory; defaults to `projectPath`. Also confined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// A Switchboard session id, a provider-native id, or `new-session-…` / absent for new.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission_mode: Option<PermissionMode>,
    /// Queue behind the running run (at most 8 per session) instead of `session-busy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<bool>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `<provider>-command` (and the legacy `cursor-resume`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommandWire {
    /// The prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// The seed's top-level session id, used when `options.sessionId` is absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(default)]
    pub options: CommandOptions,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_request_id: Option<String>,
}

/// `abort-session` / `cursor-abort`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AbortWire {
    pub session_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_request_id: Option<String>,
}

/// `check-session-status`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckSessionStatusWire {
    pub session_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// When given, every journaled frame after it is replayed, as with `subscribe`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seq: Option<u64>,
}

/// `subscribe`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubscribeWire {
    pub session_id: String,
    /// The last seq this client has; 0 replays everything.
    #[serde(default)]
    pub last_seq: u64,
}

/// `unsubscribe`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UnsubscribeWire {
    pub session_id: String,
}

/// Every client message type, for the schema. Parsing goes through [`ClientMessage::parse`].
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type")]
pub enum ClientMessageSchema {
    #[serde(rename = "claude-command")]
    ClaudeCommand(CommandWire),
    #[serde(rename = "cursor-command")]
    CursorCommand(CommandWire),
    #[serde(rename = "codex-command")]
    CodexCommand(CommandWire),
    #[serde(rename = "gemini-command")]
    GeminiCommand(CommandWire),
    #[serde(rename = "openrouter-command")]
    OpenrouterCommand(CommandWire),
    #[serde(rename = "local-command")]
    LocalCommand(CommandWire),
    #[serde(rename = "nano-command")]
    NanoCommand(CommandWire),
    #[serde(rename = "cursor-resume")]
    CursorResume(CommandWire),
    #[serde(rename = "abort-session")]
    AbortSession(AbortWire),
    #[serde(rename = "cursor-abort")]
    CursorAbort(AbortWire),
    #[serde(rename = "check-session-status")]
    CheckSessionStatus(CheckSessionStatusWire),
    #[serde(rename = "get-active-sessions")]
    GetActiveSessions {},
    #[serde(rename = "claude-permission-response")]
    ClaudePermissionResponse(PermissionResponse),
    #[serde(rename = "permission-response")]
    PermissionResponse(PermissionResponse),
    #[serde(rename = "telemetry-settings")]
    TelemetrySettings {},
    #[serde(rename = "subscribe")]
    Subscribe(SubscribeWire),
    #[serde(rename = "unsubscribe")]
    Unsubscribe(UnsubscribeWire),
    #[serde(rename = "watch-sessions")]
    WatchSessions {},
    #[serde(rename = "unwatch-sessions")]
    UnwatchSessions {},
}

/// Every `type` the server accepts, in the order of the protocol document.
pub const CLIENT_MESSAGE_TYPES: &[&str] = &[
    "claude-command",
    "cursor-command",
    "codex-command",
    "gemini-command",
    "openrouter-command",
    "local-command",
    "nano-command",
    "cursor-resume",
    "abort-session",
    "cursor-abort",
    "check-session-status",
    "get-active-sessions",
    "claude-permission-response",
    "permission-response",
    "telemetry-settings",
    "subscribe",
    "unsubscribe",
    "watch-sessions",
    "unwatch-sessions",
];

impl ClientMessage {
    /// Parses one text frame.
    pub fn parse(text: &str) -> Result<ClientMessage, Box<ParseFailure>> {
        let value: Value = serde_json::from_str(text).map_err(|e| {
            failure(
                ProtocolError::new(ErrorCode::BadJson, format!("frame is not valid JSON: {e}")),
                None,
                None,
            )
        })?;
        let Value::Object(object) = value else {
            return Err(failure(
                ProtocolError::new(ErrorCode::BadFrame, "frame must be a JSON object"),
                None,
                None,
            ));
        };
        let message_type = match object.get("type") {
            Some(Value::String(t)) => t.clone(),
            Some(_) => {
                return Err(failure(
                    ProtocolError::new(ErrorCode::BadFrame, "`type` must be a string"),
                    None,
                    None,
                ))
            }
            None => {
                return Err(failure(
                    ProtocolError::new(ErrorCode::BadFrame, "frame has no `type`"),
                    None,
                    None,
                ))
            }
        };
        let client_request_id = object
            .get("clientRequestId")
            .and_then(Value::as_str)
            .filter(|s| s.len() <= MAX_CLIENT_REQUEST_ID)
            .map(str::to_owned);
        let fail = |error: ProtocolError| {
            failure(error, Some(message_type.clone()), client_request_id.clone())
        };
        parse_typed(&message_type, Value::Object(object)).map_err(fail)
    }
}

fn failure(
    error: ProtocolError,
    request_type: Option<String>,
    client_request_id: Option<String>,
) -> Box<ParseFailure> {
    Box::new(ParseFailure {
        error,
        request_type,
        client_request_id,
    })
}

fn fields<T: serde::de::DeserializeOwned>(
    message_type: &str,
    value: Value,
) -> Result<T, ProtocolError> {
    serde_json::from_value(value)
        .map_err(|e| ProtocolError::invalid_field(format!("{message_type}: {e}")))
}

fn parse_typed(message_type: &str, value: Value) -> Result<ClientMessage, ProtocolError> {
    if let Some(provider) = Provider::from_command_type(message_type) {
        let wire: CommandWire = fields(message_type, value)?;
        return parse_command(provider, message_type, wire)
            .map(|c| ClientMessage::Command(Box::new(c)));
    }
    if message_type.ends_with("-command") {
        return Err(ProtocolError::new(
            ErrorCode::UnknownProvider,
            format!("no provider named in {message_type:?}; known: claude, cursor, codex, gemini, openrouter, local, nano"),
        ));
    }
    match message_type {
        "cursor-resume" => {
            let wire: CommandWire = fields(message_type, value)?;
            parse_command(Provider::Cursor, message_type, wire)
                .map(|c| ClientMessage::Command(Box::new(c)))
        }
        "abort-session" | "cursor-abort" => {
            let wire: AbortWire = fields(message_type, value)?;
            let provider = if message_type == "cursor-abort" {
                Some(Provider::Cursor)
            } else {
                parse_provider(wire.provider.as_deref())?
            };
            Ok(ClientMessage::Abort {
                session_ref: parse_session_ref(&wire.session_id)?,
                provider,
                request_type: if message_type == "cursor-abort" {
                    "cursor-abort"
                } else {
                    "abort-session"
                },
                client_request_id: parse_client_request_id(wire.client_request_id)?,
            })
        }
        "check-session-status" => {
            let wire: CheckSessionStatusWire = fields(message_type, value)?;
            Ok(ClientMessage::CheckSessionStatus {
                session_ref: parse_session_ref(&wire.session_id)?,
                provider: parse_provider(wire.provider.as_deref())?,
                last_seq: wire.last_seq,
            })
        }
        "subscribe" => {
            let wire: SubscribeWire = fields(message_type, value)?;
            Ok(ClientMessage::Subscribe {
                session_ref: parse_session_ref(&wire.session_id)?,
                last_seq: wire.last_seq,
            })
        }
        "unsubscribe" => {
            let wire: UnsubscribeWire = fields(message_type, value)?;
            Ok(ClientMessage::Unsubscribe {
                session_ref: parse_session_ref(&wire.session_id)?,
            })
        }
        "get-active-sessions" => Ok(ClientMessage::GetActiveSessions),
        "watch-sessions" => Ok(ClientMessage::WatchSessions),
        "unwatch-sessions" => Ok(ClientMessage::UnwatchSessions),
        "claude-permission-response" | "permission-response" => {
            let wire: PermissionResponse = fields(message_type, value)?;
            if wire.request_id.is_empty() || wire.request_id.len() > MAX_SESSION_REF {
                return Err(ProtocolError::invalid_field(
                    "requestId must be a non-empty id",
                ));
            }
            Ok(ClientMessage::PermissionResponse(wire))
        }
        "telemetry-settings" => Ok(ClientMessage::TelemetrySettings),
        other => Err(ProtocolError::new(
            ErrorCode::UnknownType,
            format!("unknown message type {other:?}"),
        )),
    }
}

fn parse_command(
    provider: Provider,
    message_type: &str,
    wire: CommandWire,
) -> Result<AgentCommand, ProtocolError> {
    let CommandWire {
        command,
        session_id: top_level_session_id,
        options,
        client_request_id,
    } = wire;
    let CommandOptions {
        project_path,
        cwd,
        session_id,
        model,
        permission_mode,
        queue,
        extra,
    } = options;
    let target = match session_id.or(top_level_session_id) {
        None => SessionTarget::New,
        Some(id) if id.is_empty() || id.starts_with("new-session-") => SessionTarget::New,
        Some(id) => SessionTarget::Existing(parse_session_ref(&id)?),
    };
    let prompt = command.unwrap_or_default();
    if prompt.trim().is_empty() && message_type != "cursor-resume" {
        return Err(ProtocolError::invalid_field(
            "command must be a non-empty prompt",
        ));
    }
    if message_type == "cursor-resume" && target == SessionTarget::New {
        return Err(ProtocolError::invalid_field(
            "cursor-resume needs the sessionId to resume",
        ));
    }
    Ok(AgentCommand {
        provider,
        request_type: message_type.to_owned(),
        prompt,
        target,
        project_path: non_empty_path("projectPath", project_path)?,
        cwd: non_empty_path("cwd", cwd)?,
        model: model
            .filter(|m| !m.is_empty())
            .map(parse_model)
            .transpose()?,
        permission_mode,
        queue: queue.unwrap_or(false),
        client_request_id: parse_client_request_id(client_request_id)?,
        extra,
    })
}

fn parse_provider(name: Option<&str>) -> Result<Option<Provider>, ProtocolError> {
    match name {
        None => Ok(None),
        Some(n) => Provider::parse(n).map(Some).ok_or_else(|| {
            ProtocolError::new(
                ErrorCode::UnknownProvider,
                format!("unknown provider {n:?}"),
            )
        }),
    }
}

fn parse_client_request_id(id: Option<String>) -> Result<Option<String>, ProtocolError> {
    match id {
        Some(id) if id.len() > MAX_CLIENT_REQUEST_ID => Err(ProtocolError::invalid_field(format!(
            "clientRequestId is longer than {MAX_CLIENT_REQUEST_ID} bytes"
        ))),
        other => Ok(other),
    }
}

fn non_empty_path(field: &str, path: Option<String>) -> Result<Option<String>, ProtocolError> {
    match path {
        Some(p) if p.contains('\0') => Err(ProtocolError::invalid_field(format!(
            "{field} contains a NUL byte"
        ))),
        Some(p) if p.trim().is_empty() => Ok(None),
        other => Ok(other),
    }
}

/// A session reference: our UUID or a provider's id. Provider ids are opaque, but they end up
/// as argv values and file names, so only a conservative alphabet is accepted and a leading
/// `-` (which a CLI would read as a flag) or anything path-like is refused.
pub fn parse_session_ref(id: &str) -> Result<String, ProtocolError> {
    if SessionId::parse(id).is_some() {
        return Ok(id.to_owned());
    }
    let ok = !id.is_empty()
        && id.len() <= MAX_SESSION_REF
        && !id.starts_with('-')
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
        && !id.contains("..");
    if ok {
        Ok(id.to_owned())
    } else {
        Err(ProtocolError::invalid_field(format!(
            "sessionId {:?} is not a valid session id",
            truncate_for_message(id)
        )))
    }
}

/// Model names become argv values: letters, digits and `._:/@+-`, starting with a letter or a
/// digit, so `--help` or `; rm -rf /` can never pass.
pub fn parse_model(model: String) -> Result<String, ProtocolError> {
    let ok = model.len() <= MAX_MODEL_NAME
        && model
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && model.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'/' | b'@' | b'+' | b'-')
        });
    if ok {
        Ok(model)
    } else {
        Err(ProtocolError::invalid_field(format!(
            "model {:?} is not a valid model name",
            truncate_for_message(&model)
        )))
    }
}

fn truncate_for_message(s: &str) -> String {
    s.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(text: &str) -> ErrorCode {
        ClientMessage::parse(text).unwrap_err().error.code
    }

    #[test]
    fn parses_a_seed_command() {
        let msg = ClientMessage::parse(
            r#"{"type":"cursor-command","command":"hi","options":{"projectPath":"/p","cwd":"/p","sessionId":"new-session-1","resume":false,"model":"gpt-5","toolsSettings":{}},"clientRequestId":"r1"}"#,
        )
        .unwrap();
        let ClientMessage::Command(cmd) = msg else {
            panic!()
        };
        assert_eq!(cmd.provider, Provider::Cursor);
        assert_eq!(cmd.target, SessionTarget::New);
        assert_eq!(cmd.model.as_deref(), Some("gpt-5"));
        assert_eq!(cmd.client_request_id.as_deref(), Some("r1"));
        assert!(cmd.extra.contains_key("toolsSettings"));
    }

    #[test]
    fn top_level_session_id_is_a_fallback() {
        let ClientMessage::Command(cmd) =
            ClientMessage::parse(r#"{"type":"claude-command","command":"x","sessionId":"abc-1"}"#)
                .unwrap()
        else {
            panic!()
        };
        assert_eq!(cmd.target, SessionTarget::Existing("abc-1".into()));
    }

    #[test]
    fn error_codes() {
        assert_eq!(code("{"), ErrorCode::BadJson);
        assert_eq!(code("[1,2]"), ErrorCode::BadFrame);
        assert_eq!(code(r#"{"type":5}"#), ErrorCode::BadFrame);
        assert_eq!(code(r#"{"no":"type"}"#), ErrorCode::BadFrame);
        assert_eq!(code(r#"{"type":"dance"}"#), ErrorCode::UnknownType);
        assert_eq!(
            code(r#"{"type":"vim-command","command":"x"}"#),
            ErrorCode::UnknownProvider
        );
        assert_eq!(
            code(r#"{"type":"abort-session","sessionId":"x","provider":"vim"}"#),
            ErrorCode::UnknownProvider
        );
        assert_eq!(code(r#"{"type":"subscribe"}"#), ErrorCode::InvalidField);
        assert_eq!(
            code(r#"{"type":"subscribe","sessionId":"x","lastSeq":-1}"#),
            ErrorCode::InvalidField
        );
        assert_eq!(
            code(r#"{"type":"cursor-command","command":"x","options":{"model":"--help"}}"#),
            ErrorCode::InvalidField
        );
        assert_eq!(
            code(r#"{"type":"cursor-command","command":"x","options":{"model":"a; rm -rf /"}}"#),
            ErrorCode::InvalidField
        );
        assert_eq!(
            code(r#"{"type":"cursor-command","command":"x","options":{"permissionMode":"yolo"}}"#),
            ErrorCode::InvalidField
        );
        assert_eq!(
            code(
                r#"{"type":"cursor-command","command":"x","options":{"sessionId":"../../etc/passwd"}}"#
            ),
            ErrorCode::InvalidField
        );
        assert_eq!(
            code(r#"{"type":"cursor-command","command":""}"#),
            ErrorCode::InvalidField
        );
        assert_eq!(
            code(r#"{"type":"abort-session","sessionId":"-rf"}"#),
            ErrorCode::InvalidField
        );
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(code(&deep), ErrorCode::BadJson);
    }

    #[test]
    fn failure_echoes_request_type_and_id() {
        let f = ClientMessage::parse(
            r#"{"type":"cursor-command","clientRequestId":"c9","command":""}"#,
        )
        .unwrap_err();
        assert_eq!(f.request_type.as_deref(), Some("cursor-command"));
        assert_eq!(f.client_request_id.as_deref(), Some("c9"));
    }

    #[test]
    fn legacy_messages() {
        assert!(matches!(
            ClientMessage::parse(r#"{"type":"cursor-abort","sessionId":"s1"}"#).unwrap(),
            ClientMessage::Abort {
                provider: Some(Provider::Cursor),
                request_type: "cursor-abort",
                ..
            }
        ));
        assert_eq!(
            ClientMessage::parse(r#"{"type":"telemetry-settings","enabled":true}"#).unwrap(),
            ClientMessage::TelemetrySettings
        );
        assert!(matches!(
            ClientMessage::parse(r#"{"type":"permission-response","requestId":"r","allow":true}"#)
                .unwrap(),
            ClientMessage::PermissionResponse(PermissionResponse { allow: true, .. })
        ));
    }

    #[test]
    fn every_listed_type_is_known() {
        for t in CLIENT_MESSAGE_TYPES {
            let f = ClientMessage::parse(&format!(r#"{{"type":"{t}"}}"#));
            if let Err(f) = f {
                assert_ne!(f.error.code, ErrorCode::UnknownType, "{t}");
            }
        }
    }
}

//! The client messages this client sends, built from the protocol crate's wire types.

use switchboard_protocol::client::{
    AbortWire, ClientMessageSchema, CommandOptions, CommandWire, PermissionResponse, SubscribeWire,
};
use switchboard_protocol::{PermissionMode, Provider};

/// What `switchboard chat` asks for.
#[derive(Debug, Clone)]
pub struct ChatRequest {
    pub provider: Provider,
    pub prompt: String,
    pub project_path: String,
    /// Continue this session (our id or a native id) instead of starting one.
    pub session: Option<String>,
    pub model: Option<String>,
    pub permission_mode: Option<PermissionMode>,
    pub client_request_id: String,
}

pub fn command(request: &ChatRequest) -> ClientMessageSchema {
    let wire = CommandWire {
        command: Some(request.prompt.clone()),
        session_id: None,
        options: CommandOptions {
            project_path: Some(request.project_path.clone()),
            session_id: request.session.clone(),
            model: request.model.clone(),
            permission_mode: request.permission_mode,
            ..CommandOptions::default()
        },
        client_request_id: Some(request.client_request_id.clone()),
    };
    match request.provider {
        Provider::Claude => ClientMessageSchema::ClaudeCommand(wire),
        Provider::Cursor => ClientMessageSchema::CursorCommand(wire),
        Provider::Codex => ClientMessageSchema::CodexCommand(wire),
        Provider::Gemini => ClientMessageSchema::GeminiCommand(wire),
        Provider::Openrouter => ClientMessageSchema::OpenrouterCommand(wire),
        Provider::Local => ClientMessageSchema::LocalCommand(wire),
        Provider::Nano => ClientMessageSchema::NanoCommand(wire),
    }
}

pub fn subscribe(session: &str, last_seq: u64) -> ClientMessageSchema {
    ClientMessageSchema::Subscribe(SubscribeWire {
        session_id: session.to_owned(),
        last_seq,
    })
}

pub fn abort(session: &str) -> ClientMessageSchema {
    ClientMessageSchema::AbortSession(AbortWire {
        session_id: session.to_owned(),
        provider: None,
        client_request_id: None,
    })
}

/// How a permission request was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny,
    /// Allow, and allow this tool for the rest of the run.
    AlwaysAllow,
}

pub fn permission_response(
    request_id: &str,
    decision: Decision,
    deny_message: Option<String>,
) -> ClientMessageSchema {
    let allow = decision != Decision::Deny;
    ClientMessageSchema::PermissionResponse(PermissionResponse {
        request_id: request_id.to_owned(),
        allow,
        message: if allow { None } else { deny_message },
        updated_input: None,
        remember_entry: (decision == Decision::AlwaysAllow)
            .then_some(serde_json::Value::Bool(true)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use switchboard_protocol::ClientMessage;

    #[test]
    fn messages_are_what_the_server_parses() {
        let request = ChatRequest {
            provider: Provider::Cursor,
            prompt: "hello".into(),
            project_path: "/srv/demo".into(),
            session: None,
            model: Some("gpt-5".into()),
            permission_mode: Some(PermissionMode::Plan),
            client_request_id: "c1".into(),
        };
        let text = serde_json::to_string(&command(&request)).unwrap();
        let ClientMessage::Command(parsed) = ClientMessage::parse(&text).unwrap() else {
            panic!("{text}");
        };
        assert_eq!(parsed.provider, Provider::Cursor);
        assert_eq!(parsed.model.as_deref(), Some("gpt-5"));
        assert_eq!(parsed.permission_mode, Some(PermissionMode::Plan));

        let v = serde_json::to_value(subscribe("s", 7)).unwrap();
        assert_eq!(v, json!({"type":"subscribe","sessionId":"s","lastSeq":7}));
        let v =
            serde_json::to_value(permission_response("r", Decision::AlwaysAllow, None)).unwrap();
        assert_eq!(
            v,
            json!({"type":"permission-response","requestId":"r","allow":true,"rememberEntry":true})
        );
        let v = serde_json::to_value(permission_response("r", Decision::Deny, Some("no".into())))
            .unwrap();
        assert_eq!(v["allow"], false);
        assert_eq!(v["message"], "no");
        assert!(ClientMessage::parse(&serde_json::to_string(&abort("s")).unwrap()).is_ok());
    }
}

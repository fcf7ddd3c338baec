//! Identifiers and small enumerations that are parsed once at the edge and then trusted.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

/// A Switchboard session id: a UUIDv4, written lowercase and hyphenated.
///
/// Only the server mints these (at acceptance). Parsing is strict so that an id that looks
/// like ours but is not (upper case, braces, another version) is treated as a foreign,
/// provider-native id instead of silently colliding with one of ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(Uuid);

impl SessionId {
    pub fn new_v4() -> Self {
        SessionId(Uuid::new_v4())
    }

    pub fn as_uuid(&self) -> &Uuid {
        &self.0
    }

    /// Parses the canonical form only: 36 chars, lowercase hex, version 4.
    pub fn parse(s: &str) -> Option<Self> {
        if s.len() != 36 || s.bytes().any(|b| b.is_ascii_uppercase()) {
            return None;
        }
        let uuid = Uuid::parse_str(s).ok()?;
        if uuid.get_version_num() != 4 || uuid.hyphenated().to_string() != s {
            return None;
        }
        Some(SessionId(uuid))
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl FromStr for SessionId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SessionId::parse(s).ok_or_else(|| format!("not a Switchboard session id: {s:?}"))
    }
}

impl Serialize for SessionId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SessionId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        SessionId::parse(&s).ok_or_else(|| serde::de::Error::custom("invalid session id"))
    }
}

impl JsonSchema for SessionId {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SessionId".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "UUIDv4, lowercase and hyphenated, issued by the server",
            "pattern": "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
        })
    }
}

/// The seven agent providers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Claude,
    Cursor,
    Codex,
    Gemini,
    Openrouter,
    Local,
    Nano,
}

impl Provider {
    pub const ALL: [Provider; 7] = [
        Provider::Claude,
        Provider::Cursor,
        Provider::Codex,
        Provider::Gemini,
        Provider::Openrouter,
        Provider::Local,
        Provider::Nano,
    ];

    /// The name in `provider` fields and in `<name>-command`.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Claude => "claude",
            Provider::Cursor => "cursor",
            Provider::Codex => "codex",
            Provider::Gemini => "gemini",
            Provider::Openrouter => "openrouter",
            Provider::Local => "local",
            Provider::Nano => "nano",
        }
    }

    /// The prefix of this provider's output frames (`<prefix>-response`, `-complete`,
    /// `-error`). It equals the name except for `local`, which keeps the seed's `localgpu`.
    pub fn frame_prefix(self) -> &'static str {
        match self {
            Provider::Local => "localgpu",
            other => other.as_str(),
        }
    }

    pub fn parse(s: &str) -> Option<Provider> {
        Provider::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// `"cursor-command"` → cursor.
    pub fn from_command_type(message_type: &str) -> Option<Provider> {
        message_type
            .strip_suffix("-command")
            .and_then(Provider::parse)
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How much an agent may do without asking. Each provider maps it onto its own controls, and
/// refuses a mode it cannot honour rather than widening it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum PermissionMode {
    #[default]
    Default,
    AcceptEdits,
    Plan,
    BypassPermissions,
}

impl PermissionMode {
    pub fn as_str(self) -> &'static str {
        match self {
            PermissionMode::Default => "default",
            PermissionMode::AcceptEdits => "acceptEdits",
            PermissionMode::Plan => "plan",
            PermissionMode::BypassPermissions => "bypassPermissions",
        }
    }

    pub fn parse(s: &str) -> Option<PermissionMode> {
        [
            PermissionMode::Default,
            PermissionMode::AcceptEdits,
            PermissionMode::Plan,
            PermissionMode::BypassPermissions,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_id_round_trips_and_is_strict() {
        let id = SessionId::new_v4();
        assert_eq!(SessionId::parse(&id.to_string()), Some(id));
        assert!(SessionId::parse(&id.to_string().to_uppercase()).is_none());
        assert!(SessionId::parse("new-session-123").is_none());
        // version 1 uuid
        assert!(SessionId::parse("6ba7b810-9dad-11d1-80b4-00c04fd430c8").is_none());
        assert!(SessionId::parse(&format!("{{{id}}}")).is_none());
    }

    #[test]
    fn provider_prefixes() {
        assert_eq!(Provider::Local.frame_prefix(), "localgpu");
        assert_eq!(Provider::Nano.frame_prefix(), "nano");
        assert_eq!(
            Provider::from_command_type("cursor-command"),
            Some(Provider::Cursor)
        );
        assert_eq!(
            Provider::from_command_type("local-command"),
            Some(Provider::Local)
        );
        assert_eq!(Provider::from_command_type("localgpu-command"), None);
        assert_eq!(Provider::from_command_type("cursor-abort"), None);
    }

    #[test]
    fn permission_modes_parse() {
        assert_eq!(
            PermissionMode::parse("acceptEdits"),
            Some(PermissionMode::AcceptEdits)
        );
        assert_eq!(PermissionMode::parse("yolo"), None);
    }
}

//! Switchboard's wire protocol: every message a client and the server exchange over `/ws`,
//! the normalized agent event vocabulary, the run lifecycle as a pure state machine, and the
//! JSON Schema exported from these types.
//!
//! This crate does no I/O. Everything here is data plus the rules that parse it, so the
//! session core, the server, the test kit and the terminal client all share one definition.

pub mod api;
pub mod client;
pub mod error;
pub mod event;
pub mod ids;
pub mod lifecycle;
pub mod project;
pub mod raw_json;
pub mod schema;
pub mod server;

pub use client::{AgentCommand, ClientMessage, CommandOptions, SessionTarget};
pub use error::{ErrorCode, ProtocolError};
pub use event::AgentEvent;
pub use ids::{PermissionMode, Provider, SessionId};
pub use lifecycle::{RunLifecycle, RunState, TerminalReason};
pub use raw_json::RawJson;

/// Milliseconds since the Unix epoch, the time unit of every `*At`/`startTime` field.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

//! Switchboard's terminal client: `switchboard chat`, `attach`, `sessions` and `abort`.
//!
//! - [`target`]: the `--server` base URL and the WebSocket URL derived from it;
//! - [`connection`]: one authenticated WebSocket;
//! - [`follower`]: follows a session across dropped connections, from its last `seq`, with no
//!   gap and no duplicate;
//! - [`watch`]: follows one run to its end, answering permission requests;
//! - [`render`]: the text and `--json` output;
//! - [`commands`]: the subcommands, and [`exit`] their exit codes.
//!
//! The `switchboard` binary resolves the server and token (flags, `SWITCHBOARD_TOKEN`, the
//! data dir) and hands in its HTTP client ([`rest::Rest`]).

pub mod commands;
pub mod connection;
pub mod error;
pub mod exit;
pub mod follower;
pub mod frame;
pub mod messages;
pub mod permission;
pub mod render;
pub mod rest;
pub mod target;
pub mod watch;

pub use commands::{ConnectArgs, TerminalCommand};
pub use error::ClientError;
pub use rest::{Rest, RestResponse};
pub use target::{BaseUrl, ServerTarget};

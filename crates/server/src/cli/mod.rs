//! Subcommands of `switchboard` that are clients of a running server.

pub mod http;
pub mod project;

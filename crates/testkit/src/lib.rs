//! Test kit: what Switchboard's black-box tests need to drive a real server.
//!
//! - [`client`]: a WebSocket client that speaks the protocol as a client would;
//! - [`server`]: the real `switchboard` binary on port 0 in a throw-away data dir;
//! - [`fake_agent`]: an in-process agent that streams, fails, hangs and asks for permission;
//! - [`model_server`]: a scripted Anthropic / OpenAI / Gemini model API for real agent CLIs;
//! - [`http`]: a small HTTP/1.1 client for the REST side;
//! - [`fixtures`]: where the fixture CLIs (such as `fake-cursor-agent`) are;
//! - [`real_clis`]: the real `claude`, `codex` and `gemini` CLIs in a private HOME.

pub mod client;
pub mod fake_agent;
pub mod fixtures;
pub mod http;
pub mod model_server;
pub mod real_clis;
pub mod server;

pub use client::WsClient;
pub use server::{TestServer, TestServerOptions};

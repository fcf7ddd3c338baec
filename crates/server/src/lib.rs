//! The Switchboard server: configuration, authentication, the HTTP app with its `/ws`
//! endpoint, and start-up/shutdown. Sessions themselves live in `switchboard-core`.

pub mod api;
pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod error;
pub mod model_agents;
pub mod tls;
pub mod web;
pub mod ws;

pub use app::Application;
pub use config::{Overrides, Settings};
pub use error::ServerError;

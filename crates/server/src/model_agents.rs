//! The providers that run Switchboard's own agent loop (`openrouter`, `local`).
//!
//! Unlike the CLI providers ([`switchboard_agents::all_agents`]), they keep their
//! conversations in the server's store, so they are built from the settings once the
//! database can be opened: they get a [`ConversationLog`] handle of their own on it.

use std::sync::Arc;

use switchboard_agent_api::{Agent, ConversationLog};
use switchboard_agents::openai_compat::OpenAiCompatAgent;
use switchboard_protocol::Provider;
use switchboard_store::conversations::SqliteConversations;

use crate::config::Settings;
use crate::error::ServerError;

/// The `openrouter` and `local` agents of these settings.
pub fn build(settings: &Settings) -> Result<Vec<Arc<dyn Agent>>, ServerError> {
    settings.create_data_dir()?;
    let log: Arc<dyn ConversationLog> = Arc::new(SqliteConversations::open(
        &settings.database_path(),
        settings.durability,
    )?);
    let endpoints = &settings.model_endpoints;
    Ok(vec![
        Arc::new(OpenAiCompatAgent::new(
            Provider::Openrouter,
            endpoints.openrouter.clone(),
            Arc::clone(&log),
        )),
        Arc::new(OpenAiCompatAgent::new(
            Provider::Local,
            endpoints.local.clone(),
            log,
        )),
    ])
}

//! The agents: one module per provider, plus the process supervision they share.
//!
//! - [`supervisor`] starts an agent CLI in its own process group, reads its output line by
//!   line (bounded), and stops it: interrupt, grace period, kill, sweep;
//! - [`lines`] is the bounded line reader;
//! - [`sweep`] finds and kills every process a run left behind, and reaps orphans;
//! - [`cursor`] is Cursor's agent CLI (`cursor-agent -p --output-format stream-json`);
//! - [`claude`], [`codex`], [`gemini`] and [`nano`] are the other CLI providers;
//! - [`openai_compat`] is no CLI: Switchboard's own agent loop over an OpenAI-compatible
//!   Chat Completions API, for `openrouter` and `local`. It needs the server's conversation
//!   store, so the server builds it ([`openai_compat::OpenAiCompatAgent::new`]) rather than
//!   [`all_agents`].

pub mod argv;
pub mod claude;
pub mod codex;
pub mod cursor;
pub mod gemini;
pub mod json_line;
pub mod lines;
pub mod nano;
pub mod openai_compat;
pub mod supervisor;
pub mod sweep;

use std::sync::Arc;

use switchboard_agent_api::Agent;

/// Environment variables of Switchboard's own that an agent must never inherit.
pub const SECRET_ENV: &[&str] = &["SWITCHBOARD_TOKEN"];

/// Every provider this build can run, configured from the environment.
pub fn all_agents() -> Vec<Arc<dyn Agent>> {
    vec![
        Arc::new(claude::ClaudeAgent::from_env()),
        Arc::new(codex::CodexAgent::from_env()),
        Arc::new(cursor::CursorAgent::from_env()),
        Arc::new(gemini::GeminiAgent::from_env()),
        Arc::new(nano::NanoAgent::from_env()),
    ]
}

//! The session core: everything between an agent's output and a client's socket, and
//! nothing of HTTP.
//!
//! ```text
//! agent (trait Agent) ──AgentOutput──▶ session actor ──Frame──▶ journal (ring + store)
//!                                          │                         │
//!                                          └──broadcast──▶ subscriptions (catch up from the journal)
//! ```
//!
//! - [`registry`] finds or creates sessions and routes requests to their actors;
//! - [`session`] is one actor per session: it owns the run, the lifecycle, the queue and the
//!   pending permission requests, and it is the only writer of the session's journal;
//! - [`journal`] keeps recent frames in a bounded ring and reads older ones from the store;
//! - [`persist`] writes frames and session records to the store in batches, off the hot path;
//! - [`subscription`] delivers a session's frames to one connection, losslessly;
//! - [`projects`] confines every path to a registered project, and [`project_admin`] adds,
//!   renames and removes projects while the server runs;
//! - [`history`] lists sessions and pages their journals for the REST API;
//! - [`store`] is the persistence trait the `store` crate implements.

pub mod attachments;
pub mod changes;
pub mod config;
pub mod fanout;
pub mod frame;
pub mod history;
pub mod journal;
pub mod persist;
pub mod project_admin;
pub mod projects;
pub mod registry;
pub mod retention;
pub mod session;
pub mod store;
pub mod subscription;

pub use config::CoreConfig;
pub use frame::Frame;
pub use registry::{Registry, RegistryError};
pub use session::SessionHandle;
pub use store::{SessionStore, StoreError};

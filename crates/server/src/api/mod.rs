//! The REST API under `/api`, behind the same bearer token as `/ws` (see `docs/api.md`):
//!
//! - [`projects`]: the project registry (`/api/projects…`), discovered projects and a
//!   project's sessions from every source;
//! - [`sessions`]: session history (`/api/sessions…`): listing, detail, journal pages and
//!   transcripts;
//! - [`discovery`]: reading the agents' own session stores (Claude Code, Codex, Gemini CLI),
//!   read-only, streaming, bounded and cached by mtime.
//!
//! Every answer is JSON; every error is `{code, message}` ([`error`]).

pub mod discovery;
pub mod error;
pub mod notify;
pub mod projects;
pub mod retention;
pub mod sessions;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query};
use axum::http::Method;
use axum::routing::{any, get, MethodRouter};
use axum::Router;
use switchboard_protocol::api::ApiErrorCode;
use switchboard_protocol::SessionId;

use crate::app::AppState;
use crate::config::Settings;
use bytes::Bytes;
pub use error::{ApiResult, Refusal};
use switchboard_core::retention::RetentionPolicy;
use switchboard_core::Registry;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// What the REST handlers keep between requests.
#[derive(Clone)]
pub struct ApiState {
    /// The agents' own stores, indexed and cached.
    pub discovery: Arc<discovery::Discovery>,
    /// Announced (debounced) when the agents' stores change; see [`notify`].
    pub stores_changed: broadcast::Sender<discovery::watch::StoresChanged>,
    /// Notification frames (`session-upserted`, `session-removed`, `projects_updated`),
    /// built once, each with its audience; see [`ApiState::forward`].
    pub notifications: broadcast::Sender<notify::Notification>,
    retention: RetentionPolicy,
    retention_interval: Duration,
}

impl ApiState {
    /// For the agents run as this server's user: their stores under `$HOME` (or where each
    /// CLI's variable, in the server's environment or the `[agents.<name>.env]` config, puts
    /// them). Nothing is read until a request asks.
    pub fn new(settings: &Settings) -> Self {
        let core = &settings.core;
        let lookup = |provider, name: &str| {
            core.agent_env
                .get(&provider)
                .and_then(|env| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
                .or_else(|| std::env::var(name).ok())
        };
        let roots = discovery::StoreRoots::resolve(dirs::home_dir().as_deref(), lookup);
        Self::with_roots(settings, roots)
    }

    /// With the agents' stores somewhere else (tests).
    pub fn with_roots(settings: &Settings, roots: discovery::StoreRoots) -> Self {
        Self {
            discovery: Arc::new(discovery::Discovery::new(
                roots,
                discovery::ScanLimits::default(),
            )),
            stores_changed: broadcast::channel(64).0,
            notifications: broadcast::channel(256).0,
            retention: settings.retention,
            retention_interval: settings.retention_interval,
        }
    }

    /// Starts the background work — the notification pump, the stores' file watcher and
    /// history retention — until `stop` fires.
    pub fn start(&self, registry: &Registry, stop: CancellationToken) {
        // The pump subscribes before the watcher can announce anything.
        notify::spawn_pump(
            registry.clone(),
            self.stores_changed.subscribe(),
            self.notifications.clone(),
            stop.clone(),
        );
        discovery::watch::spawn(
            Arc::clone(&self.discovery),
            self.stores_changed.clone(),
            discovery::watch::DEBOUNCE,
            stop.clone(),
        );
        retention::spawn(
            registry.clone(),
            self.retention,
            self.retention_interval,
            stop,
        );
    }

    /// Forwards the notifications meant for one connection into its outbound queue until the
    /// queue closes (or the returned task is aborted, which a connection does when it ends):
    /// those for everyone, and the rest while `watching` (set by `watch-sessions`). A
    /// connection more than 256 notifications behind skips the oldest.
    pub fn forward<T>(&self, out: mpsc::Sender<T>, watching: Arc<AtomicBool>) -> JoinHandle<()>
    where
        T: From<Bytes> + Send + 'static,
    {
        let mut notifications = self.notifications.subscribe();
        tokio::spawn(async move {
            loop {
                match notifications.recv().await {
                    Ok(notification) => {
                        if notification.reaches(watching.load(Ordering::Relaxed))
                            && out.send(notification.bytes.into()).await.is_err()
                        {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        })
    }
}

/// Every `/api` route. Merge it into the router that checks the bearer token.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/projects",
            json_only(get(projects::list).post(projects::create)),
        )
        .route(
            "/api/projects/{id}",
            json_only(
                get(projects::show)
                    .patch(projects::rename)
                    .delete(projects::remove),
            ),
        )
        .route(
            "/api/projects/discovered",
            json_only(get(projects::discovered)),
        )
        .route(
            "/api/projects/{id}/sessions",
            json_only(get(projects::sessions)),
        )
        .route("/api/sessions", json_only(get(sessions::list)))
        .route("/api/sessions/{id}", json_only(get(sessions::detail)))
        .route(
            "/api/sessions/{id}/events",
            json_only(get(sessions::events)),
        )
        .route(
            "/api/sessions/{id}/transcript",
            json_only(get(sessions::transcript)),
        )
        .route("/api", any(not_found))
        .route("/api/", any(not_found))
        .route("/api/{*rest}", any(not_found))
}

/// A known path with another method: 405 with a JSON body.
fn json_only(route: MethodRouter<AppState>) -> MethodRouter<AppState> {
    route.fallback(|method: Method| async move {
        Refusal::new(
            ApiErrorCode::MethodNotAllowed,
            format!("{method} is not allowed here"),
        )
    })
}

async fn not_found() -> Refusal {
    Refusal::new(ApiErrorCode::NotFound, "no such API route")
}

/// The one path parameter of a route.
pub(crate) fn path_param(path: Result<Path<String>, PathRejection>) -> ApiResult<String> {
    path.map(|Path(p)| p)
        .map_err(|e| Refusal::invalid(format!("bad path parameter: {e}")))
}

/// A session id from a path: ours only (a UUIDv4, lowercase, hyphenated).
pub(crate) fn session_id(raw: &str) -> ApiResult<SessionId> {
    SessionId::parse(raw).ok_or_else(|| {
        Refusal::invalid(format!(
            "{:?} is not a Switchboard session id (a lowercase UUIDv4)",
            shorten(raw)
        ))
    })
}

/// A project id from a path or a query: a lowercase, hyphenated UUID.
pub(crate) fn project_id(raw: &str) -> ApiResult<String> {
    let ok = raw.len() == 36
        && raw.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
        });
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(Refusal::invalid(format!(
            "{:?} is not a project id (a lowercase UUID)",
            shorten(raw)
        )))
    }
}

fn shorten(s: &str) -> String {
    s.chars().take(80).collect()
}

/// A request's query parameters, checked against the names a route knows. An empty value
/// counts as absent (`?state=&provider=` means no filter).
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    pub fn parse(
        query: Result<Query<Vec<(String, String)>>, QueryRejection>,
        known: &[&str],
    ) -> ApiResult<Self> {
        let Query(pairs) = query.map_err(|e| Refusal::invalid(format!("bad query: {e}")))?;
        let mut seen: Vec<&str> = Vec::new();
        for (key, _) in &pairs {
            if !known.contains(&key.as_str()) {
                return Err(Refusal::invalid(format!(
                    "unknown query parameter {:?} (known: {})",
                    shorten(key),
                    known.join(", ")
                )));
            }
            if seen.contains(&key.as_str()) {
                return Err(Refusal::invalid(format!(
                    "query parameter {key:?} is given twice"
                )));
            }
            seen.push(key);
        }
        Ok(Params(pairs))
    }

    /// The first non-empty value of any of these names (aliases).
    pub fn get(&self, names: &[&str]) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, v)| names.contains(&k.as_str()) && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    pub fn number(&self, names: &[&str]) -> ApiResult<Option<u64>> {
        self.get(names)
            .map(|v| {
                v.parse::<u64>().map_err(|_| {
                    Refusal::invalid(format!(
                        "{} must be a non-negative integer, not {:?}",
                        names[0],
                        shorten(v)
                    ))
                })
            })
            .transpose()
    }

    /// A page size: `default` when absent, refused outside `1..=max`.
    pub fn limit(&self, default: usize, max: usize) -> ApiResult<usize> {
        match self.number(&["limit"])? {
            None => Ok(default),
            Some(n) if n >= 1 && n <= max as u64 => Ok(n as usize),
            Some(n) => Err(Refusal::invalid(format!(
                "limit must be between 1 and {max}, not {n}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        assert!(project_id("0b7e1f9a-3c5d-4e2f-8a1b-9c0d2e3f4a5b").is_ok());
        for bad in [
            "",
            "..",
            "../etc/passwd",
            "0B7E1F9A-3C5D-4E2F-8A1B-9C0D2E3F4A5B",
            "0b7e1f9a3c5d4e2f8a1b9c0d2e3f4a5b",
            "0b7e1f9a-3c5d-4e2f-8a1b-9c0d2e3f4a5g",
        ] {
            assert_eq!(
                project_id(bad).unwrap_err().0.code,
                ApiErrorCode::InvalidField
            );
            assert_eq!(
                session_id(bad).unwrap_err().0.code,
                ApiErrorCode::InvalidField
            );
        }
    }

    #[test]
    fn params_refuse_unknown_and_repeated_names() {
        let q = |pairs: &[(&str, &str)]| {
            Ok(Query(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ))
        };
        let p = Params::parse(q(&[("state", ""), ("limit", "5")]), &["state", "limit"]).unwrap();
        assert_eq!(p.get(&["state"]), None);
        assert_eq!(p.limit(50, 10).unwrap(), 5);
        assert!(Params::parse(q(&[("nope", "1")]), &["state"]).is_err());
        assert!(Params::parse(q(&[("state", "a"), ("state", "b")]), &["state"]).is_err());
        let p = Params::parse(q(&[("limit", "0")]), &["limit"]).unwrap();
        assert!(p.limit(50, 10).is_err());
        let p = Params::parse(q(&[("limit", "x")]), &["limit"]).unwrap();
        assert!(p.limit(50, 10).is_err());
    }
}

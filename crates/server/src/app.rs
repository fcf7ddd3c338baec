//! Building and running the server: `Application::build` opens the store, registers projects,
//! recovers interrupted sessions and binds the listener (port 0 works, for tests);
//! `run_until_stopped` serves until the shutdown token fires, then stops every run and
//! flushes the journal.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::FromRef;
use axum::routing::{get, post};
use axum::Router;
use switchboard_agent_api::Agent;
use switchboard_core::projects::{Project, ProjectIndex};
use switchboard_core::{Registry, SessionStore};
use switchboard_store::SqliteStore;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::auth::{self, Auth, Token};
use crate::config::Settings;
use crate::error::ServerError;
use crate::ws;

/// What every request handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub registry: Registry,
    pub max_frame_bytes: usize,
    pub connection_queue_frames: usize,
    pub limits: crate::config::ConnectionLimits,
    pub auth: Auth,
    /// Fires when the server stops; open connections close.
    pub shutdown: CancellationToken,
    /// The REST API's state (`/api`).
    pub api: crate::api::ApiState,
}

impl FromRef<AppState> for Auth {
    fn from_ref(state: &AppState) -> Auth {
        state.auth.clone()
    }
}

pub struct Application {
    listener: TcpListener,
    /// Set when the server speaks TLS.
    tls: Option<tokio_rustls::TlsAcceptor>,
    router: Router,
    state: AppState,
    token: Token,
    token_generated: bool,
}

impl Application {
    pub async fn build(
        settings: Settings,
        agents: Vec<Arc<dyn Agent>>,
    ) -> Result<Self, ServerError> {
        settings.create_data_dir()?;
        let (token, token_generated) =
            auth::load_or_generate(&settings.token_path(), settings.token.clone())?;
        // A token from the data dir can be rotated while the server runs; one the operator
        // supplied cannot.
        let token_file = settings.token.is_none().then(|| settings.token_path());
        settings.check_exposure()?;
        let tls = match &settings.tls {
            Some((cert, key)) => Some(crate::tls::load(cert, key)?),
            None => None,
        };
        let auth = Auth::new(
            token.clone(),
            token_file.clone(),
            settings.allowed_origins.clone(),
        )
        .with_secure_cookies(tls.is_some());
        if token_file.is_some() {
            auth::spawn_token_watcher(auth.clone(), std::time::Duration::from_secs(1));
        }
        let store: Arc<dyn SessionStore> = Arc::new(SqliteStore::open(
            &settings.database_path(),
            settings.durability,
        )?);

        let stored_projects = {
            let store = Arc::clone(&store);
            tokio::task::spawn_blocking(move || store.list_projects())
                .await
                .map_err(|e| ServerError::Setting(e.to_string()))?
                .map_err(switchboard_core::RegistryError::from)?
        };
        let projects =
            ProjectIndex::new(stored_projects.iter().map(Project::from_record).collect());

        switchboard_agents::sweep::become_subreaper();
        switchboard_agents::sweep::spawn_orphan_reaper();
        let (registry, recovered) =
            Registry::open(settings.core.clone(), store, agents, projects).await?;
        for session in &recovered {
            tracing::warn!(
                session = %session.id,
                lost_from = ?session.lost_from,
                lost_to = ?session.lost_to,
                "a run was live when the server last stopped; marked interrupted"
            );
            // The dead server's agent (and its tools) may still run: end every process that
            // carries the run's marker. The marker, not a recorded pid, decides, so a pid reused
            // since then is never hit.
            if let Some(run) = &session.live_run {
                let killed = switchboard_agents::sweep::sweep_previous_server_run(run).await;
                if killed > 0 {
                    tracing::warn!(session = %session.id, killed, "ended processes left by the previous server");
                }
            }
        }
        for path in &settings.projects {
            let root = std::fs::canonicalize(path).map_err(|e| ServerError::Project {
                path: path.clone(),
                message: e.to_string(),
            })?;
            if !root.is_dir() {
                return Err(ServerError::Project {
                    path: path.clone(),
                    message: "not a directory".into(),
                });
            }
            let project = registry.register_project(&root).await?;
            tracing::info!(project = %project.root.display(), name = %project.project_name, "project registered");
        }

        let listener =
            TcpListener::bind(settings.listen)
                .await
                .map_err(|source| ServerError::Listen {
                    addr: settings.listen.to_string(),
                    source,
                })?;
        let state = AppState {
            registry,
            max_frame_bytes: settings.max_frame_bytes,
            connection_queue_frames: settings.connection_queue_frames,
            limits: settings.limits.clone(),
            auth: auth.clone(),
            shutdown: CancellationToken::new(),
            api: crate::api::ApiState::new(&settings),
        };
        state.api.start(&state.registry, state.shutdown.clone());
        // Everything but the health check and the login exchange needs the token or a
        // session cookie.
        let protected = Router::new()
            .route("/ws", get(ws::upgrade))
            .merge(crate::api::router())
            .route_layer(axum::middleware::from_fn_with_state(
                auth.clone(),
                auth::require_auth,
            ));
        let router = Router::new()
            .route("/healthz", get(|| async { "ok\n" }))
            .route("/api/login", post(auth::login))
            .route("/api/logout", post(auth::logout))
            .merge(protected)
            .fallback(crate::web::serve)
            .with_state(state.clone());
        Ok(Self {
            listener,
            tls,
            router,
            state,
            token,
            token_generated,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The URL a browser logs in with (it carries the token in the fragment, which browsers
    /// never send to a server). Printed once, when the token is generated.
    pub fn login_url(&self) -> Option<String> {
        self.token_generated.then(|| {
            format!(
                "{}://{}/#token={}",
                self.scheme(),
                self.local_addr(),
                self.token.expose()
            )
        })
    }

    /// `https` when the server speaks TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    pub fn registry(&self) -> &Registry {
        &self.state.registry
    }

    /// Cancel it to stop the server.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.state.shutdown.clone()
    }

    pub async fn run_until_stopped(self) -> Result<(), ServerError> {
        let shutdown = self.state.shutdown.clone();
        let registry = self.state.registry.clone();
        let stopped = async move { shutdown.cancelled().await };
        match self.tls {
            Some(acceptor) => {
                let listener = crate::tls::TlsListener::new(self.listener, acceptor)
                    .map_err(ServerError::Serve)?;
                axum::serve(listener, self.router)
                    .with_graceful_shutdown(stopped)
                    .await
                    .map_err(ServerError::Serve)?;
            }
            // Frames are small and written as soon as they exist: without TCP_NODELAY, Nagle's
            // algorithm holds a frame back until the previous one is acknowledged, and the
            // peer's delayed ACK made that up to 40 ms (the relay's p99 at 10,000 frames/s).
            None => axum::serve(
                axum::serve::ListenerExt::tap_io(self.listener, |tcp| {
                    let _ = tcp.set_nodelay(true);
                }),
                self.router,
            )
            .with_graceful_shutdown(stopped)
            .await
            .map_err(ServerError::Serve)?,
        }
        // Connections are closed; stop every run (they end `interrupted`) and flush.
        registry.shutdown().await;
        Ok(())
    }
}

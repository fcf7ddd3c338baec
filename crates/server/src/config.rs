//! Settings: defaults, then the config file, then the environment, then flags.
//!
//! Every flag has a key in the config file (`<data-dir>/config.toml` unless `--config` names
//! another); every limit of the core has one too. The file is optional.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use switchboard_agents::openai_compat::{ApiKey, BaseUrl, EndpointSettings};
use switchboard_core::CoreConfig;
use switchboard_protocol::Provider;
use switchboard_store::Durability;

use crate::error::ServerError;

/// The config file's keys. Every key is optional.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// `--listen`: address and port, loopback by default.
    pub listen: Option<String>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--token`. Prefer the environment or the generated token file.
    pub token: Option<String>,
    /// `--tls-cert`: a PEM certificate chain; with `tls_key`, the server speaks TLS.
    pub tls_cert: Option<PathBuf>,
    /// `--tls-key`: the PEM private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// `--insecure-behind-proxy`: allow a non-loopback listener without TLS, because a
    /// TLS-terminating proxy stands in front.
    pub insecure_behind_proxy: Option<bool>,
    /// `--project`, repeatable: projects registered at start-up.
    #[serde(default)]
    pub projects: Vec<PathBuf>,
    /// Interrupt → SIGKILL when aborting, in milliseconds (5000).
    pub abort_grace_ms: Option<u64>,
    /// The largest inbound WebSocket frame, in bytes (16 MiB).
    pub max_frame_bytes: Option<usize>,
    /// The longest agent output line read, in bytes (64 MiB).
    pub max_agent_line_bytes: Option<usize>,
    /// Journal ring per session, in frames (10000).
    pub journal_ring_frames: Option<usize>,
    /// Journal ring per session, in bytes (16 MiB).
    pub journal_ring_bytes: Option<usize>,
    /// How far a subscriber may lag before it is caught up from the journal, in frames (256).
    pub subscriber_queue_frames: Option<usize>,
    /// Commands queued per session (8).
    pub session_queue_max: Option<usize>,
    /// Unanswered permission requests are cancelled after this, in milliseconds (600000).
    pub permission_timeout_ms: Option<u64>,
    /// Persistence batch window, in milliseconds (5): the durability window.
    pub persist_batch_ms: Option<u64>,
    /// Persistence batch size, in frames (512).
    pub persist_batch_frames: Option<usize>,
    /// Write journaled frames to the store (true). `false` exists to measure what persistence
    /// costs: replay then reaches back only as far as the in-memory ring.
    pub persist_frames: Option<bool>,
    /// `process` (survive a server crash; default) or `power` (fsync every batch).
    pub durability: Option<String>,
    /// Runs live at once, server-wide (256).
    pub max_running_sessions: Option<usize>,
    /// An idle session leaves memory after this, in seconds (300).
    pub idle_unload_secs: Option<u64>,
    /// Replies and notifications queued for one connection's writer before the connection's
    /// reader waits (1024). Journaled frames do not queue here: a slow subscriber lags on
    /// the session's fan-out (`subscriber_queue_frames`) and is caught up from the journal.
    pub connection_queue_frames: Option<usize>,
    /// Origins, besides the server's own, whose pages may open cookie-authenticated
    /// WebSockets (for example a reverse proxy's public origin).
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Client messages one connection may send per second, on average (50)…
    pub max_messages_per_sec: Option<u32>,
    /// …and in a burst (200). Past that a message gets `rate-limited` and is not handled.
    pub max_message_burst: Option<u32>,
    /// Connections attached to one session at most (64).
    pub max_subscribers_per_session: Option<usize>,
    /// The server pings every connection this often, in milliseconds (15000)…
    pub ping_interval_ms: Option<u64>,
    /// …and drops one it has heard nothing from (not even a pong) for this long (45000).
    pub idle_timeout_ms: Option<u64>,
    /// A run silent this long gets a warning notice frame, once per silence; it is not
    /// stopped (seconds, 300).
    pub agent_silence_notice_secs: Option<u64>,
    /// Images one command may attach (8).
    pub max_images: Option<usize>,
    /// The largest attached image, decoded, in bytes (10 MiB).
    pub max_image_bytes: Option<usize>,
    /// Per-provider settings: `[agents.claude.env]` adds environment variables to every
    /// claude process (API keys, base URLs, …), on top of the server's own environment;
    /// `[agents.openrouter]` and `[agents.local]` also say where their model API is.
    #[serde(default)]
    pub agents: BTreeMap<String, AgentConfig>,
    /// Journals of finished sessions last updated longer ago than this are removed, in
    /// seconds (none: kept forever).
    pub retention_max_age_secs: Option<u64>,
    /// While all journals together exceed this many bytes, the least recently updated
    /// finished sessions are removed (none: no limit).
    pub retention_max_bytes: Option<u64>,
    /// How often retention runs, in seconds (3600).
    pub retention_interval_secs: Option<u64>,
    /// Accept commands in directories outside every registered project (false). Their
    /// sessions have no `projectId`; `projectName` is the seed's name of the directory.
    pub allow_any_project: Option<bool>,
}

/// `[agents.<provider>]`.
#[derive(Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// openrouter and local: the Chat Completions base URL, with or without `/v1`. It may
    /// point anywhere (a URL a client sends must be loopback).
    pub base_url: Option<String>,
    /// openrouter and local: the API key. `OPENROUTER_API_KEY` wins for openrouter. Never
    /// logged.
    pub api_key: Option<String>,
    /// openrouter and local: the model when a command names none.
    pub model: Option<String>,
    /// openrouter and local: model calls per run at most (30).
    pub max_turns: Option<usize>,
    /// openrouter and local: silence from the model API that fails a run, in seconds (300).
    pub idle_timeout_secs: Option<u64>,
    /// openrouter and local: the context window reported in `token-budget` (200000 and 32000).
    pub context_tokens: Option<u64>,
}

/// Written by hand so that the API key can never reach a log line.
impl std::fmt::Debug for AgentConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentConfig")
            .field("env", &self.env.keys().collect::<Vec<_>>())
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("model", &self.model)
            .field("max_turns", &self.max_turns)
            .field("idle_timeout_secs", &self.idle_timeout_secs)
            .field("context_tokens", &self.context_tokens)
            .finish()
    }
}

impl AgentConfig {
    fn has_endpoint_keys(&self) -> bool {
        self.base_url.is_some()
            || self.api_key.is_some()
            || self.model.is_some()
            || self.max_turns.is_some()
            || self.idle_timeout_secs.is_some()
            || self.context_tokens.is_some()
    }

    /// Applies the endpoint keys to a provider's settings.
    fn apply_to(&self, name: &str, endpoint: &mut EndpointSettings) -> Result<(), ServerError> {
        if let Some(url) = &self.base_url {
            endpoint.base_url = BaseUrl::parse(url)
                .map_err(|e| ServerError::Setting(format!("[agents.{name}] base_url: {e}")))?;
        }
        if let Some(key) = &self.api_key {
            endpoint.api_key = ApiKey::new(key.clone());
        }
        if let Some(model) = self.model.clone().filter(|m| !m.trim().is_empty()) {
            endpoint.default_model = model;
        }
        if let Some(v) = self.max_turns {
            endpoint.max_turns = positive(&format!("[agents.{name}] max_turns"), v)?;
        }
        if let Some(v) = self.idle_timeout_secs {
            endpoint.idle_timeout = Duration::from_secs(v.max(1));
        }
        if let Some(v) = self.context_tokens {
            endpoint.context_tokens = v;
        }
        Ok(())
    }
}

/// Where the HTTP agent loop's two providers find their models.
#[derive(Debug, Clone)]
pub struct ModelEndpoints {
    pub openrouter: EndpointSettings,
    pub local: EndpointSettings,
}

impl Default for ModelEndpoints {
    fn default() -> Self {
        Self {
            openrouter: EndpointSettings::openrouter(),
            local: EndpointSettings::local(),
        }
    }
}

impl ModelEndpoints {
    /// `SWITCHBOARD_OPENROUTER_URL`, `OPENROUTER_API_KEY` and `SWITCHBOARD_LOCAL_URL`, which
    /// win over the config file. `var` reads one variable (the process environment, or a
    /// map in tests).
    pub fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<(), ServerError> {
        let set = |v: Option<String>| v.filter(|v| !v.trim().is_empty());
        if let Some(url) = set(var("SWITCHBOARD_OPENROUTER_URL")) {
            self.openrouter.base_url = BaseUrl::parse(&url)
                .map_err(|e| ServerError::Setting(format!("SWITCHBOARD_OPENROUTER_URL: {e}")))?;
        }
        if let Some(key) = set(var("OPENROUTER_API_KEY")) {
            self.openrouter.api_key = ApiKey::new(key);
        }
        if let Some(url) = set(var("SWITCHBOARD_LOCAL_URL")) {
            self.local.base_url = BaseUrl::parse(&url)
                .map_err(|e| ServerError::Setting(format!("SWITCHBOARD_LOCAL_URL: {e}")))?;
        }
        Ok(())
    }
}

/// Values given on the command line (or through the environment by clap).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub config: Option<PathBuf>,
    pub token: Option<String>,
    pub projects: Vec<PathBuf>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub insecure_behind_proxy: bool,
}

/// Per-connection limits of the WebSocket endpoint.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    pub messages_per_sec: u32,
    pub message_burst: u32,
    pub subscribers_per_session: usize,
    pub ping_interval: Duration,
    pub idle_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            messages_per_sec: 50,
            message_burst: 200,
            subscribers_per_session: 64,
            ping_interval: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(45),
        }
    }
}

/// The resolved settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// `Some` when the operator supplied a token (never printed); `None` to use or generate the
    /// data dir's token.
    pub token: Option<String>,
    pub projects: Vec<PathBuf>,
    pub max_frame_bytes: usize,
    pub connection_queue_frames: usize,
    pub limits: ConnectionLimits,
    pub allowed_origins: Vec<String>,
    /// Certificate chain and key: the server speaks TLS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// A non-loopback listener without TLS was allowed explicitly.
    pub insecure_behind_proxy: bool,
    pub durability: Durability,
    /// What history retention keeps, and how often it runs.
    pub retention: switchboard_core::retention::RetentionPolicy,
    pub retention_interval: Duration,
    pub core: CoreConfig,
    /// The openrouter and local providers' model APIs.
    pub model_endpoints: ModelEndpoints,
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:7420";

impl Settings {
    /// Defaults for a data dir, as used by tests and by `serve` without a config file.
    pub fn for_data_dir(data_dir: PathBuf) -> Self {
        let core = CoreConfig {
            attachments_dir: data_dir.join("attachments"),
            ..CoreConfig::default()
        };
        Self {
            listen: DEFAULT_LISTEN.parse().expect("valid default"),
            data_dir,
            token: None,
            projects: Vec::new(),
            max_frame_bytes: 16 * 1024 * 1024,
            connection_queue_frames: 1024,
            limits: ConnectionLimits::default(),
            allowed_origins: Vec::new(),
            tls: None,
            insecure_behind_proxy: false,
            durability: Durability::Process,
            retention: Default::default(),
            retention_interval: Duration::from_secs(3600),
            core,
            model_endpoints: ModelEndpoints::default(),
        }
    }

    pub fn load(overrides: Overrides) -> Result<Self, ServerError> {
        let data_dir = match overrides.data_dir.clone() {
            Some(dir) => dir,
            None => default_data_dir()?,
        };
        let config_path = overrides
            .config
            .clone()
            .unwrap_or_else(|| data_dir.join("config.toml"));
        let file = read_file_config(&config_path, overrides.config.is_some())?;
        // A data dir named in the config file counts only when no flag named one.
        let data_dir = match (&overrides.data_dir, &file.data_dir) {
            (None, Some(dir)) => dir.clone(),
            _ => data_dir,
        };
        let mut settings = Settings::for_data_dir(data_dir);
        settings.apply_file(&file)?;
        settings
            .model_endpoints
            .apply_env(|name| std::env::var(name).ok())?;
        if let Some(listen) = overrides.listen {
            settings.listen = parse_listen(&listen)?;
        }
        if let Some(token) = overrides.token.filter(|t| !t.is_empty()) {
            settings.token = Some(token);
        }
        settings.projects.extend(overrides.projects);
        let cert = overrides.tls_cert.or(file.tls_cert.clone());
        let key = overrides.tls_key.or(file.tls_key.clone());
        settings.tls = match (cert, key) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => {
                return Err(ServerError::Setting(
                    "--tls-cert and --tls-key go together".into(),
                ))
            }
        };
        settings.insecure_behind_proxy =
            overrides.insecure_behind_proxy || file.insecure_behind_proxy.unwrap_or(false);
        settings.check_exposure()?;
        Ok(settings)
    }

    fn apply_file(&mut self, file: &FileConfig) -> Result<(), ServerError> {
        if let Some(listen) = &file.listen {
            self.listen = parse_listen(listen)?;
        }
        if let Some(token) = file.token.clone().filter(|t| !t.is_empty()) {
            self.token = Some(token);
        }
        self.projects.extend(file.projects.iter().cloned());
        let core = &mut self.core;
        let ms = Duration::from_millis;
        if let Some(v) = file.abort_grace_ms {
            core.abort_grace = ms(v);
        }
        if let Some(v) = file.max_frame_bytes {
            self.max_frame_bytes = positive("max_frame_bytes", v)?;
        }
        if let Some(v) = file.max_agent_line_bytes {
            core.max_agent_line_bytes = positive("max_agent_line_bytes", v)?;
        }
        if let Some(v) = file.journal_ring_frames {
            core.ring_max_frames = positive("journal_ring_frames", v)?;
        }
        if let Some(v) = file.journal_ring_bytes {
            core.ring_max_bytes = positive("journal_ring_bytes", v)?;
        }
        if let Some(v) = file.subscriber_queue_frames {
            core.subscriber_queue_frames = positive("subscriber_queue_frames", v)?;
        }
        if let Some(v) = file.session_queue_max {
            core.session_queue_max = v;
        }
        if let Some(v) = file.permission_timeout_ms {
            core.permission_timeout = ms(v);
        }
        if let Some(v) = file.persist_batch_ms {
            core.persist_batch_interval = ms(v);
        }
        if let Some(v) = file.persist_batch_frames {
            core.persist_batch_frames = positive("persist_batch_frames", v)?;
        }
        if let Some(v) = file.persist_frames {
            core.persist_frames = v;
        }
        if let Some(v) = file.max_running_sessions {
            core.max_running_sessions = positive("max_running_sessions", v)?;
        }
        if let Some(v) = file.idle_unload_secs {
            core.idle_unload = Duration::from_secs(v.max(1));
        }
        self.allowed_origins
            .extend(file.allowed_origins.iter().cloned());
        if let Some(v) = file.max_messages_per_sec {
            self.limits.messages_per_sec = v.max(1);
        }
        if let Some(v) = file.max_message_burst {
            self.limits.message_burst = v.max(1);
        }
        if let Some(v) = file.max_subscribers_per_session {
            self.limits.subscribers_per_session = positive("max_subscribers_per_session", v)?;
        }
        if let Some(v) = file.ping_interval_ms {
            self.limits.ping_interval = Duration::from_millis(v.max(10));
        }
        if let Some(v) = file.idle_timeout_ms {
            self.limits.idle_timeout = Duration::from_millis(v.max(20));
        }
        if let Some(v) = file.agent_silence_notice_secs {
            self.core.agent_silence_notice = Duration::from_secs(v.max(1));
        }
        if let Some(v) = file.max_images {
            self.core.max_images = v;
        }
        if let Some(v) = file.max_image_bytes {
            self.core.max_image_bytes = positive("max_image_bytes", v)?;
        }
        for (name, agent) in &file.agents {
            let provider = Provider::parse(name).ok_or_else(|| {
                ServerError::Setting(format!(
                    "[agents.{name}]: unknown provider (claude, cursor, codex, gemini, openrouter, local, nano)"
                ))
            })?;
            let env = agent
                .env
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            self.core.agent_env.insert(provider, env);
            match provider {
                Provider::Openrouter => {
                    agent.apply_to(name, &mut self.model_endpoints.openrouter)?
                }
                Provider::Local => agent.apply_to(name, &mut self.model_endpoints.local)?,
                _ if agent.has_endpoint_keys() => {
                    return Err(ServerError::Setting(format!(
                        "[agents.{name}]: base_url, api_key, model, max_turns, idle_timeout_secs \
                         and context_tokens are for openrouter and local only"
                    )))
                }
                _ => {}
            }
        }
        if let Some(v) = file.connection_queue_frames {
            self.connection_queue_frames = positive("connection_queue_frames", v)?;
        }
        if let Some(v) = file.allow_any_project {
            self.core.allow_any_project = v;
        }
        if let Some(v) = file.retention_max_age_secs {
            self.retention.max_age = Some(Duration::from_secs(v));
        }
        if let Some(v) = file.retention_max_bytes {
            self.retention.max_bytes = Some(v);
        }
        if let Some(v) = file.retention_interval_secs {
            let v = positive("retention_interval_secs", v as usize)?;
            self.retention_interval = Duration::from_secs(v as u64);
        }
        if let Some(d) = &file.durability {
            self.durability = match d.as_str() {
                "process" => Durability::Process,
                "power" => Durability::Power,
                other => {
                    return Err(ServerError::Setting(format!(
                        "durability must be \"process\" or \"power\", not {other:?}"
                    )))
                }
            };
        }
        Ok(())
    }

    /// A listener beyond loopback needs TLS, or an explicit statement that a TLS-terminating
    /// proxy stands in front: a server exposed by mistake must not send the token, or run
    /// agents, over plain text.
    pub fn check_exposure(&self) -> Result<(), ServerError> {
        if self.listen.ip().is_loopback() || self.tls.is_some() || self.insecure_behind_proxy {
            return Ok(());
        }
        Err(ServerError::Setting(format!(
            "listening on {} (not loopback) needs TLS (--tls-cert and --tls-key), or              --insecure-behind-proxy when a TLS-terminating proxy stands in front",
            self.listen
        )))
    }

    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("switchboard.sqlite")
    }

    pub fn token_path(&self) -> PathBuf {
        self.data_dir.join("token")
    }

    /// The token a client on this machine uses for a server when none was given: the
    /// config's, else the data dir's token file, which is read only for a server on this
    /// machine (the local token must never travel to another one).
    pub fn client_token(&self, server_is_local: bool) -> Option<String> {
        self.token
            .clone()
            .or_else(|| server_is_local.then(|| self.read_token_file()).flatten())
    }

    /// Creates the data dir (and its parents) if it is missing.
    pub fn create_data_dir(&self) -> Result<(), ServerError> {
        std::fs::create_dir_all(&self.data_dir).map_err(|source| ServerError::DataDir {
            path: self.data_dir.clone(),
            source,
        })
    }

    /// The token kept in the data dir, if it is readable and not empty.
    pub fn read_token_file(&self) -> Option<String> {
        std::fs::read_to_string(self.token_path())
            .ok()
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
    }

    /// Where a client on this machine reaches this server: `listen`, with an unspecified
    /// address (listening on every address) replaced by loopback.
    pub fn local_addr(&self) -> SocketAddr {
        let mut addr = self.listen;
        if addr.ip().is_unspecified() {
            addr.set_ip(if addr.is_ipv4() {
                std::net::Ipv4Addr::LOCALHOST.into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            });
        }
        addr
    }
}

fn positive(key: &str, v: usize) -> Result<usize, ServerError> {
    if v == 0 {
        Err(ServerError::Setting(format!(
            "{key} must be greater than 0"
        )))
    } else {
        Ok(v)
    }
}

fn parse_listen(listen: &str) -> Result<SocketAddr, ServerError> {
    listen.parse().map_err(|_| {
        ServerError::Setting(format!(
            "listen must be ADDR:PORT (for example 127.0.0.1:7420), not {listen:?}"
        ))
    })
}

fn read_file_config(path: &Path, required: bool) -> Result<FileConfig, ServerError> {
    match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text).map_err(|e| ServerError::ConfigParse {
            path: path.to_owned(),
            message: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
            Ok(FileConfig::default())
        }
        Err(source) => Err(ServerError::ConfigRead {
            path: path.to_owned(),
            source,
        }),
    }
}

/// `$XDG_DATA_HOME/switchboard` (usually `~/.local/share/switchboard`).
pub fn default_data_dir() -> Result<PathBuf, ServerError> {
    dirs::data_dir()
        .map(|d| d.join("switchboard"))
        .ok_or_else(|| ServerError::Setting("no user data directory; pass --data-dir".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.toml"),
            "listen = \"127.0.0.1:9000\"\nabort_grace_ms = 250\nsession_queue_max = 3\ndurability = \"power\"\n",
        )
        .unwrap();
        let settings = Settings::load(Overrides {
            data_dir: Some(dir.path().to_owned()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(settings.listen.port(), 9000);
        assert_eq!(settings.core.abort_grace, Duration::from_millis(250));
        assert_eq!(settings.core.session_queue_max, 3);
        assert_eq!(settings.durability, Durability::Power);
        let settings = Settings::load(Overrides {
            data_dir: Some(dir.path().to_owned()),
            listen: Some("127.0.0.1:0".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(settings.listen.port(), 0);
    }

    #[test]
    fn exposure_needs_tls_or_an_explicit_proxy() {
        let dir = tempfile::tempdir().unwrap();
        let load = |listen: &str, tls: bool, insecure: bool| {
            Settings::load(Overrides {
                data_dir: Some(dir.path().to_owned()),
                listen: Some(listen.into()),
                tls_cert: tls.then(|| "/c.pem".into()),
                tls_key: tls.then(|| "/k.pem".into()),
                insecure_behind_proxy: insecure,
                ..Default::default()
            })
        };
        assert!(load("127.0.0.1:0", false, false).is_ok());
        assert!(load("[::1]:0", false, false).is_ok());
        assert!(matches!(
            load("0.0.0.0:7420", false, false),
            Err(ServerError::Setting(_))
        ));
        assert!(matches!(
            load("192.0.2.7:7420", false, false),
            Err(ServerError::Setting(_))
        ));
        assert!(load("0.0.0.0:7420", true, false).is_ok());
        assert!(load("0.0.0.0:7420", false, true).is_ok());
        let half = Settings::load(Overrides {
            data_dir: Some(dir.path().to_owned()),
            tls_cert: Some("/c.pem".into()),
            ..Default::default()
        });
        assert!(matches!(half, Err(ServerError::Setting(_))));
    }

    #[test]
    fn model_endpoints_from_file_then_environment() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.toml"),
            "[agents.openrouter]\nbase_url = \"http://gateway.internal:8080/v1/\"\n\
             api_key = \"sk-file\"\nmax_turns = 4\n\
             [agents.local]\nbase_url = \"http://10.1.2.3:8000\"\nmodel = \"llama3\"\n",
        )
        .unwrap();
        let mut settings = Settings::for_data_dir(dir.path().to_owned());
        let file = read_file_config(&dir.path().join("config.toml"), true).unwrap();
        settings.apply_file(&file).unwrap();
        let endpoints = &settings.model_endpoints;
        assert_eq!(
            endpoints.openrouter.base_url.as_str(),
            "http://gateway.internal:8080"
        );
        assert_eq!(endpoints.openrouter.api_key, ApiKey::new("sk-file"));
        assert_eq!(endpoints.openrouter.max_turns, 4);
        assert_eq!(endpoints.local.base_url.as_str(), "http://10.1.2.3:8000");
        assert_eq!(endpoints.local.default_model, "llama3");
        // The key is never shown, whichever way the settings are printed.
        assert!(!format!("{settings:?}").contains("sk-file"));
        assert!(!format!("{file:?}").contains("sk-file"));

        let env = |name: &str| match name {
            "OPENROUTER_API_KEY" => Some("sk-env".to_owned()),
            "SWITCHBOARD_LOCAL_URL" => Some("http://localhost:1234".to_owned()),
            _ => None,
        };
        settings.model_endpoints.apply_env(env).unwrap();
        assert_eq!(
            settings.model_endpoints.openrouter.api_key,
            ApiKey::new("sk-env")
        );
        assert_eq!(
            settings.model_endpoints.openrouter.base_url.as_str(),
            "http://gateway.internal:8080"
        );
        assert_eq!(
            settings.model_endpoints.local.base_url.as_str(),
            "http://localhost:1234"
        );
        let bad = |name: &str| (name == "SWITCHBOARD_LOCAL_URL").then(|| "ftp://x".to_owned());
        assert!(settings.model_endpoints.apply_env(bad).is_err());
    }

    #[test]
    fn the_token_file_is_offered_only_to_a_local_server() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), "from-file\n").unwrap();
        let mut settings = Settings::for_data_dir(dir.path().to_owned());
        assert_eq!(settings.client_token(true).as_deref(), Some("from-file"));
        assert_eq!(settings.client_token(false), None);
        settings.token = Some("configured".into());
        assert_eq!(settings.client_token(false).as_deref(), Some("configured"));
    }

    #[test]
    fn endpoint_keys_only_for_model_providers() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.toml"),
            "[agents.claude]\nbase_url = \"http://localhost:1\"\n",
        )
        .unwrap();
        let loaded = Settings::load(Overrides {
            data_dir: Some(dir.path().to_owned()),
            ..Default::default()
        });
        assert!(matches!(loaded, Err(ServerError::Setting(_))));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "lisen = \"x\"\n").unwrap();
        let load = || {
            Settings::load(Overrides {
                data_dir: Some(dir.path().to_owned()),
                config: Some(path.clone()),
                ..Default::default()
            })
        };
        assert!(matches!(load(), Err(ServerError::ConfigParse { .. })));
        std::fs::write(&path, "durability = \"sometimes\"\n").unwrap();
        assert!(matches!(load(), Err(ServerError::Setting(_))));
        std::fs::remove_file(&path).unwrap();
        assert!(
            matches!(load(), Err(ServerError::ConfigRead { .. })),
            "a named config file must exist"
        );
    }
}

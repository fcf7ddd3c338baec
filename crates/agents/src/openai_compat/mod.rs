//! `openrouter` and `local`: an agent loop of Switchboard's own over any OpenAI-compatible
//! Chat Completions API (OpenRouter, Ollama, vLLM, llama.cpp's server, LM Studio).
//!
//! There is no CLI to supervise: Switchboard streams the model's answer over HTTP and runs the
//! tools itself, confined to the project ([`tools`]), under the permission rules of the other
//! providers ([`permissions`]). The conversation lives in Switchboard's store behind
//! [`ConversationLog`]; a session's native id is its Switchboard id, and resuming it sends the
//! stored history back ([`run`]).
//!
//! Modules: [`endpoint`] (base URLs, the key), [`http`] (one streamed call), [`delta`]
//! (assembling an answer from chunks), [`events`] (what the client sees), [`error`].

pub mod delta;
pub mod endpoint;
pub mod error;
pub mod events;
pub mod http;
pub mod permissions;
pub mod run;
pub mod tools;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use switchboard_agent_api::{Agent, AgentOutput, BoxFuture, ConversationLog, RunIo, RunSpec};
use switchboard_protocol::lifecycle::AgentExit;
use switchboard_protocol::Provider;

pub use endpoint::{ApiKey, BaseUrl};
pub use error::LoopError;

use permissions::Policy;

/// The public OpenRouter API.
pub const OPENROUTER_URL: &str = "https://openrouter.ai/api/v1";
/// Ollama's default address; vLLM, llama.cpp and LM Studio take a URL in the config.
pub const LOCAL_URL: &str = "http://127.0.0.1:11434/v1";
/// Environment names the Bash tool never inherits (besides Switchboard's own secrets).
const MODEL_SECRETS: &[&str] = &["OPENROUTER_API_KEY"];

/// How one provider reaches its model. Built by the server from its config and environment.
#[derive(Debug, Clone)]
pub struct EndpointSettings {
    pub base_url: BaseUrl,
    pub api_key: Option<ApiKey>,
    /// Used when a command names no model.
    pub default_model: String,
    /// Model calls per run at most.
    pub max_turns: usize,
    /// Silence from the model API longer than this fails the run.
    pub idle_timeout: Duration,
    /// The context window reported in `token-budget`.
    pub context_tokens: u64,
}

impl EndpointSettings {
    /// The seed's defaults for OpenRouter.
    pub fn openrouter() -> Self {
        EndpointSettings {
            base_url: BaseUrl::parse(OPENROUTER_URL).expect("a valid constant"),
            api_key: None,
            default_model: "anthropic/claude-sonnet-4".into(),
            max_turns: 30,
            idle_timeout: Duration::from_secs(300),
            context_tokens: 200_000,
        }
    }

    /// The seed's defaults for a local server.
    pub fn local() -> Self {
        EndpointSettings {
            base_url: BaseUrl::parse(LOCAL_URL).expect("a valid constant"),
            default_model: "qwen3-32b".into(),
            context_tokens: 32_000,
            ..EndpointSettings::openrouter()
        }
    }
}

pub struct OpenAiCompatAgent {
    provider: Provider,
    settings: EndpointSettings,
    log: Arc<dyn ConversationLog>,
    /// One client for every run, so runs reuse its connections.
    http: reqwest::Client,
}

impl OpenAiCompatAgent {
    /// `provider` is `Openrouter` or `Local`.
    pub fn new(
        provider: Provider,
        settings: EndpointSettings,
        log: Arc<dyn ConversationLog>,
    ) -> Self {
        OpenAiCompatAgent {
            provider,
            settings,
            log,
            http: http::http_client(),
        }
    }

    /// The base URL of a run: a client's `options.serverUrl` (local only, loopback only),
    /// else the configured one.
    fn base_url(&self, spec: &RunSpec) -> Result<BaseUrl, String> {
        if self.provider != Provider::Local {
            return Ok(self.settings.base_url.clone());
        }
        match spec.options.get("serverUrl") {
            None | Some(Value::Null) => Ok(self.settings.base_url.clone()),
            Some(Value::String(url)) if url.trim().is_empty() => Ok(self.settings.base_url.clone()),
            Some(Value::String(url)) => BaseUrl::parse_loopback(url),
            Some(_) => Err("options.serverUrl must be a string".into()),
        }
    }

    fn system_prompt(&self, spec: &RunSpec) -> String {
        if let Some(prompt) = spec.options.get("systemPrompt").and_then(Value::as_str) {
            if !prompt.trim().is_empty() {
                return prompt.to_owned();
            }
        }
        format!(
            "You are a coding agent working in the project at {}. Use the tools to read, \
             search and change its files and to run commands there; every path must stay \
             inside the project. When the task is done, answer briefly.",
            spec.cwd.display()
        )
    }

    fn setup(&self, spec: &RunSpec) -> Result<run::Setup, LoopError> {
        let base = self.base_url(spec).map_err(LoopError::Config)?;
        if self.provider == Provider::Openrouter && self.settings.api_key.is_none() {
            return Err(LoopError::Config(
                "no OpenRouter API key: set OPENROUTER_API_KEY for the server, or api_key in \
                 [agents.openrouter] of its config file"
                    .into(),
            ));
        }
        Ok(run::Setup {
            client: http::ChatClient::new(
                self.http.clone(),
                &base,
                self.settings.api_key.clone(),
                self.settings.idle_timeout,
            ),
            model: spec
                .model
                .clone()
                .unwrap_or_else(|| self.settings.default_model.clone()),
            policy: Policy::from_command(spec.permission_mode, &spec.options),
            log: Arc::clone(&self.log),
            conversation: spec
                .resume
                .clone()
                .unwrap_or_else(|| spec.session_id.to_string()),
            max_turns: self.settings.max_turns,
            context_tokens: self.settings.context_tokens,
            system_prompt: self.system_prompt(spec),
            secret_env: MODEL_SECRETS,
        })
    }
}

impl Agent for OpenAiCompatAgent {
    fn provider(&self) -> Provider {
        self.provider
    }

    fn default_model(&self) -> Option<String> {
        Some(self.settings.default_model.clone())
    }

    /// A new conversation is stored under the session's own id.
    fn chosen_native_id(&self, spec: &RunSpec) -> Option<String> {
        spec.resume.is_none().then(|| spec.session_id.to_string())
    }

    /// A client-sent `serverUrl` that is not loopback is refused before anything starts.
    fn check(&self, spec: &RunSpec) -> Result<(), String> {
        self.base_url(spec).map(|_| ())
    }

    fn run(&self, spec: RunSpec, io: RunIo) -> BoxFuture<()> {
        let setup = self.setup(&spec);
        Box::pin(async move {
            let result = match setup {
                Ok(setup) => match run::Loop::new(setup, &spec, &io) {
                    Ok(mut run) => run.drive().await,
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            };
            // Whatever a Bash command left running in the background ends with the run.
            crate::sweep::sweep_run(&spec.run_id, None).await;
            let exit = match result {
                Ok(()) => AgentExit::Exited {
                    exit_code: Some(0),
                    signal: None,
                    reported_success: true,
                    error: None,
                    detail: None,
                },
                Err(LoopError::Aborted) => AgentExit::Exited {
                    exit_code: None,
                    signal: None,
                    reported_success: false,
                    error: None,
                    detail: Some("aborted".into()),
                },
                Err(e) => {
                    tracing::debug!(run_id = %spec.run_id, error = %e, "agent loop failed");
                    AgentExit::Exited {
                        exit_code: Some(1),
                        signal: None,
                        reported_success: false,
                        error: Some(e.to_string()),
                        detail: None,
                    }
                }
            };
            let _ = io.output.send(AgentOutput::Exit(exit)).await;
        })
    }
}

#[cfg(test)]
mod tests {
    use parking_lot::Mutex;
    use serde_json::json;
    use switchboard_agent_api::{ConversationError, RunLimits};
    use switchboard_protocol::SessionId;
    use tokio::sync::mpsc;
    use tokio_util::sync::CancellationToken;

    use super::*;

    /// The seam needs no database: a vector per conversation will do.
    #[derive(Default)]
    struct MemoryLog(Mutex<std::collections::HashMap<String, Vec<Value>>>);

    impl ConversationLog for MemoryLog {
        fn load(&self, conversation: &str) -> Result<Vec<Value>, ConversationError> {
            Ok(self.0.lock().get(conversation).cloned().unwrap_or_default())
        }
        fn append(&self, conversation: &str, messages: &[Value]) -> Result<(), ConversationError> {
            let mut all = self.0.lock();
            all.entry(conversation.to_owned())
                .or_default()
                .extend_from_slice(messages);
            Ok(())
        }
    }

    fn spec(options: Value) -> RunSpec {
        RunSpec {
            session_id: SessionId::new_v4(),
            // Unique: a run's end sweeps every process marked with its id, and other tests in
            // this binary run processes of their own at the same time.
            run_id: format!("openai-compat-test-{}", SessionId::new_v4()),
            prompt: "hi".into(),
            cwd: std::env::temp_dir(),
            model: None,
            permission_mode: None,
            resume: None,
            options: options.as_object().cloned().unwrap_or_default(),
            continue_only: false,
            attachments: Vec::new(),
        }
    }

    fn agent(provider: Provider, settings: EndpointSettings) -> OpenAiCompatAgent {
        OpenAiCompatAgent::new(provider, settings, Arc::new(MemoryLog::default()))
    }

    #[test]
    fn only_local_takes_a_client_url_and_only_on_loopback() {
        let local = agent(Provider::Local, EndpointSettings::local());
        assert!(local.check(&spec(json!({}))).is_ok());
        assert!(local.check(&spec(json!({"serverUrl": ""}))).is_ok());
        let ollama = spec(json!({"serverUrl": "http://localhost:11434"}));
        assert_eq!(
            local.base_url(&ollama).unwrap().chat_completions(),
            "http://localhost:11434/v1/chat/completions"
        );
        let err = local
            .check(&spec(json!({"serverUrl": "http://203.0.113.9:11434"})))
            .unwrap_err();
        assert!(err.contains("options.serverUrl"), "{err}");
        assert!(local.check(&spec(json!({"serverUrl": 7}))).is_err());
        // openrouter ignores it: its URL is the operator's.
        let openrouter = agent(Provider::Openrouter, EndpointSettings::openrouter());
        let remote = spec(json!({"serverUrl": "http://203.0.113.9"}));
        assert!(openrouter.check(&remote).is_ok());
        assert_eq!(
            openrouter.base_url(&remote).unwrap().as_str(),
            "https://openrouter.ai/api"
        );
        assert_eq!(
            openrouter.chosen_native_id(&remote),
            Some(remote.session_id.to_string())
        );
    }

    #[tokio::test]
    async fn openrouter_without_a_key_fails_before_any_request() {
        let openrouter = agent(Provider::Openrouter, EndpointSettings::openrouter());
        let (output, mut outputs) = mpsc::channel(8);
        let io = RunIo {
            output,
            env: Vec::new(),
            abort: CancellationToken::new(),
            limits: RunLimits::default(),
        };
        openrouter.run(spec(json!({})), io).await;
        match outputs.recv().await {
            Some(AgentOutput::Exit(AgentExit::Exited {
                error: Some(error), ..
            })) => {
                assert!(error.contains("OPENROUTER_API_KEY"), "{error}")
            }
            other => panic!("expected a failed exit, got {other:?}"),
        }
        assert!(outputs.recv().await.is_none(), "Exit is the last output");
    }
}

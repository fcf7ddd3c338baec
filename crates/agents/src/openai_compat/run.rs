//! One run of the agent loop: load the conversation, add the user's turn, then call the model
//! until it answers without tool calls (or the turn limit is reached), running the tools it
//! asks for in between. Every message is stored as soon as it exists, so a resumed session
//! sends the model exactly what it saw.
//!
//! Abort is checked at every wait: the HTTP stream is dropped (which closes the connection),
//! a running tool is killed with its descendants, and a pending permission is given up.

use std::collections::HashSet;
use std::sync::Arc;

use futures_util::StreamExt;
use serde_json::{json, Value};
use switchboard_agent_api::{
    AgentOutput, ConversationLog, PermissionAsk, PermissionDecision, RunIo, RunSpec,
};
use tokio::sync::oneshot;

use super::delta::{Answer, Assembler, Piece, ToolCall};
use super::error::LoopError;
use super::events;
use super::http::{ChatClient, StreamItem};
use super::permissions::{Policy, Verdict};
use super::tools::bash::{self, BashContext, BashOutcome};
use super::tools::paths::Root;
use super::tools::{self, Tool};

/// Said to the model when a permission request ends without an answer.
const NO_ANSWER: &str = "the user did not allow this tool call";

/// What a run needs besides its spec and channels.
pub struct Setup {
    pub client: ChatClient,
    pub model: String,
    pub policy: Policy,
    pub log: Arc<dyn ConversationLog>,
    /// The key the conversation is stored under (the native session id).
    pub conversation: String,
    pub max_turns: usize,
    pub context_tokens: u64,
    pub system_prompt: String,
    /// Environment names the Bash tool must not inherit.
    pub secret_env: &'static [&'static str],
}

pub struct Loop<'a> {
    setup: Setup,
    spec: &'a RunSpec,
    io: &'a RunIo,
    root: Root,
    history: Vec<Value>,
    /// Tools the client allowed for the rest of the run.
    remembered: HashSet<&'static str>,
    permission_count: u64,
}

impl<'a> Loop<'a> {
    pub fn new(setup: Setup, spec: &'a RunSpec, io: &'a RunIo) -> Result<Self, LoopError> {
        let root = Root::new(&spec.cwd).map_err(|e| {
            LoopError::Config(format!("the project directory {}: {e}", spec.cwd.display()))
        })?;
        Ok(Loop {
            setup,
            spec,
            io,
            root,
            history: Vec::new(),
            remembered: HashSet::new(),
            permission_count: 0,
        })
    }

    pub async fn drive(&mut self) -> Result<(), LoopError> {
        self.history = self.load().await?;
        if self.spec.resume.is_some() && self.history.is_empty() {
            return Err(LoopError::UnknownConversation(
                self.setup.conversation.clone(),
            ));
        }
        self.record(json!({"role": "user", "content": self.spec.turn_text()}))
            .await?;
        for _ in 0..self.setup.max_turns {
            let answer = self.call_model().await?;
            self.record(answer.message()).await?;
            if answer.tool_calls.is_empty() {
                return Ok(());
            }
            self.run_tools(&answer.tool_calls).await?;
        }
        Err(LoopError::TurnLimit(self.setup.max_turns))
    }

    /// One streamed model call; text is reported as it arrives.
    async fn call_model(&mut self) -> Result<Answer, LoopError> {
        let mut messages = Vec::with_capacity(self.history.len() + 1);
        messages.push(json!({"role": "system", "content": self.setup.system_prompt}));
        messages.extend(self.history.iter().cloned());
        let body = json!({
            "model": self.setup.model,
            "messages": messages,
            "stream": true,
            "stream_options": {"include_usage": true},
            "tools": tools::definitions(self.setup.policy.read_only()),
            "tool_choice": "auto",
        });
        let stream = self.abortable(self.setup.client.stream(&body)).await?;
        let mut stream = std::pin::pin!(stream);
        let mut assembler = Assembler::default();
        let mut done = false;
        while let Some(item) = self.abortable(async { Ok(stream.next().await) }).await? {
            match item? {
                StreamItem::Done => {
                    done = true;
                    break;
                }
                StreamItem::Chunk(chunk) => {
                    for piece in assembler.push(&chunk) {
                        self.send(match piece {
                            Piece::Text(text) => events::text_delta(&text),
                            Piece::Reasoning(text) => events::reasoning_delta(&text),
                        })
                        .await?;
                    }
                }
            }
        }
        if !done && !assembler.finished() {
            return Err(LoopError::StreamCut(
                "the response ended without a finish_reason or [DONE]".into(),
            ));
        }
        let answer = assembler.finish();
        if let Some(usage) = &answer.usage {
            self.send(events::usage(usage)).await?;
            self.send(events::token_budget(usage, self.setup.context_tokens))
                .await?;
        }
        Ok(answer)
    }

    /// Runs the calls in order. If the run stops half-way, the calls not answered get a
    /// stored result saying so: the API refuses a history with an unanswered call.
    async fn run_tools(&mut self, calls: &[ToolCall]) -> Result<(), LoopError> {
        for (index, call) in calls.iter().enumerate() {
            let outcome = self.run_tool(call).await;
            let (output, is_error) = match outcome {
                Ok(result) => result,
                Err(e) => {
                    let why = format!("not run: the run ended ({e})");
                    let unanswered: Vec<Value> = calls[index..]
                        .iter()
                        .map(|c| tool_message(&c.id, &why))
                        .collect();
                    self.record_all(unanswered).await?;
                    return Err(e);
                }
            };
            self.send(events::tool_result(&call.id, &output, is_error))
                .await?;
            self.record(tool_message(&call.id, &output)).await?;
        }
        Ok(())
    }

    /// Permission, then the tool. `Ok` carries what the model is told, and whether it is an
    /// error; `Err` ends the run.
    async fn run_tool(&mut self, call: &ToolCall) -> Result<(String, bool), LoopError> {
        let input: Value = if call.arguments.trim().is_empty() {
            json!({})
        } else {
            match serde_json::from_str(&call.arguments) {
                Ok(input) => input,
                Err(e) => {
                    self.send(events::tool_call(&call.id, &call.name, &Value::Null))
                        .await?;
                    return Ok((format!("the arguments are not valid JSON: {e}"), true));
                }
            }
        };
        self.send(events::tool_call(&call.id, &call.name, &input))
            .await?;
        let Some(tool) = Tool::parse(&call.name) else {
            let known: Vec<&str> = Tool::ALL.iter().map(|t| t.name()).collect();
            return Ok((
                format!(
                    "unknown tool {:?}; the tools are {}",
                    call.name,
                    known.join(", ")
                ),
                true,
            ));
        };
        let input = match self.permit(tool, input).await? {
            Ok(input) => input,
            Err(denied) => return Ok((format!("permission denied: {denied}"), true)),
        };
        match tool {
            Tool::Bash => {
                let ctx = BashContext {
                    cwd: self.root.path(),
                    run_id: &self.spec.run_id,
                    env: &self.io.env,
                    secret_env: self.setup.secret_env,
                    abort: &self.io.abort,
                };
                match bash::run(&ctx, &input).await {
                    BashOutcome::Done { output, is_error } => Ok((output, is_error)),
                    BashOutcome::Aborted => Err(LoopError::Aborted),
                }
            }
            _ => {
                let root = self.root.clone();
                let work =
                    tokio::task::spawn_blocking(move || tools::run_file_tool(tool, &root, &input));
                let result = self
                    .abortable(async {
                        work.await
                            .map_err(|e| LoopError::Config(format!("a tool panicked: {e}")))
                    })
                    .await?;
                Ok(match result {
                    Ok(output) => (output, false),
                    Err(error) => (error, true),
                })
            }
        }
    }

    /// `Ok(Ok(input))` to run the tool (with the input the client may have changed),
    /// `Ok(Err(reason))` when it is denied.
    async fn permit(
        &mut self,
        tool: Tool,
        input: Value,
    ) -> Result<Result<Value, String>, LoopError> {
        match self.setup.policy.decide(tool, &input) {
            Verdict::Allow => return Ok(Ok(input)),
            Verdict::Deny(reason) => return Ok(Err(reason)),
            Verdict::Ask if self.remembered.contains(tool.name()) => return Ok(Ok(input)),
            Verdict::Ask => {}
        }
        self.permission_count += 1;
        let (reply, decision) = oneshot::channel();
        self.send(AgentOutput::Permission(PermissionAsk {
            // The core keys pending requests server-wide; the run id makes this one unique.
            request_id: format!("{}-{}", self.spec.run_id, self.permission_count),
            tool_name: tool.name().to_owned(),
            input: input.clone(),
            reply,
        }))
        .await?;
        // A dropped reply (timeout, run end) means deny.
        let decision = self
            .abortable(async {
                Ok(decision
                    .await
                    .unwrap_or_else(|_| PermissionDecision::deny(NO_ANSWER)))
            })
            .await?;
        if !decision.allow {
            let message = decision
                .message
                .filter(|m| !m.trim().is_empty())
                .unwrap_or_else(|| NO_ANSWER.to_owned());
            return Ok(Err(message));
        }
        if decision.remember {
            self.remembered.insert(tool.name());
        }
        Ok(Ok(decision.updated_input.unwrap_or(input)))
    }

    async fn abortable<T>(
        &self,
        work: impl std::future::Future<Output = Result<T, LoopError>>,
    ) -> Result<T, LoopError> {
        tokio::select! {
            result = work => result,
            _ = self.io.abort.cancelled() => Err(LoopError::Aborted),
        }
    }

    /// Sends an output; a closed channel means nobody listens any more, so the run stops.
    async fn send(&self, output: AgentOutput) -> Result<(), LoopError> {
        self.io
            .output
            .send(output)
            .await
            .map_err(|_| LoopError::Aborted)
    }

    async fn load(&self) -> Result<Vec<Value>, LoopError> {
        let log = Arc::clone(&self.setup.log);
        let key = self.setup.conversation.clone();
        tokio::task::spawn_blocking(move || log.load(&key))
            .await
            .map_err(|e| LoopError::Config(format!("loading the conversation panicked: {e}")))?
            .map_err(LoopError::from)
    }

    async fn record(&mut self, message: Value) -> Result<(), LoopError> {
        self.record_all(vec![message]).await
    }

    async fn record_all(&mut self, messages: Vec<Value>) -> Result<(), LoopError> {
        let log = Arc::clone(&self.setup.log);
        let key = self.setup.conversation.clone();
        let stored = messages.clone();
        tokio::task::spawn_blocking(move || log.append(&key, &stored))
            .await
            .map_err(|e| LoopError::Config(format!("storing the conversation panicked: {e}")))??;
        self.history.extend(messages);
        Ok(())
    }
}

fn tool_message(id: &str, content: &str) -> Value {
    json!({"role": "tool", "tool_call_id": id, "content": content})
}

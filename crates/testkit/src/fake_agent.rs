//! An in-process agent for tests of the core and the server: no process, fully scripted.
//!
//! The prompt holds its script as whitespace-separated directives:
//! - `lines=N` (3): text lines to stream; `delay_ms=D` (0) before each;
//! - `fail`: end with an error result; `exit=C`: end with exit code C;
//! - `hang`: stream nothing more until aborted;
//! - `permission`: ask before a tool (`tool=NAME`, default `Bash`); the answer decides whether
//!   a `tool-result` follows or a denial notice;
//! - `spawn_fail`: fail as if the binary were missing;
//! - `native=ID`: report ID as the provider's session id.

use std::time::Duration;

use serde_json::json;
use switchboard_agent_api::{
    Agent, AgentLine, AgentOutput, BoxFuture, PermissionAsk, RunIo, RunSpec,
};
use switchboard_protocol::event::AgentEvent;
use switchboard_protocol::lifecycle::AgentExit;
use switchboard_protocol::{Provider, RawJson};
use tokio::sync::oneshot;

pub struct FakeAgent {
    provider: Provider,
}

impl FakeAgent {
    pub fn new(provider: Provider) -> Self {
        Self { provider }
    }
}

#[derive(Default)]
struct Script {
    lines: usize,
    delay: Duration,
    fail: bool,
    exit: Option<i32>,
    hang: bool,
    permission: bool,
    tool: String,
    spawn_fail: bool,
    native: Option<String>,
}

fn parse(prompt: &str) -> Script {
    let mut script = Script {
        lines: 3,
        tool: "Bash".into(),
        ..Default::default()
    };
    for word in prompt.split_whitespace() {
        let (key, value) = word.split_once('=').unwrap_or((word, ""));
        match key {
            "lines" => script.lines = value.parse().unwrap_or(3),
            "delay_ms" => script.delay = Duration::from_millis(value.parse().unwrap_or(0)),
            "fail" => script.fail = true,
            "exit" => script.exit = value.parse().ok(),
            "hang" => script.hang = true,
            "permission" => script.permission = true,
            "tool" => script.tool = value.to_owned(),
            "spawn_fail" => script.spawn_fail = true,
            "native" => script.native = Some(value.to_owned()),
            _ => {}
        }
    }
    script
}

fn line(event: AgentEvent) -> AgentOutput {
    let raw = RawJson::from_value(&json!({"fake": serde_json::to_value(&event).unwrap()}));
    AgentOutput::Line(AgentLine { event, raw })
}

impl Agent for FakeAgent {
    fn provider(&self) -> Provider {
        self.provider
    }

    fn run(&self, spec: RunSpec, io: RunIo) -> BoxFuture<()> {
        Box::pin(async move {
            let script = parse(&spec.prompt);
            let out = io.output.clone();
            let exit = |exit_code, success: bool, error: Option<String>| AgentExit::Exited {
                exit_code,
                signal: None,
                reported_success: success,
                error,
                detail: None,
            };
            if script.spawn_fail {
                let _ = out
                    .send(AgentOutput::Exit(AgentExit::SpawnFailed {
                        error: "fake-agent was not found".into(),
                    }))
                    .await;
                return;
            }
            let native = script
                .native
                .clone()
                .or(spec.resume.clone())
                .unwrap_or_else(|| format!("native-{}", spec.session_id));
            let _ = out
                .send(line(AgentEvent::NativeSession { id: native }))
                .await;
            let body = async {
                for i in 0..script.lines {
                    if !script.delay.is_zero() {
                        tokio::time::sleep(script.delay).await;
                    }
                    let text = format!("line {i} ");
                    if out
                        .send(line(AgentEvent::Text { text, delta: true }))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                if script.permission {
                    let (reply, answer) = oneshot::channel();
                    let ask = PermissionAsk {
                        request_id: uuid::Uuid::new_v4().to_string(),
                        tool_name: script.tool.clone(),
                        input: json!({"command": "touch file"}),
                        reply,
                    };
                    let _ = out.send(AgentOutput::Permission(ask)).await;
                    let decision = answer.await.ok();
                    let event = match decision {
                        Some(d) if d.allow => AgentEvent::ToolResult {
                            id: "tool-1".into(),
                            output: json!("ran"),
                            is_error: false,
                        },
                        other => AgentEvent::Notice {
                            level: switchboard_protocol::event::NoticeLevel::Warning,
                            message: format!(
                                "denied: {}",
                                other.and_then(|d| d.message).unwrap_or_default()
                            ),
                        },
                    };
                    let _ = out.send(line(event)).await;
                }
                if script.hang {
                    std::future::pending::<()>().await;
                }
            };
            let finished = tokio::select! {
                _ = body => true,
                _ = io.abort.cancelled() => false,
            };
            let report = if !finished {
                exit(Some(130), false, None)
            } else if script.fail {
                exit(Some(0), false, Some("fake agent failure".into()))
            } else if let Some(code) = script.exit {
                exit(Some(code), code == 0, None)
            } else {
                exit(Some(0), true, None)
            };
            let _ = out.send(AgentOutput::Exit(report)).await;
        })
    }
}

//! The scenario suite on the REAL claude, codex and gemini CLIs (installed from npm by
//! `scripts/install-agent-clis.sh`), driven through Switchboard's WebSocket against the test
//! kit's scripted model API on 127.0.0.1. Every CLI gets a throw-away HOME and talks only to
//! loopback.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use switchboard_testkit::client::command;
use switchboard_testkit::model_server::{ModelServer, Reply, Script};
use switchboard_testkit::real_clis::RealCliHome;
use switchboard_testkit::{TestServer, TestServerOptions, WsClient};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Cli {
    Claude,
    Codex,
    Gemini,
}

impl Cli {
    fn provider(self) -> &'static str {
        match self {
            Cli::Claude => "claude",
            Cli::Codex => "codex",
            Cli::Gemini => "gemini",
        }
    }

    /// The CLI's shell tool and its arguments for `command`.
    fn shell_call(self, command: &str) -> Reply {
        match self {
            Cli::Claude => {
                Reply::tool_call("Bash", json!({"command": command, "description": "run it"}))
            }
            Cli::Codex => Reply::tool_call("exec_command", json!({"cmd": command})),
            Cli::Gemini => Reply::tool_call("run_shell_command", json!({"command": command})),
        }
    }

    /// A model these CLIs know (codex warns on unknown slugs; gemini's `auto` adds a router
    /// call).
    fn model(self) -> &'static str {
        match self {
            Cli::Claude => "claude-sonnet-4-5",
            Cli::Codex => "gpt-5.5",
            Cli::Gemini => "gemini-2.5-flash",
        }
    }
}

/// A server whose agents point at a scripted model API, with a private HOME.
struct Rig {
    model: ModelServer,
    home: RealCliHome,
    server: TestServer,
}

async fn rig(script: Script) -> Rig {
    rig_with(script, &[]).await
}

async fn rig_with(script: Script, extra_env: &[(&str, &str)]) -> Rig {
    let model = ModelServer::start(script).await.unwrap();
    let home = RealCliHome::new("switchboard-e2e-", &model.url()).unwrap();
    let mut env = home.env();
    env.extend(
        extra_env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    let server = TestServer::start(
        Path::new(env!("CARGO_BIN_EXE_switchboard")),
        TestServerOptions {
            config: String::new(),
            env,
            ..Default::default()
        },
    )
    .unwrap();
    Rig {
        model,
        home,
        server,
    }
}

impl Rig {
    fn command(&self, cli: Cli, prompt: &str, extra: Value) -> Value {
        let mut options = json!({"model": cli.model()});
        if let Value::Object(more) = extra {
            for (k, v) in more {
                options[k] = v;
            }
        }
        command(cli.provider(), prompt, self.server.project_path(), options)
    }

    /// Starts a run and returns its session id.
    async fn start(&self, client: &mut WsClient, cli: Cli, prompt: &str, extra: Value) -> String {
        client.send(self.command(cli, prompt, extra)).await.unwrap();
        let accepted = client
            .recv_until(|f| f["type"] == "session-accepted" || f["type"] == "error")
            .await
            .unwrap()
            .pop()
            .unwrap();
        assert_eq!(accepted["type"], "session-accepted", "{accepted}");
        accepted["sessionId"].as_str().unwrap().to_owned()
    }

    /// Processes of this rig's agents (they all carry its HOME, as does the server itself,
    /// which is left out), not counting zombies.
    fn agent_processes(&self) -> Vec<i32> {
        let needle = format!("HOME={}", self.home.path().display());
        let server = self.server.pid().map(|p| p as i32);
        std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| Some(*pid) != server)
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/environ"))
                    .map(|env| env.split(|b| *b == 0).any(|v| v == needle.as_bytes()))
                    .unwrap_or(false)
            })
            .filter(|pid| process_alive(*pid))
            .collect()
    }
}

fn text_of(frames: &[Value]) -> String {
    frames
        .iter()
        .filter(|f| f["event"]["kind"] == "text")
        .map(|f| f["event"]["text"].as_str().unwrap_or_default())
        .collect()
}

fn last_state(frames: &[Value]) -> &Value {
    frames.last().unwrap()
}

// ---- the scenarios, one function each, run for every CLI ----------------------------------

async fn new_session_streams_and_completes(cli: Cli) {
    let rig = rig(Script::new().then(Reply::text("Hello from the scripted model."))).await;
    let mut client = rig.server.client().await.unwrap();
    let id = rig.start(&mut client, cli, "say hello", json!({})).await;
    let frames = client.recv_until_terminal(&id).await.unwrap();
    assert_eq!(
        last_state(&frames)["state"],
        "completed",
        "{cli:?}: {:#?}",
        frames.last()
    );
    let created = frames
        .iter()
        .find(|f| f["type"] == "session-created")
        .expect("session-created");
    let native = frames
        .iter()
        .find(|f| f["event"]["kind"] == "native-session")
        .unwrap_or_else(|| panic!("{cli:?}: no native-session event: {frames:#?}"));
    if created.get("providerSessionId").is_some() {
        assert_eq!(
            created["providerSessionId"], native["event"]["id"],
            "{cli:?}"
        );
    }
    if cli != Cli::Codex {
        // claude and gemini take our id as theirs, so it is known from the start.
        assert_eq!(
            created["providerSessionId"],
            json!(id),
            "{cli:?}: {created}"
        );
    }
    assert!(
        text_of(&frames).contains("Hello from the scripted model."),
        "{cli:?}: {}",
        text_of(&frames)
    );
    let prefix = cli.provider();
    assert!(frames
        .iter()
        .any(|f| f["type"] == format!("{prefix}-complete")));
    assert!(frames
        .iter()
        .all(|f| f["type"] != format!("{prefix}-error")));
    assert!(
        frames.iter().any(|f| f["type"] == "token-budget"),
        "{cli:?}: no token-budget"
    );
}

async fn resume_carries_the_first_turn(cli: Cli) {
    let rig = rig(Script::new()).await;
    let mut client = rig.server.client().await.unwrap();
    let id = rig
        .start(&mut client, cli, "remember the word pelican", json!({}))
        .await;
    let first = client.recv_until_terminal(&id).await.unwrap();
    assert_eq!(last_state(&first)["state"], "completed", "{cli:?}");
    client
        .send(rig.command(cli, "what was the word?", json!({"sessionId": id})))
        .await
        .unwrap();
    let second = client.recv_until_terminal(&id).await.unwrap();
    assert_eq!(
        last_state(&second)["state"],
        "completed",
        "{cli:?}: {:#?}",
        second.last()
    );
    assert!(
        text_of(&second).contains("turn 2"),
        "{cli:?}: {}",
        text_of(&second)
    );
    let last_request = rig
        .model
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.method == "POST" && r.body.to_string().contains("what was the word?"))
        .expect("the second turn reached the model");
    assert!(
        last_request.body.to_string().contains("pelican"),
        "{cli:?}: history was not sent"
    );
}

async fn tool_call_runs_and_its_result_reaches_the_client(cli: Cli) {
    let rig = rig(Script::new().then(cli.shell_call("echo switchboard-tool-ok"))).await;
    let mut client = rig.server.client().await.unwrap();
    // gemini offers its shell tool only in yolo mode; claude auto-approves `echo`.
    let mode = if cli == Cli::Gemini {
        json!({"permissionMode": "bypassPermissions"})
    } else {
        json!({})
    };
    let id = rig.start(&mut client, cli, "run the echo", mode).await;
    let frames = client.recv_until_terminal(&id).await.unwrap();
    assert_eq!(
        last_state(&frames)["state"],
        "completed",
        "{cli:?}: {:#?}",
        frames.last()
    );
    assert!(
        frames.iter().any(|f| f["event"]["kind"] == "tool-call"),
        "{cli:?}: no tool-call"
    );
    let result = frames
        .iter()
        .find(|f| f["event"]["kind"] == "tool-result")
        .unwrap_or_else(|| panic!("{cli:?}: no tool-result"));
    assert!(
        result["event"]["output"]
            .to_string()
            .contains("switchboard-tool-ok"),
        "{cli:?}: {result}"
    );
    assert!(
        text_of(&frames).contains("switchboard-tool-ok"),
        "{cli:?}: the model saw the output"
    );
}

async fn api_error_fails(cli: Cli) {
    let rig = rig(Script::new().then(Reply::error(400, "scripted bad request"))).await;
    let mut client = rig.server.client().await.unwrap();
    let id = rig
        .start(&mut client, cli, "this will fail", json!({}))
        .await;
    let frames = client.recv_until_terminal(&id).await.unwrap();
    assert_eq!(
        last_state(&frames)["state"],
        "failed",
        "{cli:?}: {:#?}",
        frames.last()
    );
    assert!(frames
        .iter()
        .any(|f| f["type"] == format!("{}-error", cli.provider())));
}

async fn abort_mid_stream_leaves_no_process(cli: Cli) {
    let slow = Reply::slow("Thinking slowly", Duration::from_millis(300), 200);
    let rig = rig(Script::new().then(slow)).await;
    let mut client = rig.server.client().await.unwrap();
    let id = rig.start(&mut client, cli, "talk slowly", json!({})).await;
    // Wait until the model is streaming (codex shows text only when a message is complete).
    for _ in 0..300 {
        if rig
            .model
            .requests()
            .iter()
            .any(|r| r.method == "POST" && r.body.to_string().contains("talk slowly"))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        !rig.agent_processes().is_empty(),
        "{cli:?}: the agent is running"
    );
    client
        .send(json!({"type":"abort-session","sessionId": id}))
        .await
        .unwrap();
    let frames = client.recv_until_terminal(&id).await.unwrap();
    assert_eq!(
        last_state(&frames)["state"],
        "aborted",
        "{cli:?}: {:#?}",
        frames.last()
    );
    assert_eq!(
        rig.agent_processes(),
        Vec::<i32>::new(),
        "{cli:?}: processes left after abort"
    );
}

async fn abort_during_a_long_shell_tool_ends_the_tool(cli: Cli) {
    let rig = rig(Script::new().then(cli.shell_call("sleep 45"))).await;
    let mut client = rig.server.client().await.unwrap();
    let mode = json!({"permissionMode": "bypassPermissions"});
    let id = rig.start(&mut client, cli, "sleep for a while", mode).await;
    client
        .recv_until(|f| {
            f["event"]["kind"] == "tool-call"
                || f["type"] == "session-state-changed" && f["state"] != "running"
        })
        .await
        .unwrap();
    // Give the CLI a moment to start the tool process.
    let mut sleeping = false;
    for _ in 0..50 {
        if rig.agent_processes().iter().any(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.windows(5).any(|w| w == b"sleep"))
        }) {
            sleeping = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(sleeping, "{cli:?}: the shell tool did not start");
    client
        .send(json!({"type":"abort-session","sessionId": id}))
        .await
        .unwrap();
    let frames = client.recv_until_terminal(&id).await.unwrap();
    assert_eq!(last_state(&frames)["state"], "aborted", "{cli:?}");
    assert_eq!(
        rig.agent_processes(),
        Vec::<i32>::new(),
        "{cli:?}: the tool outlived the abort"
    );
}

async fn missing_binary_is_a_clear_error(cli: Cli) {
    let var = format!("SWITCHBOARD_{}_BIN", cli.provider().to_uppercase());
    let rig = rig_with(Script::new(), &[(var.as_str(), "/nonexistent/agent-cli")]).await;
    let mut client = rig.server.client().await.unwrap();
    let id = rig.start(&mut client, cli, "hello", json!({})).await;
    let frames = client.recv_until_terminal(&id).await.unwrap();
    let last = last_state(&frames);
    assert_eq!(last["state"], "failed");
    assert_eq!(last["reason"], "spawn-failed");
    assert!(
        last["error"].as_str().unwrap().contains(&var),
        "{cli:?}: {last}"
    );
}

macro_rules! for_each_cli {
    ($($scenario:ident),* $(,)?) => {
        mod claude { use super::*; $( #[tokio::test] async fn $scenario() { super::$scenario(Cli::Claude).await } )* }
        mod codex { use super::*; $( #[tokio::test] async fn $scenario() { super::$scenario(Cli::Codex).await } )* }
        mod gemini { use super::*; $( #[tokio::test] async fn $scenario() { super::$scenario(Cli::Gemini).await } )* }
    };
}

for_each_cli!(
    new_session_streams_and_completes,
    resume_carries_the_first_turn,
    tool_call_runs_and_its_result_reaches_the_client,
    api_error_fails,
    abort_mid_stream_leaves_no_process,
    abort_during_a_long_shell_tool_ends_the_tool,
    missing_binary_is_a_clear_error,
);

// ---- claude's per-tool permission prompts ---------------------------------------------------

fn touch_call(rig: &Rig) -> (Reply, PathBuf) {
    let target = rig.server.project_path().join("created-by-tool.txt");
    let call = Cli::Claude.shell_call(&format!("touch {} && echo made", target.display()));
    (call, target)
}

#[tokio::test]
async fn claude_permission_denied_means_the_tool_does_not_run() {
    let rig = rig(Script::new()).await;
    let (call, target) = touch_call(&rig);
    rig.model.push(call);
    let mut client = rig.server.client().await.unwrap();
    let id = rig
        .start(&mut client, Cli::Claude, "make a file", json!({}))
        .await;
    let request = client
        .recv_until(|f| f["type"] == "claude-permission-request")
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(request["toolName"], "Bash");
    client
        .send(json!({"type":"claude-permission-response","requestId": request["requestId"], "allow": false, "message": "no files today"}))
        .await
        .unwrap();
    let frames = client.recv_until_terminal(&id).await.unwrap();
    assert!(!target.exists(), "the denied tool ran");
    assert_eq!(last_state(&frames)["state"], "completed");
}

#[tokio::test]
async fn claude_permission_allowed_means_the_tool_runs() {
    let rig = rig(Script::new()).await;
    let (call, target) = touch_call(&rig);
    rig.model.push(call);
    let mut client = rig.server.client().await.unwrap();
    let id = rig
        .start(&mut client, Cli::Claude, "make a file", json!({}))
        .await;
    let request = client
        .recv_until(|f| f["type"] == "claude-permission-request")
        .await
        .unwrap()
        .pop()
        .unwrap();
    client
        .send(json!({"type":"claude-permission-response","requestId": request["requestId"], "allow": true}))
        .await
        .unwrap();
    let frames = client.recv_until_terminal(&id).await.unwrap();
    assert!(target.exists(), "the allowed tool did not run");
    assert_eq!(last_state(&frames)["state"], "completed");
}

#[tokio::test]
async fn claude_pending_permission_survives_a_reconnect() {
    let rig = rig(Script::new()).await;
    let (call, target) = touch_call(&rig);
    rig.model.push(call);
    let mut client = rig.server.client().await.unwrap();
    let id = rig
        .start(&mut client, Cli::Claude, "make a file", json!({}))
        .await;
    let request = client
        .recv_until(|f| f["type"] == "claude-permission-request")
        .await
        .unwrap()
        .pop()
        .unwrap();
    drop(client);
    let mut client = rig.server.client().await.unwrap();
    client
        .send(json!({"type":"subscribe","sessionId": id, "lastSeq": request["seq"]}))
        .await
        .unwrap();
    let status = client.recv().await.unwrap();
    assert_eq!(
        status["pendingPermissions"][0]["requestId"],
        request["requestId"]
    );
    client
        .send(json!({"type":"claude-permission-response","requestId": request["requestId"], "allow": true}))
        .await
        .unwrap();
    let frames = client.recv_until_terminal(&id).await.unwrap();
    assert_eq!(last_state(&frames)["state"], "completed");
    assert!(target.exists());
}

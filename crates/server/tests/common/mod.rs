//! Shared helpers for the black-box tests: a real `switchboard` binary on port 0 whose
//! cursor provider is the fixture CLI.

#![allow(dead_code)]

use std::path::Path;

use anyhow::{ensure, Result};
use serde_json::{json, Value};
use switchboard_testkit::client::command;
use switchboard_testkit::{fixtures, TestServer, TestServerOptions, WsClient};

pub fn server() -> TestServer {
    server_with("", &[])
}

pub fn server_with(config: &str, env: &[(&str, &str)]) -> TestServer {
    // The fixture first, so a test can override it.
    let mut all = vec![(
        "SWITCHBOARD_CURSOR_BIN".to_owned(),
        fixtures::fake_cursor_agent().to_string_lossy().into_owned(),
    )];
    all.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let env = all;
    TestServer::start(
        Path::new(env!("CARGO_BIN_EXE_switchboard")),
        TestServerOptions {
            config: config.to_owned(),
            env,
            ..Default::default()
        },
    )
    .expect("the server starts")
}

pub fn cursor(prompt: &str, project: &Path) -> Value {
    command("cursor", prompt, project, json!({}))
}

/// Sends a new cursor command and returns the session id from `session-accepted`, with the
/// frames seen up to it.
pub async fn start_session(
    client: &mut WsClient,
    prompt: &str,
    project: &Path,
) -> Result<(String, Vec<Value>)> {
    client.send(cursor(prompt, project)).await?;
    let frames = client
        .recv_until(|f| f["type"] == "session-accepted" || f["type"] == "error")
        .await?;
    let last = frames.last().unwrap();
    ensure!(
        last["type"] == "session-accepted",
        "expected acceptance, got {last}"
    );
    Ok((last["sessionId"].as_str().unwrap().to_owned(), frames))
}

/// The journaled frames of one session, in order.
pub fn of_session<'a>(frames: &'a [Value], session: &str) -> Vec<&'a Value> {
    frames
        .iter()
        .filter(|f| f["sessionId"] == session && f.get("seq").is_some())
        .collect()
}

pub fn seqs(frames: &[&Value]) -> Vec<u64> {
    frames.iter().map(|f| f["seq"].as_u64().unwrap()).collect()
}

pub fn terminal_states(frames: &[&Value]) -> Vec<String> {
    frames
        .iter()
        .filter(|f| f["type"] == "session-state-changed" && f["state"] != "running")
        .map(|f| f["state"].as_str().unwrap().to_owned())
        .collect()
}

pub fn process_alive(pid: i32) -> bool {
    // A zombie is dead for our purposes; /proc/<pid>/stat says which.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let after = &stat[stat.rfind(')').unwrap() + 2..];
            !after.starts_with('Z')
        }
        Err(_) => false,
    }
}

/// Starts a cursor fixture run that forks a `setsid` grandchild ignoring SIGINT and SIGTERM,
/// then hangs; returns the session id and the grandchild's pid.
pub async fn start_with_grandchild(
    server: &TestServer,
    client: &mut WsClient,
    pidfile_name: &str,
) -> (String, i32) {
    let pidfile = server.project_path().join(pidfile_name);
    let prompt = format!(
        "grandchild pidfile={} ignore_sigint ignore_sigterm hang",
        pidfile.display()
    );
    let (id, _) = start_session(client, &prompt, server.project_path())
        .await
        .unwrap();
    client
        .recv_until(|f| f["event"]["kind"] == "native-session")
        .await
        .unwrap();
    for _ in 0..100 {
        if let Some(pid) = std::fs::read_to_string(&pidfile)
            .ok()
            .and_then(|t| t.trim().parse().ok())
        {
            return (id, pid);
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the fixture never wrote its grandchild's pid");
}

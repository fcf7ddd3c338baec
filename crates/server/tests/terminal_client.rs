//! The terminal client (`switchboard chat|attach|sessions|abort`) as a person or a script runs
//! it: the real binary against a real server on port 0 whose cursor is the fixture CLI. The
//! permission prompts need an agent that asks, so those tests run an in-process app whose
//! claude is the test kit's fake agent, and answer through a pseudo-terminal.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use switchboard_protocol::Provider;
use switchboard_server::{Application, Settings};
use switchboard_testkit::fake_agent::FakeAgent;
use switchboard_testkit::{http, TestServer};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::Command;

/// Bounds every client process, so a hang fails the test instead of stalling it.
const PROCESS_TIMEOUT: Duration = Duration::from_secs(60);

/// `switchboard <args> --server http://<addr>` with the token in the environment, as a user
/// would run it; stdin is not a terminal.
fn switchboard(addr: SocketAddr, token: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    command
        .args(args)
        .arg("--server")
        .arg(format!("http://{addr}"))
        .env("SWITCHBOARD_TOKEN", token)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Runs one client command against `server` with its token, to its end.
async fn cli(server: &TestServer, args: &[&str]) -> Output {
    run(switchboard(server.addr, &server.token, args)).await
}

async fn run(mut command: Command) -> Output {
    tokio::time::timeout(PROCESS_TIMEOUT, command.output())
        .await
        .expect("the client finishes in time")
        .expect("the client runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

async fn chat(server: &TestServer, extra: &[&str], prompt: &str) -> Output {
    let project = server.project_path().to_str().unwrap();
    let mut args = vec!["chat", "--provider", "cursor", "--project", project];
    args.extend_from_slice(extra);
    args.push(prompt);
    run(switchboard(server.addr, &server.token, &args)).await
}

/// `switchboard chat --json <prompt>` on the fixture cursor agent, left running; its stdout
/// read line by line.
fn spawn_chat_json(
    server: &TestServer,
    prompt: &str,
) -> (
    tokio::process::Child,
    tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
) {
    let project = server.project_path().to_str().unwrap();
    let args = [
        "chat",
        "--provider",
        "cursor",
        "--project",
        project,
        "--json",
        prompt,
    ];
    let mut chat = switchboard(server.addr, &server.token, &args)
        .spawn()
        .unwrap();
    let lines = BufReader::new(chat.stdout.take().unwrap()).lines();
    (chat, lines)
}

/// Every line of `--json` output, each of which must be one JSON object.
fn json_objects(text: &str) -> Vec<Value> {
    text.lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {line}"));
            assert!(v.is_object(), "not an object: {line}");
            v
        })
        .collect()
}

/// `--json` output of frames: each line an object with a `type`.
fn json_lines(text: &str) -> Vec<Value> {
    let frames = json_objects(text);
    for frame in &frames {
        assert!(frame["type"].is_string(), "no type: {frame}");
    }
    frames
}

/// The journaled frames' seqs, in the order printed.
fn seqs(frames: &[Value]) -> Vec<u64> {
    frames.iter().filter_map(|f| f["seq"].as_u64()).collect()
}

/// The answer text the frames carry, in order.
fn answer_text(frames: &[Value]) -> String {
    frames
        .iter()
        .filter(|f| f["event"]["kind"] == "text")
        .map(|f| f["event"]["text"].as_str().unwrap())
        .collect()
}

/// The fixture's messages: `line N ` padded with a-z to 20 bytes.
fn fixture_text(lines: usize) -> String {
    (1..=lines)
        .map(|i| {
            let mut text = format!("line {i} ");
            text.extend((b'a'..=b'z').map(char::from).take(20 - text.len()));
            text
        })
        .collect()
}

#[tokio::test]
async fn chat_streams_the_answer_and_shows_tool_calls_compactly() {
    let server = common::server();
    let output = chat(&server, &[], "lines=2 tool").await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        format!(
            "{}\n⏺ shell: echo fixture-ok\n  ⎿ fixture-ok\n{}\n",
            &fixture_text(2)[..20],
            &fixture_text(2)[20..]
        )
    );
    let err = stderr(&output);
    assert!(err.contains("completed"), "{err}");
}

#[tokio::test]
async fn chat_json_prints_every_frame_once_per_line_and_exits_by_the_runs_state() {
    let server = common::server();
    let output = chat(&server, &["--json"], "lines=3 partial").await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let frames = json_lines(&stdout(&output));
    let expected: Vec<u64> = (1..=seqs(&frames).len() as u64).collect();
    assert_eq!(seqs(&frames), expected, "every seq once, in order");
    assert_eq!(frames[0]["type"], "session-accepted");
    let last = frames.last().unwrap();
    assert_eq!(
        (&last["type"], &last["state"]),
        (
            &Value::from("session-state-changed"),
            &Value::from("completed")
        )
    );
    assert_eq!(answer_text(&frames), fixture_text(3));

    let failed = chat(&server, &["--json"], "lines=1 exit=3").await;
    assert_eq!(failed.status.code(), Some(1), "a failed run exits 1");
    let frames = json_lines(&stdout(&failed));
    assert_eq!(frames.last().unwrap()["state"], "failed");
}

#[tokio::test]
async fn a_bad_token_or_an_unregistered_project_is_a_clear_error() {
    let server = common::server();
    let project = server.project_path().to_str().unwrap().to_owned();
    let refused = run(switchboard(
        server.addr,
        "wrong-token",
        &["chat", "--provider", "cursor", "--project", &project, "hi"],
    ))
    .await;
    assert_eq!(refused.status.code(), Some(5));
    assert!(
        stderr(&refused).contains("refused the token"),
        "{}",
        stderr(&refused)
    );

    let elsewhere = tempfile::tempdir().unwrap();
    let outside = cli(
        &server,
        &[
            "chat",
            "--provider",
            "cursor",
            "--project",
            elsewhere.path().to_str().unwrap(),
            "hi",
        ],
    )
    .await;
    assert_eq!(outside.status.code(), Some(5));
    assert!(
        stderr(&outside).contains("project-not-registered"),
        "{}",
        stderr(&outside)
    );
}

/// A TCP proxy in front of the server whose connections the test can cut at any moment.
struct Proxy {
    addr: SocketAddr,
    cut: tokio::sync::watch::Sender<u64>,
    connections: Arc<AtomicUsize>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (cut, _) = tokio::sync::watch::channel(0u64);
        let connections = Arc::new(AtomicUsize::new(0));
        let (cuts, count) = (cut.clone(), Arc::clone(&connections));
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let mut cut = cuts.subscribe();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        // Dropping both streams resets the client's connection.
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Self {
            addr,
            cut,
            connections,
        }
    }

    /// Drops every open connection; new ones are still accepted.
    fn cut_all(&self) {
        self.cut.send_modify(|generation| *generation += 1);
    }
}

#[tokio::test]
async fn attach_resumes_after_a_dropped_connection_with_no_gap_and_no_duplicate() {
    let server = common::server();
    let proxy = Proxy::start(server.addr).await;
    let mut ws = server.client().await.unwrap();
    let (session, _) =
        common::start_session(&mut ws, "lines=30 delay_ms=60", server.project_path())
            .await
            .unwrap();

    let mut attach = switchboard(proxy.addr, &server.token, &["attach", &session, "--json"])
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(attach.stdout.take().unwrap()).lines();
    let mut printed = Vec::new();
    // Cut at the 1st, 10th and 20th text frame: live, and possibly in the middle of a replay.
    let mut texts = 0;
    let mut cuts = 0;
    let collect = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let frame: Value = serde_json::from_str(&line).unwrap();
            if frame["event"]["kind"] == "text" {
                texts += 1;
                if [1, 10, 20].contains(&texts) {
                    proxy.cut_all();
                    cuts += 1;
                }
            }
            printed.push(frame);
        }
    };
    tokio::time::timeout(PROCESS_TIMEOUT, collect)
        .await
        .expect("attach ends with the run");
    let status = attach.wait().await.unwrap();
    let err = {
        use tokio::io::AsyncReadExt;
        let mut text = String::new();
        attach
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut text)
            .await
            .unwrap();
        text
    };
    assert_eq!(status.code(), Some(0), "{err}");
    assert_eq!(cuts, 3, "the run streamed its text through the proxy");
    // One `session-status` per subscription: the client subscribed again after each cut.
    let subscriptions = printed
        .iter()
        .filter(|f| f["type"] == "session-status")
        .count();
    assert_eq!(subscriptions, 4, "{err}");
    assert_eq!(
        err.matches("reconnected; resuming after seq").count(),
        3,
        "{err}"
    );
    // The REST call, then one WebSocket per subscription.
    assert!(proxy.connections.load(Ordering::SeqCst) >= 5);

    // Every journaled frame of the run exactly once and in order: the same seqs the server's
    // history holds, and the whole answer.
    let journaled: Vec<Value> = printed
        .iter()
        .filter(|f| f["seq"].is_u64())
        .cloned()
        .collect();
    let history = http::json(
        server.addr,
        "GET",
        &format!("/api/sessions/{session}/events?limit=5000"),
        &server.token,
        None,
    )
    .await
    .unwrap()
    .json()
    .unwrap();
    let stored: Vec<u64> = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs(&journaled), stored);
    assert_eq!(answer_text(&journaled), fixture_text(30));
    assert_eq!(journaled.last().unwrap()["state"], "completed");
}

#[tokio::test]
async fn abort_stops_a_running_chat_which_then_exits_as_aborted() {
    let server = common::server();
    let (mut chat, mut lines) = spawn_chat_json(&server, "hang");
    let accepted: Value = serde_json::from_str(
        &tokio::time::timeout(PROCESS_TIMEOUT, lines.next_line())
            .await
            .unwrap()
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(accepted["type"], "session-accepted");
    let session = accepted["sessionId"].as_str().unwrap().to_owned();

    let abort = cli(&server, &["abort", &session]).await;
    assert_eq!(abort.status.code(), Some(0), "{}", stderr(&abort));
    assert_eq!(
        stdout(&abort),
        format!("stopped {session}: the run ended aborted\n")
    );

    let mut rest = Vec::new();
    while let Some(line) = tokio::time::timeout(PROCESS_TIMEOUT, lines.next_line())
        .await
        .unwrap()
        .unwrap()
    {
        rest.push(line);
    }
    let status = chat.wait().await.unwrap();
    assert_eq!(status.code(), Some(3), "an aborted run exits 3");
    let frames = json_lines(&rest.join("\n"));
    assert_eq!(frames.last().unwrap()["state"], "aborted");

    // Attaching to the finished session shows its last run and exits by its state.
    let attached = cli(&server, &["attach", &session, "--json"]).await;
    assert_eq!(attached.status.code(), Some(3), "{}", stderr(&attached));
    let replayed = json_lines(&stdout(&attached));
    assert_eq!(replayed[0]["type"], "session-status");
    assert_eq!(replayed[1]["type"], "session-accepted");
    assert_eq!(replayed.last().unwrap()["state"], "aborted");

    // Once the run is over there is nothing to stop; an unknown session is an error.
    let again = cli(&server, &["abort", &session, "--json"]).await;
    assert_eq!(again.status.code(), Some(0));
    assert_eq!(
        json_lines(&stdout(&again))[0]["outcome"],
        "already_finished"
    );
    let unknown = cli(&server, &["abort", "6ba7b810-9dad-41d1-80b4-00c04fd430c8"]).await;
    assert_eq!(unknown.status.code(), Some(5));
    assert!(
        stderr(&unknown).contains("no session"),
        "{}",
        stderr(&unknown)
    );
}

/// The abort command follows the session before the server answers, so the output the agent
/// writes meanwhile reaches it first; it waits for the answer through that output.
#[tokio::test]
async fn abort_of_a_session_that_is_streaming_waits_through_its_output_for_the_answer() {
    let server = common::server();
    let (mut chat, mut lines) = spawn_chat_json(&server, "lines=1000000 rate=5000");
    let mut session = None;
    // Wait until the agent is streaming, so that output is being written as the abort lands.
    for _ in 0..50 {
        let line = tokio::time::timeout(PROCESS_TIMEOUT, lines.next_line())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let frame: Value = serde_json::from_str(&line).unwrap();
        session.get_or_insert_with(|| frame["sessionId"].as_str().unwrap().to_owned());
    }
    let session = session.unwrap();

    let abort = cli(&server, &["abort", &session, "--json"]).await;
    assert_eq!(abort.status.code(), Some(0), "{}", stderr(&abort));
    let printed = json_lines(&stdout(&abort));
    let answer = printed
        .iter()
        .position(|f| f["type"] == "session-aborted")
        .expect("the answer is printed");
    assert_eq!(printed[answer]["outcome"], "aborted");
    assert_eq!(printed.last().unwrap()["state"], "aborted");

    while tokio::time::timeout(PROCESS_TIMEOUT, lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .is_some()
    {}
    assert_eq!(chat.wait().await.unwrap().code(), Some(3));
}

#[tokio::test]
async fn sessions_lists_and_filters_by_state_provider_and_project() {
    let server = common::server();
    let completed = chat(&server, &["--json"], "lines=1").await;
    let failed = chat(&server, &["--json"], "lines=1 exit=3").await;
    let id_of = |o: &Output| json_lines(&stdout(o))[0]["sessionId"].clone();
    let (completed, failed) = (id_of(&completed), id_of(&failed));

    let list = |args: &[&str]| {
        let mut all = vec!["sessions", "--json"];
        all.extend_from_slice(args);
        run(switchboard(server.addr, &server.token, &all))
    };
    let ids = |o: &Output| -> Vec<Value> {
        assert_eq!(o.status.code(), Some(0), "{}", stderr(o));
        json_objects(&stdout(o))
            .into_iter()
            .map(|s| s["sessionId"].clone())
            .collect()
    };
    // Most recently updated first.
    assert_eq!(
        ids(&list(&[]).await),
        vec![failed.clone(), completed.clone()]
    );
    assert_eq!(
        ids(&list(&["--state", "failed"]).await),
        vec![failed.clone()]
    );
    assert_eq!(
        ids(&list(&["--state", "completed"]).await),
        vec![completed.clone()]
    );
    assert_eq!(
        ids(&list(&["--state", "completed,failed", "--provider", "cursor"]).await),
        vec![failed.clone(), completed.clone()]
    );
    assert!(ids(&list(&["--provider", "claude"]).await).is_empty());
    let project = server.project_path().to_str().unwrap();
    assert_eq!(ids(&list(&["--project", project]).await).len(), 2);
    assert_eq!(ids(&list(&["--limit", "1"]).await), vec![failed.clone()]);

    let elsewhere = tempfile::tempdir().unwrap();
    let unregistered = list(&["--project", elsewhere.path().to_str().unwrap()]).await;
    assert_eq!(unregistered.status.code(), Some(2));
    assert!(stderr(&unregistered).contains("not a registered project"));
    assert_eq!(list(&["--state", "done"]).await.status.code(), Some(2));

    let text = cli(&server, &["sessions", "--state", "failed"]).await;
    let table = stdout(&text);
    assert!(table.starts_with("SESSION"), "{table}");
    assert!(
        table.contains(&format!("{}  cursor      failed", failed.as_str().unwrap())),
        "{table}"
    );
    assert!(!table.contains(completed.as_str().unwrap()), "{table}");
}

#[tokio::test]
async fn project_commands_take_the_same_server_token_and_json_conventions() {
    let server = common::server();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap();
    let added = cli(
        &server,
        &["project", "add", path, "--name", "Terminal", "--json"],
    )
    .await;
    assert_eq!(added.status.code(), Some(0), "{}", stderr(&added));
    let project = &json_objects(&stdout(&added))[0];
    assert_eq!(project["displayName"], "Terminal");

    let listed = cli(&server, &["project", "list", "--json"]).await;
    let listed = json_objects(&stdout(&listed));
    assert_eq!(listed.len(), 1, "one object on one line");
    assert!(listed[0]["projects"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["id"] == project["id"]));

    let removed = cli(&server, &["project", "remove", path, "--json"]).await;
    assert_eq!(removed.status.code(), Some(0), "{}", stderr(&removed));
    assert_eq!(json_objects(&stdout(&removed))[0]["id"], project["id"]);
}

/// An in-process server whose claude is the fake agent, which asks before its tool.
struct AskingApp {
    addr: SocketAddr,
    token: String,
    project: tempfile::TempDir,
    _data: tempfile::TempDir,
}

async fn asking_app() -> AskingApp {
    let data = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let token = format!("terminal-test-{}", uuid::Uuid::new_v4());
    let mut settings = Settings::for_data_dir(data.path().to_owned());
    settings.listen = "127.0.0.1:0".parse().unwrap();
    settings.token = Some(token.clone());
    settings.projects = vec![project.path().to_owned()];
    let app = Application::build(settings, vec![Arc::new(FakeAgent::new(Provider::Claude))])
        .await
        .unwrap();
    let addr = app.local_addr();
    tokio::spawn(app.run_until_stopped());
    AskingApp {
        addr,
        token,
        project,
        _data: data,
    }
}

fn claude_chat_args(project: &Path, extra: &[&str], prompt: &str) -> Vec<String> {
    let mut args: Vec<String> = ["chat", "--provider", "claude", "--project"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.push(project.to_str().unwrap().to_owned());
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push(prompt.to_owned());
    args
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permission_prompt_is_answered_on_a_pseudo_terminal() {
    let app = asking_app().await;
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"));
    command
        .args(claude_chat_args(
            app.project.path(),
            &[],
            "lines=1 permission tool=Bash",
        ))
        .arg("--server")
        .arg(format!("http://{}", app.addr))
        .env("SWITCHBOARD_TOKEN", &app.token)
        .env("TERM", "xterm");
    let transcript = tokio::task::spawn_blocking(move || -> Result<String, String> {
        let mut pty = rexpect::session::spawn_command(command, Some(30_000))
            .map_err(|e| format!("spawn: {e}"))?;
        let mut seen = pty
            .exp_string("The agent asks to run Bash: touch file")
            .map_err(|e| format!("no prompt: {e}"))?;
        // Deny is the default; move up to Allow and confirm.
        pty.send("k").map_err(|e| e.to_string())?;
        pty.flush().map_err(|e| e.to_string())?;
        pty.send("\r").map_err(|e| e.to_string())?;
        pty.flush().map_err(|e| e.to_string())?;
        // rexpect reads bytes as single characters, so match ASCII only.
        seen += &pty
            .exp_string(" ran\r\n")
            .map_err(|e| format!("the tool did not run: {e}"))?;
        seen += &pty.exp_eof().map_err(|e| format!("no exit: {e}"))?;
        match pty.process.wait().map_err(|e| e.to_string())? {
            rexpect::process::WaitStatus::Exited(_, 0) => Ok(seen),
            other => Err(format!("exit {other:?}: {seen}")),
        }
    })
    .await
    .unwrap()
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(transcript.contains("allowed"), "{transcript}");
    assert!(transcript.contains("completed"), "{transcript}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_terminal_tools_are_denied_unless_yes_allows_them() {
    let app = asking_app().await;
    let args = claude_chat_args(app.project.path(), &[], "lines=1 permission");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let denied = run(switchboard(app.addr, &app.token, &args)).await;
    assert_eq!(denied.status.code(), Some(0), "{}", stderr(&denied));
    let err = stderr(&denied);
    assert!(err.contains("denied Bash: no terminal to ask on"), "{err}");
    // The agent got the reason.
    assert!(
        err.contains("warning: denied: denied by the terminal client"),
        "{err}"
    );
    assert!(!stdout(&denied).contains("⎿ ran"));

    let args = claude_chat_args(app.project.path(), &["--yes"], "lines=1 permission");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let allowed = run(switchboard(app.addr, &app.token, &args)).await;
    assert_eq!(allowed.status.code(), Some(0), "{}", stderr(&allowed));
    assert!(stdout(&allowed).contains("  ⎿ ran"), "{}", stdout(&allowed));

    // Attaching later replays the answered request without asking or answering it again.
    let listed = run(switchboard(app.addr, &app.token, &["sessions", "--json"])).await;
    let latest = json_objects(&stdout(&listed))[0]["sessionId"]
        .as_str()
        .unwrap()
        .to_owned();
    let attached = run(switchboard(app.addr, &app.token, &["attach", &latest])).await;
    assert_eq!(attached.status.code(), Some(0), "{}", stderr(&attached));
    assert!(
        stdout(&attached).contains("  ⎿ ran"),
        "{}",
        stdout(&attached)
    );
    let err = stderr(&attached);
    assert!(!err.contains("denied"), "{err}");
    assert!(!err.contains("server error"), "{err}");
}

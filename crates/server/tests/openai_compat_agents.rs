//! The `openrouter` and `local` providers: Switchboard's own agent loop against the test
//! kit's scripted OpenAI-compatible server on 127.0.0.1, through a real server on port 0.
//!
//! The model server is reached through `SWITCHBOARD_OPENROUTER_URL` (the bare base, no `/v1`)
//! and `SWITCHBOARD_LOCAL_URL` (with `/v1`), so both spellings of a base URL are exercised.

mod common;

use std::path::Path;
use std::time::Duration;

use common::process_alive;

use serde_json::{json, Value};
use switchboard_protocol::Provider;
use switchboard_testkit::client::command;
use switchboard_testkit::model_server::{Fault, ModelServer, Reply, Script};
use switchboard_testkit::{TestServer, WsClient};

const KEY: &str = "sk-test-key";

async fn model(script: Script) -> ModelServer {
    ModelServer::start(script)
        .await
        .expect("the model server starts")
}

fn server_for(model: &ModelServer, config: &str, key: &str) -> TestServer {
    let url = model.url();
    common::server_with(
        config,
        &[
            ("SWITCHBOARD_OPENROUTER_URL", &url),
            ("SWITCHBOARD_LOCAL_URL", &format!("{url}/v1")),
            ("OPENROUTER_API_KEY", key),
        ],
    )
}

/// The prefix of a provider's frames (`localgpu` for `local`).
fn prefix(provider: &str) -> &'static str {
    Provider::parse(provider)
        .expect("a provider name")
        .frame_prefix()
}

/// Sends a command and returns the session id from `session-accepted`.
async fn start(
    client: &mut WsClient,
    provider: &str,
    prompt: &str,
    project: &Path,
    extra: Value,
) -> String {
    client
        .send(command(provider, prompt, project, extra))
        .await
        .unwrap();
    let frames = client
        .recv_until(|f| f["type"] == "session-accepted" || f["type"] == "error")
        .await
        .unwrap();
    let last = frames.last().unwrap();
    assert_eq!(last["type"], "session-accepted", "{last}");
    last["sessionId"].as_str().unwrap().to_owned()
}

/// A whole run: every frame up to and including the terminal state.
async fn run(
    client: &mut WsClient,
    provider: &str,
    prompt: &str,
    project: &Path,
    extra: Value,
) -> (String, Vec<Value>) {
    let id = start(client, provider, prompt, project, extra).await;
    let frames = client.recv_until_terminal(&id).await.unwrap();
    (id, frames)
}

fn terminal(frames: &[Value]) -> &Value {
    frames.last().unwrap()
}

fn events<'a>(frames: &'a [Value], kind: &str) -> Vec<&'a Value> {
    frames
        .iter()
        .filter(|f| f["event"]["kind"] == kind)
        .map(|f| &f["event"])
        .collect()
}

fn text_of(frames: &[Value]) -> String {
    events(frames, "text")
        .iter()
        .map(|e| e["text"].as_str().unwrap())
        .collect()
}

fn bypass() -> Value {
    json!({"permissionMode": "bypassPermissions"})
}

/// The chat requests the model server saw.
fn chat_requests(model: &ModelServer) -> Vec<Value> {
    model
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/chat/completions"))
        .map(|r| r.body)
        .collect()
}

fn last_message(request: &Value) -> &Value {
    request["messages"].as_array().unwrap().last().unwrap()
}

async fn eventually(check: impl Fn() -> bool) -> bool {
    for _ in 0..500 {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    check()
}

#[tokio::test]
async fn a_text_turn_on_both_providers() {
    let model = model(
        Script::new()
            .then(Reply::text("Hello from the model"))
            .then(Reply::text("Local hello")),
    )
    .await;
    let server = server_for(&model, "", KEY);
    let mut client = server.client().await.unwrap();
    for (provider, expected) in [
        ("openrouter", "Hello from the model"),
        ("local", "Local hello"),
    ] {
        let (id, frames) = run(
            &mut client,
            provider,
            "say hello",
            server.project_path(),
            json!({}),
        )
        .await;
        assert_eq!(
            terminal(&frames)["state"],
            "completed",
            "{provider}: {frames:#?}"
        );
        assert_eq!(text_of(&frames), expected);
        let response = format!("{}-response", prefix(provider));
        assert!(frames
            .iter()
            .any(|f| f["type"] == response && f["data"]["type"] == "assistant_message"));
        assert_eq!(
            frames
                .iter()
                .filter(|f| f["type"] == format!("{}-complete", prefix(provider)))
                .count(),
            1
        );
        assert!(!frames
            .iter()
            .any(|f| f["type"] == format!("{}-error", prefix(provider))));
        assert!(frames.iter().any(|f| f["event"]["kind"] == "usage"));
        assert!(frames.iter().any(|f| f["type"] == "token-budget"));
        let created = frames
            .iter()
            .find(|f| f["type"] == "session-created")
            .expect("session-created");
        assert_eq!(created["provider"], provider);
        assert_eq!(created["sessionId"], id);
    }
    let requests = model.requests();
    assert_eq!(requests.len(), 2);
    for request in &requests {
        assert_eq!(request.path, "/v1/chat/completions");
        assert_eq!(request.body["stream"], true);
        assert_eq!(request.body["stream_options"]["include_usage"], true);
        assert_eq!(request.body["tools"].as_array().unwrap().len(), 7);
        assert_eq!(request.body["messages"][0]["role"], "system");
        assert_eq!(
            request.body["messages"][1],
            json!({"role": "user", "content": "say hello"})
        );
    }
    assert_eq!(
        requests[0].header("authorization"),
        Some(&*format!("Bearer {KEY}"))
    );
    assert_eq!(requests[0].body["model"], "anthropic/claude-sonnet-4");
    assert_eq!(
        requests[1].header("authorization"),
        None,
        "no key is configured for local"
    );
    assert_eq!(requests[1].body["model"], "qwen3-32b");
}

#[tokio::test]
async fn a_multi_step_tool_loop_reads_edits_runs_bash_and_answers() {
    let script = Script::new()
        .then(Reply::tool_call("Read", json!({"file_path": "notes.txt"})))
        .then(Reply::tool_call(
            "Edit",
            json!({"file_path": "notes.txt", "old_string": "alpha", "new_string": "beta"}),
        ))
        .then(Reply::tool_call(
            "Bash",
            json!({"command": "echo from-bash; cat notes.txt"}),
        ))
        .then(Reply::text("All done."));
    let model = model(script).await;
    let server = server_for(&model, "", KEY);
    std::fs::write(server.project_path().join("notes.txt"), "alpha\n").unwrap();
    let mut client = server.client().await.unwrap();
    // acceptEdits runs Edit without asking; the allowed list covers both commands of this
    // Bash chain.
    let options = json!({"permissionMode": "acceptEdits", "toolsSettings": {"allowedTools": ["Bash(echo:*)", "Bash(cat:*)"]}});
    let (_, frames) = run(
        &mut client,
        "local",
        "fix the notes",
        server.project_path(),
        options,
    )
    .await;
    assert_eq!(terminal(&frames)["state"], "completed", "{frames:#?}");
    assert!(!frames
        .iter()
        .any(|f| f["type"] == "claude-permission-request"));

    let calls: Vec<&str> = events(&frames, "tool-call")
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(calls, ["Read", "Edit", "Bash"]);
    let results = events(&frames, "tool-result");
    assert_eq!(results.len(), 3);
    assert!(
        results.iter().all(|r| r["isError"] == false),
        "{results:#?}"
    );
    assert!(results[0]["output"].as_str().unwrap().contains("alpha"));
    assert_eq!(results[2]["output"], "from-bash\nbeta");
    assert_eq!(text_of(&frames), "All done.");
    assert_eq!(
        std::fs::read_to_string(server.project_path().join("notes.txt")).unwrap(),
        "beta\n"
    );

    // Each call after the first carried the previous tool's result back to the model.
    let requests = chat_requests(&model);
    assert_eq!(requests.len(), 4);
    let read_result = last_message(&requests[1]);
    assert_eq!(read_result["role"], "tool");
    assert!(read_result["content"].as_str().unwrap().contains("alpha"));
    let assistant = &requests[1]["messages"].as_array().unwrap()[2];
    assert_eq!(assistant["role"], "assistant");
    assert_eq!(
        assistant["tool_calls"][0]["id"],
        read_result["tool_call_id"]
    );
    assert_eq!(last_message(&requests[3])["content"], "from-bash\nbeta");
}

#[tokio::test]
async fn path_escapes_are_refused_as_tool_errors_the_model_sees() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), "top secret").unwrap();
    let outside_file = outside.path().join("secret.txt");
    let written = outside.path().join("written.txt");
    let script = Script::new()
        .then(Reply::tool_call(
            "Read",
            json!({"file_path": "../secret.txt"}),
        ))
        .then(Reply::tool_call("Read", json!({"file_path": outside_file})))
        .then(Reply::tool_call(
            "Read",
            json!({"file_path": "link/secret.txt"}),
        ))
        .then(Reply::tool_call(
            "Write",
            json!({"file_path": written, "content": "x"}),
        ))
        .then(Reply::tool_call("LS", json!({"path": "link"})))
        .then(Reply::text("I cannot."));
    let model = model(script).await;
    let server = server_for(&model, "", KEY);
    std::os::unix::fs::symlink(outside.path(), server.project_path().join("link")).unwrap();
    let mut client = server.client().await.unwrap();
    let (_, frames) = run(
        &mut client,
        "openrouter",
        "read the secret",
        server.project_path(),
        bypass(),
    )
    .await;
    assert_eq!(terminal(&frames)["state"], "completed", "{frames:#?}");
    let results = events(&frames, "tool-result");
    assert_eq!(results.len(), 5);
    for result in &results {
        assert_eq!(result["isError"], true, "{result}");
        let output = result["output"].as_str().unwrap();
        assert!(output.contains("outside the project"), "{output}");
        assert!(!output.contains("top secret"));
    }
    assert!(!written.exists());
    for request in &chat_requests(&model)[1..] {
        let message = last_message(request);
        assert_eq!(message["role"], "tool");
        assert!(message["content"]
            .as_str()
            .unwrap()
            .contains("outside the project"));
    }
}

#[tokio::test]
async fn permission_is_asked_denied_and_allowed_across_a_reconnect() {
    let script = Script::new()
        .then(Reply::tool_call(
            "Write",
            json!({"file_path": "a.txt", "content": "x"}),
        ))
        .then(Reply::tool_call(
            "Bash",
            json!({"command": "echo allowed-ran"}),
        ))
        .then(Reply::text("fin"));
    let model = model(script).await;
    let server = server_for(&model, "", KEY);
    let mut client = server.client().await.unwrap();
    // No mode: `default`, which asks before Write and Bash (the seed defaulted to bypass).
    let id = start(
        &mut client,
        "openrouter",
        "write a file",
        server.project_path(),
        json!({}),
    )
    .await;
    let frames = client
        .recv_until(|f| f["type"] == "claude-permission-request")
        .await
        .unwrap();
    let request = frames.last().unwrap();
    assert_eq!(request["toolName"], "Write");
    assert_eq!(request["input"]["file_path"], "a.txt");
    client
        .send(
            json!({"type": "claude-permission-response", "requestId": request["requestId"],
                     "allow": false, "message": "no writes please"}),
        )
        .await
        .unwrap();
    let frames = client
        .recv_until(|f| f["type"] == "claude-permission-request")
        .await
        .unwrap();
    let denied = events(&frames, "tool-result");
    assert_eq!(denied.len(), 1);
    assert_eq!(denied[0]["isError"], true);
    assert_eq!(denied[0]["output"], "permission denied: no writes please");
    let request = frames.last().unwrap().clone();
    assert_eq!(request["toolName"], "Bash");
    let seen = request["seq"].as_u64().unwrap();
    drop(client);

    // A new connection finds the request still pending and answers it.
    let mut client = server.client().await.unwrap();
    client
        .send(json!({"type": "subscribe", "sessionId": id, "lastSeq": seen}))
        .await
        .unwrap();
    let status = client.recv().await.unwrap();
    assert_eq!(status["type"], "session-status");
    assert_eq!(status["pendingPermissions"].as_array().unwrap().len(), 1);
    assert_eq!(
        status["pendingPermissions"][0]["requestId"],
        request["requestId"]
    );
    client
        .send(json!({"type": "claude-permission-response", "requestId": request["requestId"], "allow": true}))
        .await
        .unwrap();
    let frames = client.recv_until_terminal(&id).await.unwrap();
    assert_eq!(terminal(&frames)["state"], "completed", "{frames:#?}");
    let ran = events(&frames, "tool-result");
    assert_eq!(ran.len(), 1);
    assert_eq!(ran[0]["output"], "allowed-ran");
    assert!(!server.project_path().join("a.txt").exists());
    let requests = chat_requests(&model);
    assert_eq!(
        last_message(&requests[1])["content"],
        "permission denied: no writes please"
    );
}

#[tokio::test]
async fn http_errors_and_broken_streams_fail_with_the_reason() {
    let script = Script::new()
        .then(Reply::error(401, "bad key 401"))
        .then(Reply::error(429, "slow down 429"))
        .then(Reply::error(500, "boom 500"))
        .then(Reply::error(
            400,
            "This model's maximum context length is 8192 tokens",
        ))
        .then(Reply::faulty(
            Reply::text("this answer is cut short"),
            Fault::CutAfter(2),
        ))
        .then(Reply::faulty(
            Reply::text("garbled"),
            Fault::MalformedAfter(1),
        ));
    let model = model(script).await;
    let server = server_for(&model, "", KEY);
    let mut client = server.client().await.unwrap();
    let expected: [(&str, &[&str]); 6] = [
        ("openrouter", &["HTTP 401", "bad key 401"]),
        ("local", &["HTTP 429", "slow down 429"]),
        ("openrouter", &["HTTP 500", "boom 500"]),
        (
            "local",
            &["too long for the model's context window", "8192"],
        ),
        ("openrouter", &["cut before it finished"]),
        ("local", &["malformed", "{not json"]),
    ];
    for (provider, needles) in expected {
        let (_, frames) = run(
            &mut client,
            provider,
            "hi",
            server.project_path(),
            json!({}),
        )
        .await;
        let end = terminal(&frames);
        assert_eq!(
            end["state"], "failed",
            "{provider} {needles:?}: {frames:#?}"
        );
        let error = end["error"].as_str().unwrap();
        for needle in needles {
            assert!(error.contains(needle), "{error:?} lacks {needle:?}");
        }
        let error_frame = format!("{}-error", prefix(provider));
        assert_eq!(
            frames.iter().filter(|f| f["type"] == error_frame).count(),
            1
        );
        let states: Vec<&Value> = frames
            .iter()
            .filter(|f| f["type"] == "session-state-changed" && f["state"] != "running")
            .collect();
        assert_eq!(states.len(), 1, "exactly one terminal state");
    }
    assert_eq!(chat_requests(&model).len(), 6, "no retries");
}

#[tokio::test]
async fn abort_during_a_slow_stream_ends_aborted_and_closes_the_stream() {
    let model =
        model(Script::new().then(Reply::slow("start", Duration::from_millis(100), 1000))).await;
    let server = server_for(&model, "", KEY);
    let mut client = server.client().await.unwrap();
    let id = start(
        &mut client,
        "openrouter",
        "talk slowly",
        server.project_path(),
        json!({}),
    )
    .await;
    client
        .recv_until(|f| f["event"]["kind"] == "text")
        .await
        .unwrap();
    client
        .send(json!({"type": "abort-session", "sessionId": id, "provider": "openrouter"}))
        .await
        .unwrap();
    let frames = client.recv_until_terminal(&id).await.unwrap();
    assert_eq!(terminal(&frames)["state"], "aborted", "{frames:#?}");
    assert!(
        eventually(|| model.disconnects() == 1).await,
        "the HTTP stream was not closed"
    );
}

#[tokio::test]
async fn abort_during_bash_kills_the_command_and_its_children() {
    let script = Script::new().then(Reply::tool_call(
        "Bash",
        json!({"command": "sleep 60 & echo $! > bg.pid; echo $$ > sh.pid; sleep 60"}),
    ));
    let model = model(script).await;
    let server = server_for(&model, "", KEY);
    let mut client = server.client().await.unwrap();
    let id = start(
        &mut client,
        "local",
        "sleep",
        server.project_path(),
        bypass(),
    )
    .await;
    let read_pid = |name: &str| {
        std::fs::read_to_string(server.project_path().join(name))
            .ok()
            .and_then(|t| t.trim().parse::<i32>().ok())
    };
    assert!(eventually(|| read_pid("sh.pid").is_some() && read_pid("bg.pid").is_some()).await);
    let (shell, background) = (read_pid("sh.pid").unwrap(), read_pid("bg.pid").unwrap());
    assert!(process_alive(shell) && process_alive(background));
    client
        .send(json!({"type": "abort-session", "sessionId": id, "provider": "local"}))
        .await
        .unwrap();
    let frames = client.recv_until_terminal(&id).await.unwrap();
    assert_eq!(terminal(&frames)["state"], "aborted", "{frames:#?}");
    // `aborted` comes only after the tool's processes are gone.
    assert!(!process_alive(shell), "the shell survived the abort");
    assert!(
        !process_alive(background),
        "the background child survived the abort"
    );
}

#[tokio::test]
async fn a_resumed_session_sends_the_stored_history_even_after_a_restart() {
    let script = Script::new()
        .then(Reply::tool_call("LS", json!({})))
        .then(Reply::text("The number is noted."))
        .then(Reply::text("You said 42."));
    let model = model(script).await;
    let mut server = server_for(&model, "", KEY);
    let mut client = server.client().await.unwrap();
    let (id, frames) = run(
        &mut client,
        "openrouter",
        "remember 42",
        server.project_path(),
        json!({}),
    )
    .await;
    assert_eq!(terminal(&frames)["state"], "completed", "{frames:#?}");
    drop(client);
    server.restart().unwrap();

    let mut client = server.client().await.unwrap();
    let (again, frames) = run(
        &mut client,
        "openrouter",
        "what did I say?",
        server.project_path(),
        json!({"sessionId": id}),
    )
    .await;
    assert_eq!(again, id);
    assert_eq!(terminal(&frames)["state"], "completed", "{frames:#?}");
    let requests = chat_requests(&model);
    assert_eq!(requests.len(), 3);
    let history: Vec<(String, String)> = requests[2]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap().to_owned(),
                m["content"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let roles: Vec<&str> = history.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(
        roles,
        ["system", "user", "assistant", "tool", "assistant", "user"]
    );
    assert_eq!(history[1].1, "remember 42");
    assert_eq!(history[4].1, "The number is noted.");
    assert_eq!(history[5].1, "what did I say?");
    // The stored tool call and its result travel back intact.
    let messages = requests[2]["messages"].as_array().unwrap();
    assert_eq!(
        messages[2]["tool_calls"][0]["id"],
        messages[3]["tool_call_id"]
    );
}

#[tokio::test]
async fn a_missing_key_a_foreign_resume_id_and_the_turn_limit_fail_clearly() {
    let script = Script::new()
        .then(Reply::tool_call("LS", json!({})))
        .then(Reply::tool_call("LS", json!({})))
        .then(Reply::text("never reached"));
    let model = model(script).await;
    let server = server_for(&model, "[agents.local]\nmax_turns = 2\n", "");
    let mut client = server.client().await.unwrap();

    let (_, frames) = run(
        &mut client,
        "openrouter",
        "hi",
        server.project_path(),
        json!({}),
    )
    .await;
    assert_eq!(terminal(&frames)["state"], "failed");
    assert!(terminal(&frames)["error"]
        .as_str()
        .unwrap()
        .contains("OPENROUTER_API_KEY"));

    let (_, frames) = run(
        &mut client,
        "local",
        "loop",
        server.project_path(),
        json!({}),
    )
    .await;
    assert_eq!(terminal(&frames)["state"], "failed", "{frames:#?}");
    assert!(terminal(&frames)["error"]
        .as_str()
        .unwrap()
        .contains("turn limit"));

    let foreign = json!({"sessionId": "localgpu-0a1b2c3d"});
    let (_, frames) = run(
        &mut client,
        "local",
        "resume",
        server.project_path(),
        foreign,
    )
    .await;
    assert_eq!(terminal(&frames)["state"], "failed");
    assert!(terminal(&frames)["error"]
        .as_str()
        .unwrap()
        .contains("no stored conversation"));
    assert_eq!(
        chat_requests(&model).len(),
        2,
        "only the local run reached the model"
    );
}

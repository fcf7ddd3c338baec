//! The agents' own stores as the REAL claude, codex and gemini CLIs write them: each CLI runs
//! one turn on its own (not through Switchboard), against the test kit's scripted model API,
//! with a throw-away HOME shared with the server, in a registered project and in a directory
//! that is not one. Switchboard must then suggest the other directory, list the project's
//! sessions with their titles and native ids, and resume each of them through the WebSocket
//! protocol by its native id — after which the listing merges the two views of it.

mod api_common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use api_common::*;
use serde_json::{json, Value};
use switchboard_testkit::client::command;
use switchboard_testkit::model_server::{ModelServer, Script};
use switchboard_testkit::real_clis::{real_cli, RealCliHome};
use switchboard_testkit::{TestServer, TestServerOptions};

fn model(provider: &str) -> &'static str {
    match provider {
        "claude" => "claude-sonnet-4-5",
        "codex" => "gpt-5.5",
        _ => "gemini-2.5-flash",
    }
}

struct Rig {
    _model: ModelServer,
    home: RealCliHome,
    env: Vec<(String, String)>,
}

async fn rig() -> Rig {
    let model = ModelServer::start(Script::new()).await.unwrap();
    let home = RealCliHome::new("switchboard-disc-", &model.url()).unwrap();
    let env = home.env();
    Rig {
        _model: model,
        home,
        env,
    }
}

impl Rig {
    /// One turn of a CLI on its own, in `cwd`.
    async fn run_cli(&self, provider: &str, cwd: &Path, prompt: &str) {
        let args: Vec<String> = match provider {
            "claude" => vec!["-p", prompt, "--output-format", "stream-json", "--verbose"],
            "codex" => vec![
                "exec",
                "--json",
                "--skip-git-repo-check",
                "--disable",
                "plugins",
                "--disable",
                "remote_plugin",
                prompt,
            ],
            _ => vec!["-p", prompt, "--output-format", "stream-json"],
        }
        .into_iter()
        .map(String::from)
        .chain(["--model".to_owned(), model(provider).to_owned()])
        .collect();
        let mut child = tokio::process::Command::new(real_cli(provider))
            .args(&args)
            .current_dir(cwd)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let status = tokio::time::timeout(Duration::from_secs(120), child.wait())
            .await
            .unwrap_or_else(|_| panic!("{provider} finishes its turn"))
            .unwrap();
        assert!(status.success(), "{provider} exited with {status}");
    }
}

#[tokio::test]
async fn real_cli_sessions_are_found_listed_and_resumed_by_native_id() {
    let rig = rig().await;
    let work = tempfile::Builder::new()
        .prefix("disc-work")
        .tempdir_in("/var/tmp")
        .unwrap();
    let base = std::fs::canonicalize(work.path()).unwrap();
    let project = base.join("the app");
    let elsewhere = base.join("elsewhere");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    for provider in ["claude", "codex", "gemini"] {
        rig.run_cli(provider, &project, &format!("hello from {provider}"))
            .await;
    }
    rig.run_cli("claude", &elsewhere, "somewhere else").await;

    let server = TestServer::start(
        Path::new(env!("CARGO_BIN_EXE_switchboard")),
        TestServerOptions {
            env: rig.env.clone(),
            ..TestServerOptions::default()
        },
    )
    .unwrap();
    let api = Api::of(&server);
    let (status, registered) = api
        .post("/api/projects", json!({"path": project.to_string_lossy()}))
        .await;
    assert_eq!(status, 201, "{registered}");
    let project_id = registered["id"].as_str().unwrap().to_owned();

    let discovered = api.ok("/api/projects/discovered").await;
    let suggestions = discovered["projects"].as_array().unwrap();
    let other = suggestions
        .iter()
        .find(|p| p["path"] == elsewhere.to_string_lossy().as_ref())
        .unwrap_or_else(|| panic!("{discovered}"));
    assert_eq!(other["providers"], json!(["claude"]));
    assert!(suggestions
        .iter()
        .all(|p| p["path"] != project.to_string_lossy().as_ref()));

    let listed = api
        .ok(&format!("/api/projects/{project_id}/sessions"))
        .await;
    let sessions = listed["sessions"].as_array().unwrap().clone();
    assert_eq!(sessions.len(), 3, "{listed}");
    let mut native = Vec::new();
    for provider in ["claude", "codex", "gemini"] {
        let s = sessions
            .iter()
            .find(|s| s["provider"] == provider)
            .unwrap_or_else(|| panic!("{provider} in {listed}"));
        assert_eq!(s["title"], format!("hello from {provider}"), "{s}");
        assert_eq!(s["messageCount"], 2, "{s}");
        assert!(s["sessionId"].is_null());
        assert_eq!(s["cwd"], project.to_string_lossy().as_ref());
        let id = s["providerSessionId"].as_str().unwrap().to_owned();
        let transcript = api.ok(&format!("/api/sessions/{id}/transcript")).await;
        let messages = transcript["messages"].as_array().unwrap();
        assert_eq!(messages[0]["text"], format!("hello from {provider}"));
        assert_eq!(messages[1]["role"], "assistant");
        assert!(
            !messages[1]["text"].as_str().unwrap().is_empty(),
            "{transcript}"
        );
        native.push((provider, id));
    }

    // Resume each through Switchboard by its native id.
    let mut client = server.client().await.unwrap();
    for (provider, id) in &native {
        client
            .send(command(
                provider,
                "and once more",
                &project,
                json!({"sessionId": id, "model": model(provider)}),
            ))
            .await
            .unwrap();
        let accepted = client
            .recv_until(|f| f["type"] == "session-accepted" || f["type"] == "error")
            .await
            .unwrap()
            .pop()
            .unwrap();
        assert_eq!(accepted["type"], "session-accepted", "{accepted}");
        let ours = accepted["sessionId"].as_str().unwrap().to_owned();
        let frames = client.recv_until_terminal(&ours).await.unwrap();
        let last: &Value = frames.last().unwrap();
        assert_eq!(last["state"], "completed", "{provider}: {last}");
    }

    let mut merged = Vec::new();
    for _ in 0..20 {
        let listed = api
            .ok(&format!("/api/projects/{project_id}/sessions"))
            .await;
        merged = listed["sessions"].as_array().unwrap().clone();
        let done = native.iter().all(|(_, id)| {
            merged.iter().any(|s| {
                s["providerSessionId"] == id.as_str()
                    && s["messageCount"].as_u64().unwrap_or(0) >= 4
                    && s["sources"].as_array().unwrap().len() == 2
            })
        });
        if done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    for (provider, id) in &native {
        let entries: Vec<&Value> = merged
            .iter()
            .filter(|s| s["providerSessionId"] == id.as_str())
            .collect();
        assert_eq!(
            entries.len(),
            1,
            "{provider}: one entry per conversation: {merged:?}"
        );
        let s = entries[0];
        assert!(s["sessionId"].is_string(), "{s}");
        assert_eq!(s["state"], "completed");
        assert_eq!(s["sources"][0], "switchboard");
        assert!(s["messageCount"].as_u64().unwrap() >= 4, "{s}");
        assert_eq!(s["title"], format!("hello from {provider}"));
        // And the history listing carries the title too.
        let ours = s["sessionId"].as_str().unwrap();
        let detail = api.ok(&format!("/api/sessions/{ours}")).await;
        assert_eq!(detail["providerSessionId"], id.as_str());
        assert_eq!(detail["title"], format!("hello from {provider}"));
    }
    drop(rig.home);
}

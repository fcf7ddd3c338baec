//! The scenario suite for the two providers whose CLIs cannot be installed here, cursor and
//! nano, on the test kit's fixture CLIs (which print the documented formats and replay the
//! real nano captures).

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use switchboard_testkit::client::command;
use switchboard_testkit::{fixtures, TestServer, TestServerOptions, WsClient};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Fixture {
    Cursor,
    Nano,
}

impl Fixture {
    fn provider(self) -> &'static str {
        match self {
            Fixture::Cursor => "cursor",
            Fixture::Nano => "nano",
        }
    }

    fn bin_var(self) -> &'static str {
        match self {
            Fixture::Cursor => "SWITCHBOARD_CURSOR_BIN",
            Fixture::Nano => "SWITCHBOARD_NANO_BIN",
        }
    }
}

struct Rig {
    marker: String,
    _sessions: tempfile::TempDir,
    server: TestServer,
}

fn rig_with(env: &[(&str, &str)]) -> Rig {
    let marker = uuid::Uuid::new_v4().to_string();
    let sessions = tempfile::tempdir().unwrap();
    let mut all = vec![
        (
            "SWITCHBOARD_CURSOR_BIN".to_owned(),
            fixtures::fake_cursor_agent().to_string_lossy().into_owned(),
        ),
        (
            "SWITCHBOARD_NANO_BIN".to_owned(),
            fixtures::fake_nano_claude_code()
                .to_string_lossy()
                .into_owned(),
        ),
        (
            "SWITCHBOARD_NANO_SESSIONS_DIR".to_owned(),
            sessions.path().to_string_lossy().into_owned(),
        ),
        // Every agent of this rig inherits it, so the test can find them in /proc.
        ("FIXTURE_RIG".to_owned(), marker.clone()),
    ];
    all.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let server = TestServer::start(
        Path::new(env!("CARGO_BIN_EXE_switchboard")),
        TestServerOptions {
            config: "abort_grace_ms = 500\n".into(),
            env: all,
            ..Default::default()
        },
    )
    .unwrap();
    Rig {
        marker,
        _sessions: sessions,
        server,
    }
}

impl Rig {
    async fn start(
        &self,
        client: &mut WsClient,
        fixture: Fixture,
        prompt: &str,
        extra: Value,
    ) -> String {
        client
            .send(command(
                fixture.provider(),
                prompt,
                self.server.project_path(),
                extra,
            ))
            .await
            .unwrap();
        let accepted = client
            .recv_until(|f| f["type"] == "session-accepted" || f["type"] == "error")
            .await
            .unwrap()
            .pop()
            .unwrap();
        assert_eq!(
            accepted["type"], "session-accepted",
            "{fixture:?}: {accepted}"
        );
        accepted["sessionId"].as_str().unwrap().to_owned()
    }

    /// Live processes of this rig's agents (the server, which also carries the marker, is
    /// left out).
    fn agent_processes(&self) -> Vec<i32> {
        let needle = format!("FIXTURE_RIG={}", self.marker);
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

async fn new_session_streams_and_completes(fixture: Fixture) {
    let rig = rig_with(&[]);
    let mut client = rig.server.client().await.unwrap();
    let id = rig.start(&mut client, fixture, "lines=3", json!({})).await;
    let frames = client.recv_until_terminal(&id).await.unwrap();
    assert_eq!(
        frames.last().unwrap()["state"],
        "completed",
        "{fixture:?}: {:#?}",
        frames.last()
    );
    assert!(frames.iter().any(|f| f["type"] == "session-created"));
    assert!(frames
        .iter()
        .any(|f| f["type"] == format!("{}-complete", fixture.provider())));
    assert!(frames.iter().any(|f| f["type"] == "token-budget"));
    assert!(!text_of(&frames).is_empty());
    assert!(
        frames.iter().all(|f| f["provider"] == fixture.provider()),
        "{fixture:?}: nano is never reported as claude"
    );
}

async fn resume_continues_the_session(fixture: Fixture) {
    let rig = rig_with(&[]);
    let mut client = rig.server.client().await.unwrap();
    let id = rig.start(&mut client, fixture, "lines=1", json!({})).await;
    let first = client.recv_until_terminal(&id).await.unwrap();
    assert_eq!(first.last().unwrap()["state"], "completed");
    let native = |frames: &[Value]| {
        frames
            .iter()
            .find(|f| f["event"]["kind"] == "native-session")
            .map(|f| f["event"]["id"].clone())
    };
    let first_native = native(&first).expect("the provider revealed its id");
    client
        .send(command(
            fixture.provider(),
            "lines=1",
            rig.server.project_path(),
            json!({"sessionId": id}),
        ))
        .await
        .unwrap();
    let second = client.recv_until_terminal(&id).await.unwrap();
    assert_eq!(
        second.last().unwrap()["state"],
        "completed",
        "{fixture:?}: {:#?}",
        second.last()
    );
    assert_eq!(
        native(&second),
        Some(first_native),
        "{fixture:?}: the same native session"
    );
    if fixture == Fixture::Nano {
        assert!(text_of(&second).contains("turn 2"), "{}", text_of(&second));
    }
}

async fn tool_call_and_result_reach_the_client(fixture: Fixture) {
    let rig = rig_with(&[]);
    let mut client = rig.server.client().await.unwrap();
    let id = rig
        .start(&mut client, fixture, "lines=2 tool", json!({}))
        .await;
    let frames = client.recv_until_terminal(&id).await.unwrap();
    assert_eq!(frames.last().unwrap()["state"], "completed");
    let call = frames
        .iter()
        .find(|f| f["event"]["kind"] == "tool-call")
        .expect("tool-call");
    let result = frames
        .iter()
        .find(|f| f["event"]["kind"] == "tool-result")
        .expect("tool-result");
    assert_eq!(call["event"]["id"], result["event"]["id"]);
}

async fn agent_error_fails(fixture: Fixture) {
    let rig = rig_with(&[]);
    let mut client = rig.server.client().await.unwrap();
    let prompt = match fixture {
        Fixture::Cursor => "lines=1 error_result",
        Fixture::Nano => "error",
    };
    let id = rig.start(&mut client, fixture, prompt, json!({})).await;
    let frames = client.recv_until_terminal(&id).await.unwrap();
    assert_eq!(frames.last().unwrap()["state"], "failed", "{fixture:?}");
    assert!(frames
        .iter()
        .any(|f| f["type"] == format!("{}-error", fixture.provider())));
}

async fn abort_mid_stream_leaves_no_process(fixture: Fixture) {
    let rig = rig_with(&[]);
    let mut client = rig.server.client().await.unwrap();
    let id = rig
        .start(&mut client, fixture, "lines=1000 delay_ms=20", json!({}))
        .await;
    client
        .recv_until(|f| f["event"]["kind"] == "text")
        .await
        .unwrap();
    assert!(!rig.agent_processes().is_empty());
    client
        .send(json!({"type":"abort-session","sessionId": id}))
        .await
        .unwrap();
    let frames = client.recv_until_terminal(&id).await.unwrap();
    assert_eq!(frames.last().unwrap()["state"], "aborted");
    assert_eq!(rig.agent_processes(), Vec::<i32>::new(), "{fixture:?}");
}

async fn abort_of_an_agent_that_ignores_sigint_escalates(fixture: Fixture) {
    let rig = rig_with(&[]);
    let mut client = rig.server.client().await.unwrap();
    let id = rig
        .start(
            &mut client,
            fixture,
            "lines=1 hang ignore_sigint ignore_sigterm",
            json!({}),
        )
        .await;
    let response = format!("{}-response", fixture.provider());
    client
        .recv_until(|f| f["type"] == response.as_str())
        .await
        .unwrap();
    client
        .send(json!({"type":"abort-session","sessionId": id}))
        .await
        .unwrap();
    let frames = client.recv_until_terminal(&id).await.unwrap();
    assert_eq!(frames.last().unwrap()["state"], "aborted");
    assert_eq!(rig.agent_processes(), Vec::<i32>::new(), "{fixture:?}");
}

async fn missing_binary_is_a_clear_error(fixture: Fixture) {
    let rig = rig_with(&[(fixture.bin_var(), "/nonexistent/fixture")]);
    let mut client = rig.server.client().await.unwrap();
    let id = rig.start(&mut client, fixture, "hello", json!({})).await;
    let frames = client.recv_until_terminal(&id).await.unwrap();
    let last = frames.last().unwrap();
    assert_eq!(last["reason"], "spawn-failed", "{fixture:?}: {last}");
    assert!(last["error"].as_str().unwrap().contains(fixture.bin_var()));
}

macro_rules! for_each_fixture {
    ($($scenario:ident),* $(,)?) => {
        mod cursor { use super::*; $( #[tokio::test] async fn $scenario() { super::$scenario(Fixture::Cursor).await } )* }
        mod nano { use super::*; $( #[tokio::test] async fn $scenario() { super::$scenario(Fixture::Nano).await } )* }
    };
}

for_each_fixture!(
    new_session_streams_and_completes,
    resume_continues_the_session,
    tool_call_and_result_reach_the_client,
    agent_error_fails,
    abort_mid_stream_leaves_no_process,
    abort_of_an_agent_that_ignores_sigint_escalates,
    missing_binary_is_a_clear_error,
);

#[tokio::test]
async fn nano_refuses_a_permission_mode_it_cannot_honour() {
    let rig = rig_with(&[]);
    let mut client = rig.server.client().await.unwrap();
    client
        .send(command(
            "nano",
            "hello",
            rig.server.project_path(),
            json!({"permissionMode": "default"}),
        ))
        .await
        .unwrap();
    let reply = client.recv().await.unwrap();
    assert_eq!(reply["type"], "error");
    assert_eq!(reply["code"], "invalid-field");
    client
        .expect_silence(Duration::from_millis(200))
        .await
        .unwrap();
}

const PNG_1X1: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/5+hHgAHggJ/PchI7wAAAABJRU5ErkJggg==";

#[tokio::test]
async fn attached_images_reach_the_agent_as_files_and_are_removed_after_the_run() {
    let rig = rig_with(&[]);
    let mut client = rig.server.client().await.unwrap();
    let images = json!({"images": [{"data": format!("data:image/png;base64,{PNG_1X1}"), "name": "../../evil.png"}]});
    let id = rig
        .start(&mut client, Fixture::Cursor, "lines=1 delay_ms=100", images)
        .await;
    let frames = client.recv_until_terminal(&id).await.unwrap();
    assert_eq!(frames.last().unwrap()["state"], "completed");
    // The fixture echoes the prompt in its `user` line: the image is listed by path.
    let echoed = frames
        .iter()
        .find_map(|f| {
            f["data"]["message"]["content"][0]["text"]
                .as_str()
                .filter(|t| t.contains("Attached images"))
        })
        .expect("the prompt lists the attachment");
    let path = echoed
        .lines()
        .last()
        .unwrap()
        .trim_start_matches("- ")
        .to_owned();
    assert!(path.ends_with("/image-1.png"), "{path}");
    assert!(
        path.starts_with(&rig.server.data_dir.path().to_string_lossy().into_owned()),
        "{path}"
    );
    assert!(
        !Path::new(&path).exists(),
        "the run's images are removed when it ends"
    );

    // A bad image is refused before anything runs.
    client
        .send(command(
            "cursor",
            "x",
            rig.server.project_path(),
            json!({"images": [{"data": "data:text/html;base64,PGI+"}]}),
        ))
        .await
        .unwrap();
    let reply = client.recv().await.unwrap();
    assert_eq!(reply["code"], "invalid-field", "{reply}");
}

#[tokio::test]
async fn per_provider_environment_from_the_config_reaches_the_agent() {
    let sessions = tempfile::tempdir().unwrap();
    let server = TestServer::start(
        Path::new(env!("CARGO_BIN_EXE_switchboard")),
        TestServerOptions {
            config: "[agents.cursor.env]\nFAKE_CURSOR_SCRIPT = \"lines=7\"\n".into(),
            env: vec![
                (
                    "SWITCHBOARD_CURSOR_BIN".into(),
                    fixtures::fake_cursor_agent().to_string_lossy().into_owned(),
                ),
                (
                    "SWITCHBOARD_NANO_SESSIONS_DIR".into(),
                    sessions.path().to_string_lossy().into_owned(),
                ),
            ],
            ..Default::default()
        },
    )
    .unwrap();
    let mut client = server.client().await.unwrap();
    client
        .send(command("cursor", "hello", server.project_path(), json!({})))
        .await
        .unwrap();
    let accepted = client.recv().await.unwrap();
    let id = accepted["sessionId"].as_str().unwrap().to_owned();
    let frames = client.recv_until_terminal(&id).await.unwrap();
    let texts = frames
        .iter()
        .filter(|f| f["event"]["kind"] == "text")
        .count();
    assert_eq!(texts, 7, "the script from [agents.cursor.env] was used");
}

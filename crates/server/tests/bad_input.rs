//! Bad input gets a typed error frame, the connection stays usable, and nothing is spawned.
//! Also: authentication at upgrade.

mod common;

use common::*;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn a_table_of_bad_inputs() {
    let server = server_with("max_frame_bytes = 65536\n", &[]);
    let project = server.project_path().to_string_lossy().into_owned();
    let outside = tempfile::tempdir().unwrap();
    let outside = outside.path().to_string_lossy().into_owned();
    let sibling = format!("{project}-sibling");
    std::fs::create_dir_all(&sibling).unwrap();
    let unknown = uuid::Uuid::new_v4().to_string();
    let cmd = |options: Value| {
        json!({"type":"cursor-command","command":"hi","options": options}).to_string()
    };
    let cases: Vec<(&str, String, &str)> = vec![
        ("malformed json", "{".into(), "bad-json"),
        ("trailing garbage", "{}x".into(), "bad-json"),
        (
            "deep nesting",
            format!("{}{}", "[".repeat(5000), "]".repeat(5000)),
            "bad-json",
        ),
        ("array", "[1,2,3]".into(), "bad-frame"),
        ("string", "\"hello\"".into(), "bad-frame"),
        ("no type", "{}".into(), "bad-frame"),
        ("numeric type", r#"{"type":7}"#.into(), "bad-frame"),
        (
            "unknown type",
            r#"{"type":"launch-missiles"}"#.into(),
            "unknown-type",
        ),
        (
            "unknown provider",
            r#"{"type":"vim-command","command":"x"}"#.into(),
            "unknown-provider",
        ),
        (
            "abort unknown provider",
            r#"{"type":"abort-session","sessionId":"x","provider":"emacs"}"#.into(),
            "unknown-provider",
        ),
        (
            "command not a string",
            r#"{"type":"cursor-command","command":5}"#.into(),
            "invalid-field",
        ),
        (
            "empty prompt",
            cmd(json!({"projectPath": project})).replace("\"hi\"", "\"\""),
            "invalid-field",
        ),
        (
            "options not an object",
            r#"{"type":"cursor-command","command":"x","options":[]}"#.into(),
            "invalid-field",
        ),
        ("no project", cmd(json!({})), "invalid-field"),
        (
            "relative path",
            cmd(json!({"projectPath": "relative/dir"})),
            "invalid-field",
        ),
        (
            "unregistered project",
            cmd(json!({"projectPath": outside})),
            "project-not-registered",
        ),
        (
            "sibling with a shared prefix",
            cmd(json!({"projectPath": sibling})),
            "project-not-registered",
        ),
        (
            "traversal",
            cmd(json!({"projectPath": format!("{project}/../..")})),
            "project-not-registered",
        ),
        (
            "cwd outside the project",
            cmd(json!({"projectPath": project, "cwd": "/"})),
            "project-not-registered",
        ),
        (
            "flag as model",
            cmd(json!({"projectPath": project, "model": "--help"})),
            "invalid-field",
        ),
        (
            "shell in model",
            cmd(json!({"projectPath": project, "model": "x; rm -rf /"})),
            "invalid-field",
        ),
        (
            "unknown permission mode",
            cmd(json!({"projectPath": project, "permissionMode": "yolo"})),
            "invalid-field",
        ),
        (
            "path-like session id",
            cmd(json!({"projectPath": project, "sessionId": "../../etc/passwd"})),
            "invalid-field",
        ),
        (
            "flag-like session id",
            cmd(json!({"projectPath": project, "sessionId": "-rf"})),
            "invalid-field",
        ),
        (
            "subscribe without id",
            r#"{"type":"subscribe"}"#.into(),
            "invalid-field",
        ),
        (
            "negative lastSeq",
            format!(r#"{{"type":"subscribe","sessionId":"{unknown}","lastSeq":-1}}"#),
            "invalid-field",
        ),
        (
            "huge lastSeq",
            format!(r#"{{"type":"subscribe","sessionId":"{unknown}","lastSeq":1e400}}"#),
            "bad-json",
        ),
        (
            "subscribe unknown session",
            format!(r#"{{"type":"subscribe","sessionId":"{unknown}","lastSeq":0}}"#),
            "unknown-session",
        ),
        (
            "subscribe path-like id",
            r#"{"type":"subscribe","sessionId":"../x","lastSeq":0}"#.into(),
            "invalid-field",
        ),
        (
            "status of unknown session",
            format!(r#"{{"type":"check-session-status","sessionId":"{unknown}"}}"#),
            "unknown-session",
        ),
        (
            "unsubscribe unknown",
            format!(r#"{{"type":"unsubscribe","sessionId":"{unknown}"}}"#),
            "unknown-session",
        ),
        (
            "permission for nothing",
            r#"{"type":"claude-permission-response","requestId":"nope","allow":true}"#.into(),
            "invalid-field",
        ),
        (
            "permission without id",
            r#"{"type":"claude-permission-response","allow":true}"#.into(),
            "invalid-field",
        ),
        (
            "oversized frame",
            format!(
                r#"{{"type":"cursor-command","command":"{}"}}"#,
                "x".repeat(70_000)
            ),
            "frame-too-large",
        ),
        (
            "a model server URL off this machine",
            cmd(json!({"projectPath": project, "serverUrl": "http://192.0.2.1:11434"}))
                .replace("cursor-command", "local-command"),
            "invalid-field",
        ),
        (
            "a resume id the provider cannot take",
            cmd(json!({"projectPath": project, "sessionId": "x"}))
                .replace("cursor-command", "codex-command"),
            "invalid-field",
        ),
        (
            "a permission mode the provider cannot honour",
            cmd(json!({"projectPath": project, "permissionMode": "plan"}))
                .replace("cursor-command", "nano-command"),
            "invalid-field",
        ),
        (
            "lone surrogate in a string",
            r#"{"type":"cursor-command","command":"\ud800"}"#.into(),
            "bad-json",
        ),
        (
            "lastSeq beyond u64",
            format!(
                r#"{{"type":"subscribe","sessionId":"{unknown}","lastSeq":18446744073709551616}}"#
            ),
            "invalid-field",
        ),
        (
            "NUL byte in a path",
            cmd(json!({"projectPath": format!("{project}\u{0}x")})),
            "invalid-field",
        ),
        (
            "queue not a bool",
            cmd(json!({"projectPath": project, "queue": "yes"})),
            "invalid-field",
        ),
        (
            "images not an array",
            cmd(json!({"projectPath": project, "images": "x"})),
            "invalid-field",
        ),
        (
            "an image that is not an image",
            cmd(
                json!({"projectPath": project, "images": [{"data": "data:text/html;base64,PGI+"}]}),
            ),
            "invalid-field",
        ),
        (
            "cursor-resume without a session",
            r#"{"type":"cursor-resume","command":"go"}"#.into(),
            "invalid-field",
        ),
        (
            "numeric session id",
            r#"{"type":"abort-session","sessionId":42}"#.into(),
            "invalid-field",
        ),
        (
            "path-like id in check-session-status",
            r#"{"type":"check-session-status","sessionId":"/etc/passwd"}"#.into(),
            "invalid-field",
        ),
        (
            "oversized clientRequestId",
            format!(
                r#"{{"type":"abort-session","sessionId":"x","clientRequestId":"{}"}}"#,
                "c".repeat(200)
            ),
            "invalid-field",
        ),
        (
            "model with a leading dash",
            cmd(json!({"projectPath": project, "model": "-m"})),
            "invalid-field",
        ),
        (
            "model with a space",
            cmd(json!({"projectPath": project, "model": "gpt 5"})),
            "invalid-field",
        ),
    ];
    let mut client = server.client().await.unwrap();
    for (name, frame, code) in &cases {
        client
            .send_raw(Message::Text(frame.clone().into()))
            .await
            .unwrap();
        let reply = client.recv().await.unwrap();
        assert_eq!(reply["type"], "error", "{name}: {reply}");
        assert_eq!(reply["code"], *code, "{name}: {reply}");
        assert!(
            reply["message"].is_string() && reply["error"] == reply["message"],
            "{name}: {reply}"
        );
    }
    // Binary frames.
    client
        .send_raw(Message::Binary(vec![0xff, 0xfe].into()))
        .await
        .unwrap();
    assert_eq!(client.recv().await.unwrap()["code"], "bad-frame");
    // Still usable: a valid command runs.
    let (id, _) = start_session(&mut client, "lines=1", server.project_path())
        .await
        .unwrap();
    let frames = client.recv_until_terminal(&id).await.unwrap();
    assert_eq!(frames.last().unwrap()["state"], "completed");
    // Nothing was spawned for the bad requests: the only session is the one above.
    client
        .send(json!({"type":"get-active-sessions"}))
        .await
        .unwrap();
    let active = client.recv().await.unwrap();
    assert_eq!(active["type"], "active-sessions");
    assert_eq!(active["sessions"]["cursor"], json!([]));
    assert!(active["sessions"].as_object().unwrap().len() == 7);
    assert!(cases.len() >= 45, "{} cases", cases.len());
}

#[tokio::test]
async fn errors_echo_the_request_type_and_client_request_id() {
    let server = server();
    let mut client = server.client().await.unwrap();
    client
        .send(json!({"type":"cursor-command","command":"x","clientRequestId":"abc","options":{"projectPath":"/"}}))
        .await
        .unwrap();
    let reply = client.recv().await.unwrap();
    assert_eq!(reply["code"], "project-not-registered");
    assert_eq!(reply["requestType"], "cursor-command");
    assert_eq!(reply["clientRequestId"], "abc");
}

#[tokio::test]
async fn telemetry_settings_is_accepted_and_ignored() {
    let server = server();
    let mut client = server.client().await.unwrap();
    client
        .send(json!({"type":"telemetry-settings","enabled":true}))
        .await
        .unwrap();
    client
        .expect_silence(std::time::Duration::from_millis(200))
        .await
        .unwrap();
}

#[tokio::test]
async fn upgrade_without_the_token_is_401() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Error;
    let server = server();
    let status_of = |result: Result<_, Error>| match result {
        Err(Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("expected an HTTP error, got {other}"),
        Ok(_) => panic!("the upgrade succeeded without a valid token"),
    };
    let url = format!("ws://{}/ws", server.addr);
    assert_eq!(
        status_of(
            tokio_tungstenite::connect_async(url.clone())
                .await
                .map(|_| ())
        ),
        401
    );
    let mut wrong = url.clone().into_client_request().unwrap();
    wrong
        .headers_mut()
        .insert("authorization", "Bearer wrong".parse().unwrap());
    assert_eq!(
        status_of(tokio_tungstenite::connect_async(wrong).await.map(|_| ())),
        401
    );
    // The seed's ?token= form is deliberately not supported.
    let query = format!("{url}?token={}", server.token);
    assert_eq!(
        status_of(tokio_tungstenite::connect_async(query).await.map(|_| ())),
        401
    );
    assert!(server.client().await.is_ok());
}

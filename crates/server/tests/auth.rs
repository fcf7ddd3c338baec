//! Authentication: bearer tokens, browser login with a session cookie, cross-site WebSocket
//! refusal, logout, token rotation, and secrets kept out of logs.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use serde_json::json;
use switchboard_testkit::http;
use switchboard_testkit::{fixtures, TestServer, TestServerOptions};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Error as WsError;

fn generated_token_server(capture_log: bool, env: Vec<(String, String)>) -> TestServer {
    let mut env = env;
    env.push((
        "SWITCHBOARD_CURSOR_BIN".into(),
        fixtures::fake_cursor_agent().to_string_lossy().into_owned(),
    ));
    TestServer::start(
        Path::new(env!("CARGO_BIN_EXE_switchboard")),
        TestServerOptions {
            config: String::new(),
            env,
            generated_token: true,
            capture_log,
            ..Default::default()
        },
    )
    .unwrap()
}

async fn login(server: &TestServer, token: &str) -> http::HttpResponse {
    let body = json!({ "token": token }).to_string();
    http::request(
        server.addr,
        "POST",
        "/api/login",
        &[("content-type", "application/json")],
        Some(body.as_bytes()),
    )
    .await
    .unwrap()
}

fn cookie_of(response: &http::HttpResponse) -> String {
    let set = response.header("set-cookie").expect("a session cookie");
    assert!(set.contains("HttpOnly"), "{set}");
    assert!(set.contains("SameSite=Strict"), "{set}");
    set.split(';').next().unwrap().to_owned()
}

/// Opens `/ws` with these headers; Ok(()) on 101, Err(status) otherwise.
async fn upgrade(server: &TestServer, headers: &[(&str, &str)]) -> Result<(), u16> {
    let mut request = format!("ws://{}/ws", server.addr)
        .into_client_request()
        .unwrap();
    for (name, value) in headers {
        let name =
            tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes()).unwrap();
        request.headers_mut().insert(name, value.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok(_) => Ok(()),
        Err(WsError::Http(response)) => Err(response.status().as_u16()),
        Err(other) => panic!("unexpected {other}"),
    }
}

#[tokio::test]
async fn a_generated_token_is_shown_once_as_a_login_url() {
    let mut server = generated_token_server(false, vec![]);
    // The URL line follows the address line; give the reader a moment.
    for _ in 0..50 {
        if server.stdout_lines().iter().any(|l| l.contains("#token=")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let first = server.stdout_lines();
    let url_lines: Vec<_> = first.iter().filter(|l| l.contains("#token=")).collect();
    assert_eq!(url_lines.len(), 1, "{first:?}");
    assert!(url_lines[0].contains(&server.token));
    server.restart().unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let all = server.stdout_lines();
    assert_eq!(
        all.iter().filter(|l| l.contains("#token=")).count(),
        1,
        "shown once, not on restart: {all:?}"
    );
}

#[tokio::test]
async fn browser_login_gives_a_cookie_that_opens_the_websocket_from_the_servers_own_origin() {
    let server = generated_token_server(false, vec![]);
    assert_eq!(login(&server, "wrong").await.status, 401);
    let response = login(&server, &server.token).await;
    assert_eq!(response.status, 204);
    let cookie = cookie_of(&response);
    let own = format!("http://{}", server.addr);
    assert_eq!(
        upgrade(&server, &[("cookie", &cookie), ("origin", &own)]).await,
        Ok(())
    );
    // A cross-site page cannot use the cookie (cross-site WebSocket hijacking).
    assert_eq!(
        upgrade(
            &server,
            &[("cookie", &cookie), ("origin", "https://evil.example")]
        )
        .await,
        Err(403)
    );
    assert_eq!(
        upgrade(&server, &[("cookie", &cookie)]).await,
        Err(403),
        "no Origin at all"
    );
    // Bearer clients need no Origin.
    let bearer = format!("Bearer {}", server.token);
    assert_eq!(
        upgrade(&server, &[("authorization", &bearer)]).await,
        Ok(())
    );
    // Logout ends the cookie session.
    let out = http::request(
        server.addr,
        "POST",
        "/api/logout",
        &[("cookie", &cookie)],
        None,
    )
    .await
    .unwrap();
    assert_eq!(out.status, 204);
    assert_eq!(
        upgrade(&server, &[("cookie", &cookie), ("origin", &own)]).await,
        Err(401)
    );
    assert_eq!(
        upgrade(
            &server,
            &[("cookie", "switchboard_session=forged"), ("origin", &own)]
        )
        .await,
        Err(401)
    );
}

#[tokio::test]
async fn rotating_the_token_ends_the_old_token_and_every_browser_session() {
    let server = generated_token_server(false, vec![]);
    let old = server.token.clone();
    let cookie = cookie_of(&login(&server, &old).await);
    let own = format!("http://{}", server.addr);
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["token", "rotate", "--data-dir"])
        .arg(server.data_dir.path())
        .env_remove("SWITCHBOARD_TOKEN")
        .status()
        .unwrap();
    assert!(status.success());
    let shown = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["token", "show", "--data-dir"])
        .arg(server.data_dir.path())
        .output()
        .unwrap();
    let new = String::from_utf8(shown.stdout).unwrap().trim().to_owned();
    assert_ne!(new, old);
    // The running server follows the token file within about a second.
    let mut rotated = false;
    for _ in 0..50 {
        if upgrade(&server, &[("authorization", &format!("Bearer {new}"))])
            .await
            .is_ok()
        {
            rotated = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(rotated, "the new token never worked");
    assert_eq!(
        upgrade(&server, &[("authorization", &format!("Bearer {old}"))]).await,
        Err(401)
    );
    assert_eq!(
        upgrade(&server, &[("cookie", &cookie), ("origin", &own)]).await,
        Err(401)
    );
}

#[tokio::test]
async fn secrets_never_reach_the_log() {
    let api_key = "sk-ant-secret-key-0123456789";
    let server = generated_token_server(
        true,
        vec![
            ("SWITCHBOARD_LOG".into(), "debug".into()),
            ("ANTHROPIC_API_KEY".into(), api_key.into()),
            (
                "OPENROUTER_API_KEY".into(),
                "sk-or-secret-key-9876543210".into(),
            ),
        ],
    );
    let mut client = server.client().await.unwrap();
    let (id, _) = start_session(&mut client, "lines=5 tool", server.project_path())
        .await
        .unwrap();
    client.recv_until_terminal(&id).await.unwrap();
    let _ = login(&server, &server.token).await;
    let _ = login(&server, "a-wrong-token").await;
    client
        .send(json!({"type": "abort-session", "sessionId": id}))
        .await
        .unwrap();
    client.recv().await.unwrap();
    drop(client);
    // Stop it (so everything is flushed to the log) before its data dir goes away.
    let mut server = server;
    server.stop_with(libc::SIGTERM).unwrap();
    let token = server.token.clone();
    let log = std::fs::read_to_string(server.log_path()).unwrap();
    assert!(!log.is_empty(), "debug logging produced nothing to check");
    for secret in [token.as_str(), api_key, "sk-or-secret-key-9876543210"] {
        assert!(!log.contains(secret), "a secret reached the log");
    }
}

#[tokio::test]
async fn agents_do_not_inherit_the_servers_token() {
    // The fixture echoes its prompt; the token must not be in the agent's environment.
    let server = server();
    let mut client = server.client().await.unwrap();
    let (id, _) = start_session(&mut client, "hang", server.project_path())
        .await
        .unwrap();
    client
        .recv_until(|f| f["event"]["kind"] == "native-session")
        .await
        .unwrap();
    let needle = format!("SWITCHBOARD_TOKEN={}", server.token);
    let leaked = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| Some(*pid) != server.pid())
        .any(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .map(|env| env.split(|b| *b == 0).any(|v| v == needle.as_bytes()))
                .unwrap_or(false)
        });
    assert!(!leaked, "an agent process carries SWITCHBOARD_TOKEN");
    client
        .send(json!({"type": "abort-session", "sessionId": id}))
        .await
        .unwrap();
    client.recv_until_terminal(&id).await.unwrap();
}

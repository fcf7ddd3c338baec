//! The project registry over REST (`/api/projects`) on the real binary: authentication,
//! add (canonical paths, unique projectName, idempotent), rename, remove (refused while a run
//! is live), persistence across a restart, typed errors, and the confinement of commands to
//! registered projects (a symlinked project, `..`, a sibling with a shared prefix).

mod api_common;
mod common;

use std::path::Path;

use api_common::*;
use common::*;
use serde_json::{json, Value};

fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn canonical(p: &Path) -> String {
    path_str(&std::fs::canonicalize(p).unwrap())
}

#[tokio::test]
async fn every_route_needs_the_token() {
    let server = server();
    let anonymous = Api::without_token(&server);
    for (method, path) in [
        ("GET", "/api/projects"),
        ("POST", "/api/projects"),
        (
            "PATCH",
            "/api/projects/0b7e1f9a-3c5d-4e2f-8a1b-9c0d2e3f4a5b",
        ),
        (
            "DELETE",
            "/api/projects/0b7e1f9a-3c5d-4e2f-8a1b-9c0d2e3f4a5b",
        ),
        ("GET", "/api/projects/discovered"),
        ("GET", "/api/sessions"),
        (
            "GET",
            "/api/sessions/0b7e1f9a-3c5d-4e2f-8a1b-9c0d2e3f4a5b/events",
        ),
        ("GET", "/api/nothing-here"),
    ] {
        let response = anonymous.raw(method, path, Some(b"{}")).await;
        assert_eq!(response.status, 401, "{method} {path}");
    }
    let wrong = Api {
        token: Some("not-the-token".into()),
        ..Api::of(&server)
    };
    assert_eq!(wrong.get("/api/projects").await.0, 401);
    assert_eq!(Api::of(&server).get("/api/projects").await.0, 200);
}

#[tokio::test]
async fn add_list_rename_and_restart() {
    let mut server = server();
    let api = Api::of(&server);
    let listed = api.ok("/api/projects").await;
    let projects = listed["projects"].as_array().unwrap();
    assert_eq!(projects.len(), 1, "the start-up project: {listed}");
    assert_eq!(projects[0]["path"], canonical(server.project_path()));
    assert_eq!(
        projects[0]["projectName"],
        switchboard_protocol::project::encode_project_path(&canonical(server.project_path()))
    );

    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("my_app.v2");
    std::fs::create_dir(&app).unwrap();
    std::os::unix::fs::symlink(&app, dir.path().join("via-link")).unwrap();

    let (status, created) = api
        .post("/api/projects", json!({"path": path_str(&app)}))
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["path"], canonical(&app));
    assert_eq!(created["displayName"], "my_app.v2");
    let seed_name = switchboard_protocol::project::encode_project_path(&canonical(&app));
    assert!(seed_name.ends_with("-my-app-v2"), "{seed_name}");
    assert_eq!(created["projectName"], seed_name);
    let location = api
        .raw(
            "POST",
            "/api/projects",
            Some(json!({"path": path_str(&app)}).to_string().as_bytes()),
        )
        .await;
    assert_eq!(location.status, 200, "registering again is not an error");
    assert_eq!(location.json().unwrap()["id"], id.as_str());

    // The same directory through a symlink and through `..` is the same project.
    for alias in [
        dir.path().join("via-link"),
        app.join("..").join("my_app.v2"),
    ] {
        let (status, again) = api
            .post("/api/projects", json!({"path": path_str(&alias)}))
            .await;
        assert_eq!(
            (status, &again["id"]),
            (200, &json!(id)),
            "{}",
            alias.display()
        );
    }

    // A different path with the same seed encoding gets a unique projectName.
    let twin = dir.path().join("my.app_v2");
    std::fs::create_dir(&twin).unwrap();
    let (status, other) = api
        .post(
            "/api/projects",
            json!({"path": path_str(&twin), "displayName": "Twin"}),
        )
        .await;
    assert_eq!(status, 201, "{other}");
    assert_eq!(other["displayName"], "Twin");
    assert_eq!(other["projectName"], format!("{seed_name}-2"));

    let (status, renamed) = api
        .patch(
            &format!("/api/projects/{id}"),
            json!({"displayName": "  The App  "}),
        )
        .await;
    assert_eq!(status, 200, "{renamed}");
    assert_eq!(renamed["displayName"], "The App");
    assert_eq!(
        renamed["projectName"], seed_name,
        "renaming keeps projectName"
    );
    assert_eq!(
        api.ok(&format!("/api/projects/{id}")).await["displayName"],
        "The App"
    );

    server.restart().unwrap();
    let api = Api::of(&server);
    let after: Vec<Value> = api.ok("/api/projects").await["projects"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(after.len(), 3, "{after:?}");
    let app_after = after.iter().find(|p| p["id"] == id.as_str()).unwrap();
    assert_eq!(app_after["displayName"], "The App");
    assert_eq!(app_after["projectName"], seed_name);
}

#[tokio::test]
async fn refusals_are_typed() {
    let server = server();
    let api = Api::of(&server);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("file"), "x").unwrap();
    let post = |body: &'static str| {
        let api = &api;
        async move {
            let r = api
                .raw("POST", "/api/projects", Some(body.as_bytes()))
                .await;
            (r.status, r.json().unwrap_or(Value::Null))
        }
    };
    assert_error(&post("{not json").await, 400, "bad-json");
    assert_error(&post("").await, 400, "bad-json");
    assert_error(&post("[]").await, 400, "invalid-field");
    assert_error(&post(r#"{"displayName":"x"}"#).await, 400, "invalid-field");
    assert_error(
        &post(r#"{"path":"relative/dir"}"#).await,
        400,
        "invalid-field",
    );
    assert_error(&post(r#"{"path":"/"}"#).await, 400, "invalid-field");
    assert_error(
        &post(r#"{"path":"/nonexistent/switchboard/dir"}"#).await,
        400,
        "invalid-field",
    );
    assert_error(
        &api.post(
            "/api/projects",
            json!({"path": path_str(&dir.path().join("file"))}),
        )
        .await,
        400,
        "invalid-field",
    );
    assert_error(
        &api.post(
            "/api/projects",
            json!({"path": path_str(dir.path()), "extra": 1}),
        )
        .await,
        400,
        "invalid-field",
    );
    assert_error(
        &api.post(
            "/api/projects",
            json!({"path": path_str(dir.path()), "displayName": "a\u{7}b"}),
        )
        .await,
        400,
        "invalid-field",
    );

    let unknown = "/api/projects/0b7e1f9a-3c5d-4e2f-8a1b-9c0d2e3f4a5b";
    assert_error(&api.get(unknown).await, 404, "unknown-project");
    assert_error(
        &api.patch(unknown, json!({"displayName": "x"})).await,
        404,
        "unknown-project",
    );
    assert_error(&api.delete(unknown).await, 404, "unknown-project");
    for bad in [
        "abc",
        "..",
        "%2e%2e%2fetc",
        "0B7E1F9A-3C5D-4E2F-8A1B-9C0D2E3F4A5B",
    ] {
        assert_error(
            &api.get(&format!("/api/projects/{bad}")).await,
            400,
            "invalid-field",
        );
        assert_error(
            &api.delete(&format!("/api/projects/{bad}")).await,
            400,
            "invalid-field",
        );
    }
    let id = api.ok("/api/projects").await["projects"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_error(
        &api.patch(&format!("/api/projects/{id}"), json!({"displayName": ""}))
            .await,
        400,
        "invalid-field",
    );
    assert_error(
        &api.patch(&format!("/api/projects/{id}"), json!({"name": "x"}))
            .await,
        400,
        "invalid-field",
    );
    assert_error(
        &api.call("PUT", "/api/projects", Some(json!({}))).await,
        405,
        "method-not-allowed",
    );
    assert_error(&api.get("/api/no-such-route").await, 404, "not-found");
    assert_error(
        &api.call("POST", "/api/no/such/route", Some(json!({})))
            .await,
        404,
        "not-found",
    );
}

#[tokio::test]
async fn removal_waits_for_running_sessions_and_keeps_history() {
    let server = server();
    let api = Api::of(&server);
    let dir = tempfile::tempdir().unwrap();
    let proj = dir.path().join("proj");
    std::fs::create_dir(&proj).unwrap();
    let (status, project) = api
        .post("/api/projects", json!({"path": path_str(&proj)}))
        .await;
    assert_eq!(status, 201);
    let id = project["id"].as_str().unwrap().to_owned();

    let mut client = server.client().await.unwrap();
    let (session, _) = start_session(&mut client, "hang", &proj).await.unwrap();
    let busy = api.delete(&format!("/api/projects/{id}")).await;
    assert_error(&busy, 409, "project-busy");
    assert!(
        busy.1["message"].as_str().unwrap().contains(&session),
        "the refusal names the running session: {}",
        busy.1
    );
    assert_eq!(
        api.ok("/api/projects").await["projects"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "still registered"
    );

    client
        .send(json!({"type": "abort-session", "sessionId": session}))
        .await
        .unwrap();
    client.recv_until_terminal(&session).await.unwrap();
    let (status, removed) = api.delete(&format!("/api/projects/{id}")).await;
    assert_eq!(status, 200, "{removed}");
    assert_eq!(removed["id"], id.as_str());
    assert_error(
        &api.delete(&format!("/api/projects/{id}")).await,
        404,
        "unknown-project",
    );

    // Commands there are refused now; its history is still there.
    client.send(cursor("lines=1", &proj)).await.unwrap();
    let refused = client.recv().await.unwrap();
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["code"], "project-not-registered");
    let history = api.ok(&format!("/api/sessions?project={id}")).await;
    assert_eq!(history["sessions"][0]["sessionId"], session.as_str());
    assert_eq!(history["sessions"][0]["state"], "aborted");

    // Registering it again brings the same id back.
    let (status, again) = api
        .post("/api/projects", json!({"path": path_str(&proj)}))
        .await;
    assert_eq!(status, 201, "{again}");
    assert_eq!(again["id"], id.as_str());
    assert_eq!(again["projectName"], project["projectName"]);
    let (id2, _) = start_session(&mut client, "lines=1", &proj).await.unwrap();
    client.recv_until_terminal(&id2).await.unwrap();
}

/// Sends a command and returns the error code it got (or "accepted").
async fn outcome(client: &mut switchboard_testkit::WsClient, options: Value) -> String {
    client
        .send(json!({"type": "cursor-command", "command": "lines=1", "options": options}))
        .await
        .unwrap();
    let frames = client
        .recv_until(|f| f["type"] == "session-accepted" || f["type"] == "error")
        .await
        .unwrap();
    let last = frames.last().unwrap();
    if last["type"] == "session-accepted" {
        let id = last["sessionId"].as_str().unwrap().to_owned();
        client.recv_until_terminal(&id).await.unwrap();
        "accepted".into()
    } else {
        last["code"].as_str().unwrap().to_owned()
    }
}

#[tokio::test]
async fn commands_are_confined_to_registered_projects() {
    let server = server();
    let api = Api::of(&server);
    let dir = tempfile::tempdir().unwrap();
    let base = std::fs::canonicalize(dir.path()).unwrap();
    let proj = base.join("proj");
    let sibling = base.join("proj2");
    let outside = base.join("outside");
    for d in [&proj.join("sub"), &sibling, &outside] {
        std::fs::create_dir_all(d).unwrap();
    }
    // A project registered through a symlink is its target.
    let link_to_proj = base.join("link-to-proj");
    std::os::unix::fs::symlink(&proj, &link_to_proj).unwrap();
    // A symlink inside the project that points out of it.
    std::os::unix::fs::symlink(&outside, proj.join("escape")).unwrap();
    let (status, project) = api
        .post("/api/projects", json!({"path": path_str(&link_to_proj)}))
        .await;
    assert_eq!(status, 201);
    assert_eq!(project["path"], path_str(&proj));

    let mut client = server.client().await.unwrap();
    let p = |x: &Path| path_str(x);
    assert_eq!(
        outcome(&mut client, json!({"projectPath": p(&proj)})).await,
        "accepted"
    );
    assert_eq!(
        outcome(&mut client, json!({"projectPath": p(&link_to_proj)})).await,
        "accepted",
        "the symlink resolves into the project"
    );
    assert_eq!(
        outcome(
            &mut client,
            json!({"projectPath": p(&proj), "cwd": p(&proj.join("sub"))})
        )
        .await,
        "accepted"
    );
    for (what, options) in [
        (
            "a sibling with a shared prefix",
            json!({"projectPath": p(&sibling)}),
        ),
        (
            "a cwd in the sibling",
            json!({"projectPath": p(&proj), "cwd": p(&sibling)}),
        ),
        (
            "a symlink out of the project",
            json!({"projectPath": p(&proj), "cwd": p(&proj.join("escape"))}),
        ),
        (
            "`..` out of the project",
            json!({"projectPath": format!("{}/sub/../../outside", p(&proj))}),
        ),
        (
            "`..` into the sibling",
            json!({"projectPath": p(&proj), "cwd": format!("{}/../proj2", p(&proj))}),
        ),
    ] {
        assert_eq!(
            outcome(&mut client, options).await,
            "project-not-registered",
            "{what}"
        );
    }
}

#[tokio::test]
async fn allow_any_project_lets_commands_run_outside_registered_projects() {
    let server = server_with("allow_any_project = true\n", &[]);
    let api = Api::of(&server);
    let dir = tempfile::tempdir().unwrap();
    let loose = std::fs::canonicalize(dir.path())
        .unwrap()
        .join("loose_dir.x");
    std::fs::create_dir(&loose).unwrap();
    let mut client = server.client().await.unwrap();
    let (id, _) = start_session(&mut client, "lines=1", &loose).await.unwrap();
    let frames = client.recv_until_terminal(&id).await.unwrap();
    let created = frames
        .iter()
        .find(|f| f["type"] == "session-created")
        .unwrap();
    assert_eq!(
        created["projectName"],
        switchboard_protocol::project::encode_project_path(&path_str(&loose))
    );
    assert!(created.get("projectId").is_none(), "{created}");
    let listed = api.ok("/api/sessions").await;
    assert!(listed["sessions"][0]["projectId"].is_null());
    assert_eq!(
        api.ok("/api/projects").await["projects"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "nothing was registered"
    );
}

//! `switchboard project add|list|rename|remove` (the client logic in
//! `switchboard_server::cli::project`), parsed with clap as the binary parses it, against the
//! real server's REST API, and `--offline` against the database of a stopped server.

mod api_common;
mod common;

use api_common::*;
use clap::Parser;
use common::*;
use switchboard_server::cli::project::{run, CliError, ProjectArgs};

/// How `main.rs` nests the arguments: `switchboard project …`.
#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Top,
}

#[derive(clap::Subcommand)]
enum Top {
    Project(ProjectArgs),
}

async fn project(args: &[&str]) -> Result<(), CliError> {
    let mut argv = vec!["switchboard", "project"];
    argv.extend_from_slice(args);
    let Top::Project(args) = Cli::try_parse_from(argv).expect("valid arguments").command;
    run(args).await
}

#[tokio::test]
async fn add_list_rename_remove_through_the_running_server() {
    let server = server();
    let api = Api::of(&server);
    let addr = server.addr.to_string();
    let data = server.data_dir.path().to_string_lossy().into_owned();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("cli proj");
    std::fs::create_dir(&target).unwrap();
    let target_s = target.to_string_lossy().into_owned();
    let common_args = ["--server", addr.as_str(), "--token", server.token.as_str()];

    let with = |extra: &[&str]| {
        let mut v: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        v.extend(common_args.iter().map(|s| s.to_string()));
        v
    };
    let call = |v: Vec<String>| async move {
        let refs: Vec<&str> = v.iter().map(String::as_str).collect();
        project(&refs).await
    };

    call(with(&["add", &target_s, "--name", "From CLI"]))
        .await
        .unwrap();
    let listed = api.ok("/api/projects").await;
    let added = listed["projects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["displayName"] == "From CLI")
        .unwrap()
        .clone();
    assert_eq!(
        added["path"],
        std::fs::canonicalize(&target)
            .unwrap()
            .to_string_lossy()
            .as_ref()
    );
    call(with(&["list", "--json"])).await.unwrap();
    call(with(&["rename", &target_s, "Renamed"])).await.unwrap();
    assert_eq!(
        api.ok(&format!("/api/projects/{}", added["id"].as_str().unwrap()))
            .await["displayName"],
        "Renamed"
    );
    // Refusals come back as the API's {code, message}.
    match call(with(&["add", "/nonexistent/dir/for/cli"])).await {
        Err(CliError::Api(e)) => assert_eq!(e.code.as_str(), "invalid-field"),
        other => panic!("{other:?}"),
    }
    match call(with(&["remove", "0b7e1f9a-3c5d-4e2f-8a1b-9c0d2e3f4a5b"])).await {
        Err(CliError::Api(e)) => assert_eq!(e.code.as_str(), "unknown-project"),
        other => panic!("{other:?}"),
    }
    // The token can also come from the data dir's token file, via --data-dir.
    std::fs::write(server.data_dir.path().join("token"), &server.token).unwrap();
    project(&["list", "--server", &addr, "--data-dir", &data])
        .await
        .unwrap();
    match project(&["list", "--server", &addr, "--token", "wrong"]).await {
        Err(CliError::Usage(m)) => assert!(m.contains("401"), "{m}"),
        other => panic!("{other:?}"),
    }
    // --offline is refused while the server answers.
    match project(&["list", "--offline", "--server", &addr, "--data-dir", &data]).await {
        Err(CliError::Usage(m)) => assert!(m.contains("stop it first"), "{m}"),
        other => panic!("{other:?}"),
    }
    call(with(&["remove", &target_s])).await.unwrap();
    assert_eq!(
        api.ok("/api/projects").await["projects"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn offline_edits_the_database_of_a_stopped_server() {
    let mut server = server();
    let data = server.data_dir.path().to_string_lossy().into_owned();
    let addr = server.addr.to_string();
    server.stop_with(libc::SIGTERM).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let target_s = dir.path().to_string_lossy().into_owned();
    let offline = |extra: &[&str]| {
        let mut v: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        v.extend(
            [
                "--offline",
                "--server",
                addr.as_str(),
                "--data-dir",
                data.as_str(),
            ]
            .iter()
            .map(|s| s.to_string()),
        );
        v
    };
    let call = |v: Vec<String>| async move {
        let refs: Vec<&str> = v.iter().map(String::as_str).collect();
        project(&refs).await
    };
    call(offline(&["add", &target_s, "--name", "Offline"]))
        .await
        .unwrap();
    call(offline(&["list"])).await.unwrap();
    server.restart().unwrap();
    let api = Api::of(&server);
    let listed = api.ok("/api/projects").await;
    let found = listed["projects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["displayName"] == "Offline")
        .cloned()
        .unwrap_or_else(|| panic!("{listed}"));
    // And the server runs agents there now.
    let mut client = server.client().await.unwrap();
    let path = std::path::PathBuf::from(found["path"].as_str().unwrap());
    let (id, _) = start_session(&mut client, "lines=1", &path).await.unwrap();
    client.recv_until_terminal(&id).await.unwrap();
}

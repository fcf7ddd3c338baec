//! Pins Claude Code's project folder name (`~/.claude/projects/<slug>`) to the real CLI: the
//! real `claude` runs one turn against the test kit's scripted model API, in directories with
//! awkward names and in one longer than 200 characters, and the folder it creates must be
//! exactly `switchboard_protocol::project::claude_project_slug` of its (resolved) cwd.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use switchboard_protocol::project::claude_project_slug;
use switchboard_testkit::model_server::{ModelServer, Reply, Script};
use switchboard_testkit::real_clis::{real_cli, RealCliHome};

/// Runs one `claude -p` turn in `cwd` with a private HOME and returns the folder names under
/// `~/.claude/projects` afterwards.
async fn folders_after_one_turn(cwd: &Path) -> Vec<String> {
    let model = ModelServer::start(Script::new().then(Reply::text("ok")))
        .await
        .unwrap();
    let home = RealCliHome::new("switchboard-slug-", &model.url()).unwrap();
    let mut child = tokio::process::Command::new(real_cli("claude"))
        .args([
            "-p",
            "say ok",
            "--output-format",
            "stream-json",
            "--verbose",
            "--model",
            "claude-sonnet-4-5",
        ])
        .current_dir(cwd)
        .envs(home.env())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(120), child.wait())
        .await
        .expect("claude finishes its turn")
        .unwrap();
    assert!(status.success(), "claude exited with {status}");
    let mut names: Vec<String> = std::fs::read_dir(home.path().join(".claude/projects"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn real_claude_names_its_project_folder_with_our_slug() {
    let base = tempfile::Builder::new()
        .prefix("slug-base")
        .tempdir_in("/var/tmp")
        .unwrap();
    // Every character class the rule cares about, in one name.
    let awkward = base.path().join("my proj.v2_x(1)+y@z~é,#!'日本");
    // Longer than 200 characters once resolved, with dots and underscores in it too.
    let long = base
        .path()
        .join(format!("deep_{}.d", "a".repeat(90)))
        .join(format!("more {}", "b".repeat(90)))
        .join("c-".repeat(20));
    for cwd in [&awkward, &long] {
        std::fs::create_dir_all(cwd).unwrap();
        let resolved = std::fs::canonicalize(cwd).unwrap();
        let expected = claude_project_slug(&resolved.to_string_lossy());
        let folders = folders_after_one_turn(&resolved).await;
        assert!(
            folders.contains(&expected),
            "claude made {folders:?}, we expected {expected:?} for {}",
            resolved.display()
        );
    }
    let long_resolved = std::fs::canonicalize(&long).unwrap();
    assert!(long_resolved.to_string_lossy().len() > 200);
    assert!(claude_project_slug(&long_resolved.to_string_lossy()).len() > 201);
}

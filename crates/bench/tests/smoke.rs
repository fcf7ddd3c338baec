//! The benchmark suite in CI: a quick run of a few thousand frames through the real server
//! (debug build), asserting that nothing is lost. It never asserts a timing.

use std::path::PathBuf;
use std::process::Command;

/// `target/<profile>/<name>` of this test build, built first (a no-op when fresh): the
/// server is another crate's binary, so cargo does not hand its path to this test.
fn workspace_bin(package: &str, name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows its own path");
    let profile_dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("test binaries live in target/<profile>/deps");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build.args(["build", "-p", package, "--bin", name]);
    if profile_dir.file_name().is_some_and(|p| p == "release") {
        build.arg("--release");
    }
    let status = build.status().expect("cargo runs");
    assert!(status.success(), "building {name} failed");
    profile_dir.join(name)
}

#[test]
fn the_bench_relays_a_few_thousand_frames_without_loss() {
    let server = workspace_bin("switchboard-server", "switchboard");
    let fixture = workspace_bin("switchboard-testkit", "fake-cursor-agent");
    let output = Command::new(env!("CARGO_BIN_EXE_switchboard-bench"))
        .arg("--smoke")
        .arg("3000")
        .arg("--server")
        .arg(&server)
        .arg("--fixture")
        .arg(&fixture)
        .output()
        .expect("the bench runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the smoke run failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("0 frames lost"), "{stdout}");
}

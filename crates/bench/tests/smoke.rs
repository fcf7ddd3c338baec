//! The benchmark suite in CI: a quick run of a few thousand frames through the real server
//! (debug build), asserting that nothing is lost. It never asserts a timing.

use std::process::Command;

use switchboard_testkit::fixtures::{fake_cursor_agent, workspace_bin};

#[test]
fn the_bench_relays_a_few_thousand_frames_without_loss() {
    let server = workspace_bin("switchboard-server", "switchboard");
    let fixture = fake_cursor_agent();
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

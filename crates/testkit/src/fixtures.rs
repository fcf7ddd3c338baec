//! Paths of the fixture CLIs built from `src/bin`.

use std::path::PathBuf;
use std::process::Command;

/// The path of a binary of this crate, building it if a test run did not (as happens with
/// `cargo test -p <another crate>`).
pub fn fixture_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows its own path");
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let profile_dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("test binaries live in target/<profile>/deps");
    let path = profile_dir.join(name);
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build.args(["build", "-p", "switchboard-testkit", "--bin", name]);
        if profile_dir.file_name().is_some_and(|p| p == "release") {
            build.arg("--release");
        }
        let status = build.status().expect("cargo runs");
        assert!(status.success(), "building the fixture {name} failed");
    }
    path
}

pub fn fake_cursor_agent() -> PathBuf {
    fixture_bin("fake-cursor-agent")
}

pub fn fake_nano_claude_code() -> PathBuf {
    fixture_bin("fake-nano-claude-code")
}

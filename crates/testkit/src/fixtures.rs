//! Paths of the fixture CLIs built from `src/bin`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `target/<profile>` of the running test binary (which lives in `target/<profile>/deps`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows its own path");
    exe.parent()
        .and_then(|d| d.parent())
        .expect("test binaries live in target/<profile>/deps")
        .to_owned()
}

fn cargo_build(package: &str, name: &str, profile_dir: &Path) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build.args(["build", "-p", package, "--bin", name]);
    if profile_dir.file_name().is_some_and(|p| p == "release") {
        build.arg("--release");
    }
    let status = build.status().expect("cargo runs");
    assert!(status.success(), "building {name} failed");
}

/// The path of a binary of this crate, building it if a test run did not (as happens with
/// `cargo test -p <another crate>`).
pub fn fixture_bin(name: &str) -> PathBuf {
    let profile_dir = profile_dir();
    let path = profile_dir.join(name);
    if !path.exists() {
        cargo_build("switchboard-testkit", name, &profile_dir);
    }
    path
}

/// The path of another workspace package's binary (such as the `switchboard` server), built
/// first so it is fresh (a no-op when it is): cargo hands a test only its own package's
/// binaries.
pub fn workspace_bin(package: &str, name: &str) -> PathBuf {
    let profile_dir = profile_dir();
    cargo_build(package, name, &profile_dir);
    profile_dir.join(name)
}

pub fn fake_cursor_agent() -> PathBuf {
    fixture_bin("fake-cursor-agent")
}

pub fn fake_nano_claude_code() -> PathBuf {
    fixture_bin("fake-nano-claude-code")
}

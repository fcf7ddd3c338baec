#!/usr/bin/env bash
# Runs every test of the workspace. This is the README's test command, and CI's.
# It installs what the tests need first (nothing beyond Rust yet: the fixture agent CLIs are
# built from this repository).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --workspace --all-targets --locked
cargo test --workspace --locked -- --test-threads="${SWITCHBOARD_TEST_THREADS:-4}"

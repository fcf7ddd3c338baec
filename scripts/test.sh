#!/usr/bin/env bash
# Runs every test of the workspace. This is the README's test command, and CI's.
# It installs what the tests need first: the real agent CLIs from npm (pinned by a lock file);
# the fixture CLIs for cursor and nano are built from this repository.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-agent-clis.sh
# The web app's libraries (pinned by web/package-lock.json) go into web/vendor before cargo
# builds the server, which embeds them.
scripts/build-web.sh

cargo build --workspace --all-targets --locked
cargo test --workspace --locked -- --test-threads="${SWITCHBOARD_TEST_THREADS:-4}"

# The web app end to end in headless Chromium (tests/browser), against the debug binaries
# built above.
scripts/test-browser.sh

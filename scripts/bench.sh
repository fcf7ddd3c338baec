#!/usr/bin/env bash
# Builds the release binaries and runs the relay benchmarks (loopback only, bounded).
# Usage: scripts/bench.sh [--lines N] [--runs R] [--subscribers 1,10]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p switchboard-server -p switchboard-testkit -p switchboard-bench
ulimit -n 65536 2>/dev/null || true
exec target/release/switchboard-bench "$@"

#!/usr/bin/env bash
# Builds the release binaries, runs the benchmark suite (loopback only, bounded) and writes the
# tables into docs/performance.md between its bench markers.
# Usage: scripts/bench.sh [--scenarios 1,2,3,4,5,6] [--runs R] [--lines N] … (see --help)
# With --scenarios or other narrowing flags the docs are still updated with what ran; pass
# --no-docs to only print.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p switchboard-server -p switchboard-testkit -p switchboard-bench
# Scenario 2 holds 1,000 sessions × 2 subscribers: about 2,000 sockets on each side plus three
# pipes per agent. Raise the soft limit as far as the hard limit allows.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || ulimit -n 65536 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 8192 ]; then
    echo "warning: open-file limit $(ulimit -n); scenario 2 needs about 8192" >&2
fi
docs=(--docs docs/performance.md)
args=()
for arg in "$@"; do
    if [ "$arg" = --no-docs ]; then docs=(); else args+=("$arg"); fi
done
exec target/release/switchboard-bench "${docs[@]}" "${args[@]}"

#!/usr/bin/env bash
# Installs the real agent CLIs (claude, codex, gemini) that the end-to-end tests drive, into
# tools/agent-clis/node_modules, at the versions pinned in tools/agent-clis/package-lock.json.
#
# It always runs, and it is cheap when nothing changed: the install is redone only when the
# lock file changed since the last install or a CLI does not answer `--version`.
set -euo pipefail
source "$(dirname "$0")/lib/npm.sh"
cd "$(dirname "$0")/../tools/agent-clis"
npm_ready install-agent-clis

healthy() {
    npm_lock_installed &&
        node_modules/.bin/claude --version >/dev/null 2>&1 &&
        node_modules/.bin/codex --version >/dev/null 2>&1 &&
        [ -x node_modules/.bin/gemini ]
}

if healthy; then
    echo "install-agent-clis: up to date ($(node_modules/.bin/claude --version), $(node_modules/.bin/codex --version))"
    exit 0
fi
echo "install-agent-clis: installing from package-lock.json" >&2
npm ci --no-audit --no-fund --loglevel=error
npm_lock_hash > "$npm_lock_stamp"
healthy || { echo "install-agent-clis: the CLIs do not run after install" >&2; exit 1; }
echo "install-agent-clis: installed ($(node_modules/.bin/claude --version), $(node_modules/.bin/codex --version))"

#!/usr/bin/env bash
# Installs the real agent CLIs (claude, codex, gemini) that the end-to-end tests drive, into
# tools/agent-clis/node_modules, at the versions pinned in tools/agent-clis/package-lock.json.
#
# It always runs, and it is cheap when nothing changed: the install is redone only when the
# lock file changed since the last install or a CLI does not answer `--version`.
set -euo pipefail
cd "$(dirname "$0")/../tools/agent-clis"

if ! command -v npm >/dev/null 2>&1; then
    echo "install-agent-clis: npm is missing; installing Node.js and npm from Debian's packages" >&2
    apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
fi

stamp=node_modules/.switchboard-lock-sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
healthy() {
    [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] &&
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
echo "$want" > "$stamp"
healthy || { echo "install-agent-clis: the CLIs do not run after install" >&2; exit 1; }
echo "install-agent-clis: installed ($(node_modules/.bin/claude --version), $(node_modules/.bin/codex --version))"

#!/usr/bin/env bash
# Runs the web app's end-to-end tests (tests/browser) in Debian's headless Chromium, driven by
# playwright-core at the version pinned in tests/browser/package-lock.json. It expects the
# debug binaries (switchboard, fake-cursor-agent, fake-nano-claude-code,
# scripted-model-server) to be built, as scripts/test.sh does before calling it, and the real
# claude CLI from scripts/install-agent-clis.sh (for permission prompts).
#
# Chromium comes from Debian's packages (installed here when missing; CI runs as root);
# Playwright never downloads a browser of its own. Screenshots go to target/browser-artifacts.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x /usr/bin/chromium ]; then
    echo "test-browser: installing Debian's chromium" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

source scripts/lib/npm.sh
cd tests/browser
npm_ci_if_lock_changed test-browser

# Each test has its own timeout (node --test-timeout); this bounds the whole run, so a wedged
# browser can never hang CI. The harness ends the server and its agents on the way out.
timeout --kill-after=10 600 node --test --test-concurrency=1 --test-timeout=120000 e2e.test.mjs

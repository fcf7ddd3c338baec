#!/usr/bin/env bash
# Prepares the web app's third-party libraries: installs them from npm at the versions pinned
# in web/package-lock.json (into web/node_modules), and copies the browser builds the app
# imports into web/vendor (gitignored). The server's build.rs embeds web/src and web/vendor
# into the binary, so run this before `cargo build` (scripts/test.sh and the README's serve
# command do). Cheap when nothing changed: npm runs only when the lock file changed, and files
# are copied only when they differ (an unchanged web/vendor does not rebuild the server).
set -euo pipefail
source "$(dirname "$0")/lib/npm.sh"
cd "$(dirname "$0")/../web"
npm_ci_if_lock_changed build-web

mkdir -p vendor
copy() {
    if ! cmp -s "$1" "vendor/$2"; then
        cp "$1" "vendor/$2"
    fi
}
copy node_modules/marked/lib/marked.esm.js marked.esm.js
copy node_modules/marked/LICENSE marked.LICENSE.txt
copy node_modules/dompurify/dist/purify.es.mjs purify.es.mjs
copy node_modules/dompurify/LICENSE purify.LICENSE.txt
echo "build-web: web/vendor is ready (marked $(node -p 'require("./node_modules/marked/package.json").version'), DOMPurify $(node -p 'require("./node_modules/dompurify/package.json").version'))"

#!/usr/bin/env bash
# Prepares the web app's third-party libraries: installs them from npm at the versions pinned
# in web/package-lock.json (into web/node_modules), and copies the browser builds the app
# imports into web/vendor (gitignored). The server's build.rs embeds web/src and web/vendor
# into the binary, so run this before `cargo build` (scripts/test.sh and the README's serve
# command do). Cheap when nothing changed: npm runs only when the lock file changed, and files
# are copied only when they differ (an unchanged web/vendor does not rebuild the server).
set -euo pipefail
cd "$(dirname "$0")/../web"

if ! command -v npm >/dev/null 2>&1; then
    echo "build-web: npm is missing; installing Node.js and npm from Debian's packages" >&2
    apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
fi

stamp=node_modules/.switchboard-lock-sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "build-web: installing the web libraries from package-lock.json" >&2
    npm ci --no-audit --no-fund --loglevel=error
    echo "$want" > "$stamp"
fi

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

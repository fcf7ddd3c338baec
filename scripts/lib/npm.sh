# Shared by the scripts that install npm packages from a lock file (sourced, not run).
#
# npm_ready NAME: makes sure npm exists (from Debian's packages when missing; CI runs as root).
# npm_ci_if_lock_changed NAME: in the current directory, runs `npm ci` only when
# package-lock.json changed since the last install, which a stamp in node_modules records.
# NAME prefixes the messages.

npm_ready() {
    if ! command -v npm >/dev/null 2>&1; then
        echo "$1: npm is missing; installing Node.js and npm from Debian's packages" >&2
        apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
    fi
}

npm_lock_stamp=node_modules/.switchboard-lock-sha256

npm_lock_hash() {
    sha256sum package-lock.json | cut -d' ' -f1
}

npm_lock_installed() {
    [ "$(cat "$npm_lock_stamp" 2>/dev/null)" = "$(npm_lock_hash)" ]
}

npm_ci_if_lock_changed() {
    npm_ready "$1"
    if ! npm_lock_installed; then
        echo "$1: installing from package-lock.json" >&2
        npm ci --no-audit --no-fund --loglevel=error
        npm_lock_hash > "$npm_lock_stamp"
    fi
}

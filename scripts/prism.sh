#!/usr/bin/env bash
# Start a Prism mock server (@stoplight/prism-cli) for an OpenAPI document on
# loopback, with request validation on: a request the document does not
# allow is answered 422 (`--errors`), and Prism names what was wrong in the
# `sl-violations` header.  Prism itself is installed with npm into a cache
# directory the first time (pinned version), then reused.
#
#   scripts/prism.sh PORT SPEC     start `prism mock` for SPEC on 127.0.0.1:PORT
#   scripts/prism.sh --install     only install (or check) the cached Prism
#
#   PRISM_HOME           cache directory (default /var/cache/crossdock/prism)
#   PRISM_LOG            server log (default /tmp/crossdock-prism-PORT.log)
#   PRISM_START_TIMEOUT  seconds to wait for the port to answer (default 60)
#
# stdout: only the server's PID, as the last and only line; stop it with
# `kill PID`.  Progress and errors go to stderr.  Needs node and npm.
set -euo pipefail

PRISM_VERSION=5.16.0
PRISM_HOME=${PRISM_HOME:-/var/cache/crossdock/prism}
START_TIMEOUT=${PRISM_START_TIMEOUT:-60}

now_ms() { date +%s%3N; }
elapsed() {
    local ms=$(( $(now_ms) - $1 ))
    printf '%d.%ds' $((ms / 1000)) $((ms % 1000 / 100))
}
log() { printf '[prism:%s %s] %s\n' "${PORT:-install}" "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
START=$(now_ms)

usage() { die "usage: $0 PORT SPEC | $0 --install"; }
INSTALL_ONLY=0
case ${1:-} in
    --install) INSTALL_ONLY=1 ;;
    '') usage ;;
    *)
        [ $# -eq 2 ] || usage
        PORT=$1 SPEC=$2
        [[ $PORT =~ ^[0-9]+$ ]] || die "PORT must be a number"
        [ -r "$SPEC" ] || die "cannot read the OpenAPI document $SPEC"
        ;;
esac

command -v node >/dev/null || die "node not found (apt-get install nodejs npm)"
command -v npm >/dev/null || die "npm not found (apt-get install npm)"

# 1. Prism, pinned, in its cache directory.  A marker file names the version
# a finished install holds; a concurrent call waits on the lock.
PRISM_BIN=$PRISM_HOME/node_modules/.bin/prism
MARKER=$PRISM_HOME/.installed-$PRISM_VERSION
mkdir -p "$PRISM_HOME"
exec 9>"$PRISM_HOME/.lock"
flock 9
if [ ! -e "$MARKER" ] || [ ! -x "$PRISM_BIN" ]; then
    log "installing @stoplight/prism-cli@$PRISM_VERSION into $PRISM_HOME"
    rm -f "$PRISM_HOME"/.installed-*
    [ -s "$PRISM_HOME/package.json" ] ||
        printf '{"name":"crossdock-prism","private":true}\n' > "$PRISM_HOME/package.json"
    npm install --prefix "$PRISM_HOME" --no-audit --no-fund --no-progress \
        --loglevel=error --save-exact "@stoplight/prism-cli@$PRISM_VERSION" >&2 ||
        die "npm install of @stoplight/prism-cli@$PRISM_VERSION failed"
    [ -x "$PRISM_BIN" ] || die "npm install left no $PRISM_BIN"
    touch "$MARKER"
    log "installed in $(elapsed "$START")"
fi
flock -u 9
exec 9>&-
if [ "$INSTALL_ONLY" = 1 ]; then
    log "Prism $PRISM_VERSION ready at $PRISM_BIN"
    exit 0
fi

# 2. the port must be free: the readiness check would otherwise talk to
# whatever owns it.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }
port_open && die "port $PORT on 127.0.0.1 is already in use"

# 3. server.  Output goes to the log only, so `$(prism.sh …)` returns once
# the server is up.
PRISM_LOG=${PRISM_LOG:-/tmp/crossdock-prism-$PORT.log}
nohup "$PRISM_BIN" mock --host 127.0.0.1 --port "$PORT" --errors "$SPEC" \
    </dev/null >"$PRISM_LOG" 2>&1 &
pid=$!
log "prism pid $pid starting on 127.0.0.1:$PORT for $SPEC (log $PRISM_LOG)"

# 4. ready = the log says it listens and the port accepts connections.
deadline=$(( $(now_ms) + START_TIMEOUT * 1000 ))
while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
        log "ERROR: prism exited during start-up; last lines of $PRISM_LOG:"
        tail -n 25 "$PRISM_LOG" >&2 || true
        exit 1
    fi
    if grep -q 'Prism is listening' "$PRISM_LOG" 2>/dev/null && port_open; then
        break
    fi
    if [ "$(now_ms)" -ge "$deadline" ]; then
        log "ERROR: prism did not listen on 127.0.0.1:$PORT within ${START_TIMEOUT}s; last lines of $PRISM_LOG:"
        tail -n 25 "$PRISM_LOG" >&2 || true
        kill "$pid" 2>/dev/null || true
        exit 1
    fi
    sleep 0.2
done
log "ready in $(elapsed "$START")"
echo "$pid"

#!/usr/bin/env bash
# The `/v1` contract against a running hub: schemathesis (PyPI, pinned)
# reads the checked-in docs/openapi.json, starts from a demo hub with live
# orders, and sends what the document allows and what it does not, with
# every check it has: no 5xx, statuses, content types, headers and bodies
# as documented, invalid input refused, valid input accepted, methods the
# document does not list answered 405 with `Allow`, and the key ignored
# nowhere (`ignored_auth`: each operation again without the key, and with a
# wrong one, must answer 401). Any failure fails this script.
#
#   scripts/schemathesis.sh             install if needed, start a demo hub, run
#   scripts/schemathesis.sh --install   only install (or check) the cached venv
#
#   SCHEMATHESIS_HOME            venv cache (default /var/cache/crossdock/schemathesis)
#   SCHEMATHESIS_PYTHON          interpreter for the venv (default python3; needs >= 3.11)
#   CROSSDOCK_SCHEMATHESIS_EXAMPLES  test cases per operation and phase (default 30)
#   CROSSDOCK_SCHEMATHESIS_SEED      seed (default 1: the same cases every run)
#   CROSSDOCK_BIN                the hub binary (default: cargo build, then target/debug/crossdock)
#
# The run's report (JUnit, and a Python reproduction of each failure) is
# left in $CROSSDOCK_SCHEMATHESIS_REPORT (default target/schemathesis).
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=4.32.5
ST_HOME=${SCHEMATHESIS_HOME:-/var/cache/crossdock/schemathesis}
PYTHON=${SCHEMATHESIS_PYTHON:-python3}
EXAMPLES=${CROSSDOCK_SCHEMATHESIS_EXAMPLES:-30}
SEED=${CROSSDOCK_SCHEMATHESIS_SEED:-1}
REPORT=${CROSSDOCK_SCHEMATHESIS_REPORT:-${CARGO_TARGET_DIR:-target}/schemathesis}

log() { printf '[schemathesis %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# --- 1. the venv, once per version and interpreter --------------------------
command -v "$PYTHON" >/dev/null || die "$PYTHON not found"
PY_VERSION=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
    die "schemathesis $VERSION needs Python >= 3.11 (found $PY_VERSION)"
mkdir -p "$ST_HOME"
VENV=$ST_HOME/venv-$VERSION-py$PY_VERSION
exec 9>"$ST_HOME/.install.lock"
flock -w 900 9 || die "another install holds $ST_HOME/.install.lock"
if [ -f "$VENV/.installed" ]; then
    log "venv cached: $VENV"
else
    log "installing schemathesis $VERSION into $VENV"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$VERSION" >&2
    touch "$VENV/.installed"
fi
flock -u 9
[ "${1:-}" = --install ] && exit 0

# --- 2. a demo hub with live orders ------------------------------------------
if [ -z "${CROSSDOCK_BIN:-}" ]; then
    cargo build --locked --quiet -p crossdock --bin crossdock
    CROSSDOCK_BIN=${CARGO_TARGET_DIR:-target}/debug/crossdock
fi
WORK=$(mktemp -d)
"$CROSSDOCK_BIN" demo --any-ports --data-dir "$WORK/data" --orders-per-sec 5 \
    >"$WORK/demo.out" 2>"$WORK/hub.log" &
HUB=$!
stop_hub() {
    kill -INT "$HUB" 2>/dev/null || true
    wait "$HUB" 2>/dev/null || true
    rm -rf "$WORK"
}
trap stop_hub EXIT
for _ in $(seq 1 240); do
    grep -q '^crossdock demo: API key' "$WORK/hub.log" && break
    kill -0 "$HUB" 2>/dev/null || { cat "$WORK/hub.log" >&2; die "the demo hub exited"; }
    sleep 0.25
done
URL=$(sed -n 's|^crossdock demo: API \(http://[^ ]*\)/v1/orders .*|\1|p' "$WORK/hub.log" | head -n1)
KEY=$(sed -n 's|^crossdock demo: API key "demo" (scope admin; shown only now): \(cdk_[A-Za-z0-9_-]*\)$|\1|p' "$WORK/hub.log" | head -n1)
[ -n "$URL" ] && [ -n "$KEY" ] || { cat "$WORK/hub.log" >&2; die "no hub URL or key in the demo's output"; }
# A few seconds of orders, so lists and lookups answer with real documents.
sleep 5
log "hub $URL; $EXAMPLES examples per operation, seed $SEED"

# --- 3. the run ---------------------------------------------------------------
# Revocation is left out: the stateful phase feeds it the names `GET
# /v1/keys` lists, the run's own key among them, and every later request
# would be a 401. The key tests (`api_keys.rs`) cover it.
# One worker: with two threads, hypothesis's lambda descriptions call
# ast.parse concurrently, and CPython 3.11 (Debian bookworm's python3) can
# fail that with "SystemError: AST constructor recursion depth mismatch",
# a tool error that fails the run with nothing wrong in the API.
mkdir -p "$REPORT"
start=$(date +%s)
status=0
"$VENV/bin/schemathesis" --config-file scripts/schemathesis.toml run docs/openapi.json \
    --url "$URL" \
    --header "Authorization: Bearer $KEY" \
    --checks all \
    --exclude-path '/v1/keys/{name}/revoke' \
    --max-examples "$EXAMPLES" \
    --seed "$SEED" \
    --workers 1 \
    --request-timeout 10 \
    --report junit,pytest --report-dir "$REPORT" \
    --no-color || status=$?
log "finished in $(( $(date +%s) - start ))s with status $status (report: $REPORT)"
if ! kill -0 "$HUB" 2>/dev/null; then
    tail -n 50 "$WORK/hub.log" >&2
    die "the hub died during the run"
fi
exit "$status"

#!/usr/bin/env bash
# The peer comparison, one command: Crossdock, Node-RED, n8n, Temporal and
# Restate on the same flow (an order comes in by HTTP POST, is mapped to the
# ERP's customer and sales order, both are POSTed to the simulated ERP, the
# answer carries the ERP's sales-order id), one engine at a time, driven by
# the same load generator (`crossdock bench http`). Prints a table with the
# ratio Crossdock ÷ peer and writes bench/peers/results/latest.json.
#
#   bench/peers/run.sh                      # everything, defaults below
#   REQUESTS=2000 PEERS="crossdock restate" bench/peers/run.sh
#
# Environment: REQUESTS (5000), CONCURRENCY (16), WARMUP (200), PEERS
# (subset of "crossdock nodered n8n temporal restate"), CROSSDOCK_PEERS_CACHE
# (installs, default /var/cache/crossdock/peers), CARGO_TARGET_DIR,
# KEEP_WORK=1 (keep the run's logs and stores under /tmp), CROSSDOCK_BIN (a
# crossdock binary to use instead of building one).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CACHE="${CROSSDOCK_PEERS_CACHE:-/var/cache/crossdock/peers}"
REQUESTS="${REQUESTS:-5000}"
CONCURRENCY="${CONCURRENCY:-16}"
WARMUP="${WARMUP:-200}"
PEERS="${PEERS:-crossdock nodered n8n temporal restate}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/crossdock/target}"

# Every port on loopback; chosen away from the demo's (7101-7104, 8080).
ERP_URL="http://127.0.0.1:19100"
HUB_PORT=19300
NODERED_PORT=19880
N8N_PORT=19678
N8N_RUNNER_PORT=19679
TEMPORAL_PORT=19233
TEMPORAL_FRONT_PORT=19088
RESTATE_INGRESS_PORT=19080
RESTATE_ADMIN_PORT=19070
RESTATE_NODE_PORT=19122
RESTATE_SERVICE_PORT=19090

WORK="$(mktemp -d /tmp/crossdock-peers.XXXXXX)"
RESULTS="$HERE/results"
mkdir -p "$RESULTS" "$WORK/out"

log() { printf '[peers %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ------------------------------------------------------------ processes
# Each background process leads its own process group (setsid), so stopping
# it also stops what it spawned (n8n's task runner, the Temporal worker...).
declare -A PGID=()

start_bg() { # name command... ; output to $WORK/name.log
  local name="$1"
  shift
  setsid "$@" >"$WORK/$name.log" 2>&1 &
  PGID[$name]=$!
}

stop_bg() { # name
  local name="$1" pid="${PGID[$1]:-}"
  [[ -n "$pid" ]] || return 0
  unset "PGID[$name]"
  kill -TERM -- "-$pid" 2>/dev/null || return 0
  for _ in $(seq 1 50); do
    kill -0 -- "-$pid" 2>/dev/null || return 0
    sleep 0.2
  done
  log "$name did not stop in 10 s: SIGKILL"
  kill -KILL -- "-$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  for name in "${!PGID[@]}"; do stop_bg "$name"; done
  if [[ "${KEEP_WORK:-0}" == 1 ]]; then
    log "logs and stores kept in $WORK"
  else
    rm -rf "$WORK"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

alive() { kill -0 "${PGID[$1]}" 2>/dev/null; }

wait_for() { # name seconds command... : until the command succeeds, the process dies or time runs out
  local name="$1" secs="$2"
  shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if ! alive "$name"; then
      FAIL_REASON="$name exited: $(tail -n 3 "$WORK/$name.log" | tr '\n' ' ' | cut -c1-300)"
      return 1
    fi
    if ((SECONDS >= deadline)); then
      FAIL_REASON="$name not ready after ${secs} s: $(tail -n 3 "$WORK/$name.log" | tr '\n' ' ' | cut -c1-300)"
      return 1
    fi
    sleep 0.5
  done
}

http_up() { curl -s -o /dev/null -m 2 "$1"; }          # any HTTP answer
http_ok() { curl -sf -o /dev/null -m 2 "$1"; }         # a 2xx answer
log_has() { grep -q "$2" "$WORK/$1.log"; }

# ------------------------------------------------------------ the peers
# start_X: start the engine with the flow, wait until it is ready, set URL.
# On failure set FAIL_REASON and return non-zero.

start_crossdock() {
  start_bg crossdock env CROSSDOCK__HUB__DATA_DIR="$WORK/crossdock" CROSSDOCK_LOG=warn \
    "$CROSSDOCK" serve --config "$HERE/crossdock.toml"
  wait_for crossdock 60 http_ok "http://127.0.0.1:$HUB_PORT/readyz" || return 1
  URL="http://127.0.0.1:$HUB_PORT/webhooks/channels/webstore"
}

start_nodered() {
  mkdir -p "$WORK/nodered"
  cp "$HERE/nodered/flows.json" "$WORK/nodered/flows.json"
  start_bg nodered env PEER_PORT="$NODERED_PORT" PEER_USER_DIR="$WORK/nodered" ERP_URL="$ERP_URL" \
    node "$CACHE/nodered/node_modules/node-red/red.js" --settings "$HERE/nodered/settings.js"
  wait_for nodered 60 http_up "http://127.0.0.1:$NODERED_PORT/" || return 1
  URL="http://127.0.0.1:$NODERED_PORT/orders"
}

N8N_ENV=(
  N8N_USER_FOLDER="$WORK/n8n" N8N_LISTEN_ADDRESS=127.0.0.1 N8N_HOST=127.0.0.1 N8N_PORT="$N8N_PORT"
  N8N_RUNNERS_BROKER_PORT="$N8N_RUNNER_PORT" N8N_RUNNERS_BROKER_LISTEN_ADDRESS=127.0.0.1
  DB_TYPE=sqlite EXECUTIONS_MODE=regular N8N_LOG_LEVEL=warn
  N8N_DIAGNOSTICS_ENABLED=false N8N_VERSION_NOTIFICATIONS_ENABLED=false N8N_TEMPLATES_ENABLED=false
  N8N_PERSONALIZATION_ENABLED=false N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS=true
)

start_n8n() {
  local n8n="$CACHE/n8n/node_modules/.bin/n8n"
  mkdir -p "$WORK/n8n"
  # Activation in n8n 2.x is `publish:workflow`, read at the next start.
  if ! env "${N8N_ENV[@]}" "$n8n" import:workflow --input="$HERE/n8n/workflow.json" >"$WORK/n8n-import.log" 2>&1 ||
    ! env "${N8N_ENV[@]}" "$n8n" publish:workflow --id=crossdockPeerFlow1 >>"$WORK/n8n-import.log" 2>&1; then
    FAIL_REASON="n8n import/publish failed: $(tail -n 3 "$WORK/n8n-import.log" | tr '\n' ' ' | cut -c1-300)"
    return 1
  fi
  start_bg n8n env "${N8N_ENV[@]}" "$n8n" start
  wait_for n8n 120 http_ok "http://127.0.0.1:$N8N_PORT/healthz" || return 1
  URL="http://127.0.0.1:$N8N_PORT/webhook/orders"
}

start_temporal() {
  local venv="$CACHE/temporal/venv"
  mkdir -p "$WORK/temporal"
  # The dev server: one history shard, SQLite in WAL mode with
  # synchronous=NORMAL (as Crossdock's store).
  start_bg temporal-server "$venv/bin/temporal" server start-dev --headless --ip 127.0.0.1 \
    --port "$TEMPORAL_PORT" --http-port $((TEMPORAL_PORT + 10)) --metrics-port $((TEMPORAL_PORT + 11)) \
    --db-filename "$WORK/temporal/temporal.db" --sqlite-pragma journal_mode=wal \
    --sqlite-pragma synchronous=normal --log-level warn
  wait_for temporal-server 60 "$venv/bin/temporal" operator cluster health --address "127.0.0.1:$TEMPORAL_PORT" || return 1
  start_bg temporal env TEMPORAL_ADDRESS="127.0.0.1:$TEMPORAL_PORT" ERP_URL="$ERP_URL" \
    PEER_PORT="$TEMPORAL_FRONT_PORT" "$venv/bin/python" -u "$HERE/temporal/app.py"
  wait_for temporal 60 log_has temporal "temporal peer: ready" || return 1
  URL="http://127.0.0.1:$TEMPORAL_FRONT_PORT/orders"
}

start_restate() {
  local dir="$CACHE/restate"
  mkdir -p "$WORK/restate"
  cat >"$WORK/restate/config.toml" <<EOF
disable-telemetry = true
[ingress]
bind-port = $RESTATE_INGRESS_PORT
[admin]
bind-port = $RESTATE_ADMIN_PORT
EOF
  start_bg restate-server env RESTATE_BASE_DIR="$WORK/restate/data" RESTATE_LOG_FILTER=warn \
    "$dir/node_modules/.bin/restate-server" --config-file "$WORK/restate/config.toml" --no-logo \
    --bind-ip 127.0.0.1 --bind-port "$RESTATE_NODE_PORT" --listen-mode tcp --advertised-host 127.0.0.1
  wait_for restate-server 60 http_ok "http://127.0.0.1:$RESTATE_ADMIN_PORT/health" || return 1
  start_bg restate env NODE_PATH="$dir/node_modules" ERP_URL="$ERP_URL" \
    PEER_SERVICE_PORT="$RESTATE_SERVICE_PORT" RESTATE_LOGGING=WARN node "$HERE/restate/service.js"
  wait_for restate 30 log_has restate "service ready" || return 1
  if ! curl -sf -m 20 -X POST "http://127.0.0.1:$RESTATE_ADMIN_PORT/deployments" \
    -H 'content-type: application/json' -d "{\"uri\":\"http://127.0.0.1:$RESTATE_SERVICE_PORT\"}" \
    >"$WORK/restate-register.log" 2>&1; then
    FAIL_REASON="registering the service with Restate failed: $(cut -c1-300 "$WORK/restate-register.log")"
    return 1
  fi
  URL="http://127.0.0.1:$RESTATE_INGRESS_PORT/orders/ingest"
}

stop_crossdock() { stop_bg crossdock; }
stop_nodered() { stop_bg nodered; }
stop_n8n() { stop_bg n8n; }
stop_temporal() { stop_bg temporal && stop_bg temporal-server; }
stop_restate() { stop_bg restate && stop_bg restate-server; }

erp_sales_orders() {
  curl -sf -m 5 "$ERP_URL/sim/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["sales_orders"])'
}

# One order through the flow before any load: it must come back accepted
# with the ERP's id. Engines that register routes lazily get a few seconds.
smoke() { # peer
  local deadline=$((SECONDS + 30)) answer
  while :; do
    answer="$(sed "s/{n}/smoke/g; s/{run}/$(date +%s%N)/g" "$HERE/order.json" |
      curl -s -m 30 -X POST "$URL" -H 'content-type: application/json' --data-binary @- || true)"
    [[ "$answer" == *'"erp_ref":"SO-'* || "$answer" == *'"erp_ref": "SO-'* ]] && return 0
    if ((SECONDS >= deadline)); then
      FAIL_REASON="smoke order not accepted: $(printf '%s' "$answer" | cut -c1-300)"
      return 1
    fi
    sleep 1
  done
}

record_failure() { # peer reason
  log "$1 FAILED: $2"
  python3 -c 'import json,sys; print(json.dumps({"peer": sys.argv[1], "status": "failed", "reason": sys.argv[2]}))' \
    "$1" "$2" >"$WORK/out/$1.json"
}

run_peer() { # peer
  local p="$1" before after
  FAIL_REASON=""
  URL=""
  log "$p: starting"
  if ! "start_$p"; then
    record_failure "$p" "${FAIL_REASON:-did not start}"
    "stop_$p" || true
    return 0
  fi
  if ! smoke "$p"; then
    record_failure "$p" "$FAIL_REASON"
    "stop_$p" || true
    return 0
  fi
  before="$(erp_sales_orders)"
  log "$p: ready at $URL; $WARMUP warm-up + $REQUESTS requests at concurrency $CONCURRENCY"
  if ! "$CROSSDOCK" bench http --url "$URL" --body "$HERE/order.json" --requests "$REQUESTS" \
    --concurrency "$CONCURRENCY" --warmup "$WARMUP" --expect '"SO-' --json \
    >"$WORK/$p-load.json" 2>"$WORK/$p-load.log"; then
    record_failure "$p" "load generator failed: $(tail -n 2 "$WORK/$p-load.log" | tr '\n' ' ')"
    "stop_$p" || true
    return 0
  fi
  # Every flow answers after its ERP call, so the count is final; a moment
  # for stragglers of timed-out requests all the same.
  sleep 1
  after="$(erp_sales_orders)"
  "stop_$p"
  python3 - "$p" "$WORK/$p-load.json" "$((after - before))" "$((WARMUP + REQUESTS))" >"$WORK/out/$p.json" <<'PY'
import json, sys
peer, path, posts, expected = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
report = json.load(open(path))
print(json.dumps({"peer": peer, "status": "ok", "erp_sales_orders": posts,
                  "expected_sales_orders": expected, **report}))
PY
  log "$p: $(python3 - "$WORK/out/$p.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print("{:.1f} req/s, p50 {:.1f} ms, p99 {:.1f} ms, {} errors, {} ERP sales orders".format(
    r["per_sec"], r["p50_ms"], r["p99_ms"], r["errors"], r["erp_sales_orders"]))
PY
)"
}

# ------------------------------------------------------------ main
for p in $PEERS; do
  case "$p" in
    crossdock | nodered | n8n | temporal | restate) ;;
    *) log "unknown peer $p (crossdock nodered n8n temporal restate)" && exit 2 ;;
  esac
done

if [[ -n "${CROSSDOCK_BIN:-}" ]]; then
  CROSSDOCK="$CROSSDOCK_BIN"
  log "using $CROSSDOCK (CROSSDOCK_BIN; not rebuilt)"
else
  log "building crossdock (release)"
  if ! (cd "$ROOT" && cargo build --release -p crossdock) >"$WORK/build.log" 2>&1; then
    tail -n 30 "$WORK/build.log" >&2
    log "building crossdock failed"
    exit 1
  fi
  CROSSDOCK="$CARGO_TARGET_DIR/release/crossdock"
fi

# Installs: a peer that fails to install is reported failed, the rest run.
declare -A INSTALL_FAILED=()
for p in $PEERS; do
  [[ "$p" == crossdock ]] && continue
  if ! "$HERE/install.sh" "$p" >"$WORK/install-$p.log" 2>&1; then
    INSTALL_FAILED[$p]="install failed: $(tail -n 3 "$WORK/install-$p.log" | tr '\n' ' ' | cut -c1-300)"
  fi
done

LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
log "starting the simulated ERP (crossdock sim) at $ERP_URL"
start_bg sim env CROSSDOCK_LOG=warn "$CROSSDOCK" sim --config "$HERE/crossdock.toml"
FAIL_REASON=""
wait_for sim 30 http_ok "$ERP_URL/sim/health" || {
  log "the simulated ERP did not start: $FAIL_REASON"
  exit 1
}

for p in $PEERS; do
  if [[ -n "${INSTALL_FAILED[$p]:-}" ]]; then
    record_failure "$p" "${INSTALL_FAILED[$p]}"
  else
    run_peer "$p"
  fi
done
stop_bg sim

python3 "$HERE/report.py" "$WORK/out" "$RESULTS/latest.json" \
  --requests "$REQUESTS" --concurrency "$CONCURRENCY" --warmup "$WARMUP" \
  --peers "$PEERS" --load-before "$LOAD_BEFORE" --cache "$CACHE"

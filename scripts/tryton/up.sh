#!/usr/bin/env bash
# Start one Tryton 8.0 server on loopback with a FRESH copy of the template
# database built by prepare.sh.  Several instances may run side by side, each
# with its own port and work directory.
#
#   TRYTON_PORT           HTTP port on 127.0.0.1 (default 8000)
#   TRYTON_WORK           instance directory: db/, trytond.conf, trytond.pid,
#                         trytond.log (default /tmp/crossdock-tryton-$TRYTON_PORT)
#   TRYTON_DB             database name (default crossdock)
#   TRYTON_START_TIMEOUT  seconds to wait for a successful login (default 60)
#   TRYTON_KEEP_DB=1      restart on the instance's existing database instead
#                         of a fresh copy (an outage test stops the server and
#                         brings the same ERP back)
#   TRYTON_HOME, TRYTON_PYTHON  see prepare.sh
#
# stdout: only the fixture JSON (record ids), as the last and only line.
# Progress and errors go to stderr.  Stop the server with down.sh.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TRYTON_PORT=${TRYTON_PORT:-8000}
TRYTON_WORK=${TRYTON_WORK:-/tmp/crossdock-tryton-$TRYTON_PORT}
TRYTON_DB=${TRYTON_DB:-crossdock}
START_TIMEOUT=${TRYTON_START_TIMEOUT:-60}
ADMIN_LOGIN='admin'
ADMIN_PASSWORD=crossdock-admin
# down.sh reads the same variables.
export TRYTON_PORT TRYTON_WORK

now_ms() { date +%s%3N; }
elapsed() {
    local ms=$(( $(now_ms) - $1 ))
    printf '%d.%ds' $((ms / 1000)) $((ms % 1000 / 100))
}
log() { printf '[tryton/up:%s %s] %s\n' "$TRYTON_PORT" "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
START=$(now_ms)

[[ $TRYTON_PORT =~ ^[0-9]+$ ]] || die "TRYTON_PORT must be a number"
# The name becomes a file name and a URL segment: keep it plain.
[[ $TRYTON_DB =~ ^[A-Za-z0-9_]+$ ]] || die "TRYTON_DB must match [A-Za-z0-9_]+"
command -v curl >/dev/null || die "curl not found"

# 1. venv + template (cached; waits on the lock if another call builds them)
prepared=$(bash "$HERE/prepare.sh") || die "prepare.sh failed"
VENV='' TEMPLATE='' FIXTURE=''
while IFS='=' read -r key value; do
    case $key in
        venv) VENV=$value ;;
        template) TEMPLATE=$value ;;
        fixture) FIXTURE=$value ;;
    esac
done <<<"$prepared"
if [ ! -x "$VENV/bin/trytond" ] || [ ! -s "$TEMPLATE" ] || [ ! -s "$FIXTURE" ]; then
    die "prepare.sh gave no usable venv/template/fixture"
fi

# 2. no previous server of this instance may keep the database open
mkdir -p "$TRYTON_WORK/db"
bash "$HERE/down.sh"

RPC_URL=http://127.0.0.1:$TRYTON_PORT/$TRYTON_DB/rpc/
# Fail fast, with a clear message, when something else owns the port: the
# readiness check below would otherwise talk to that other server.
rc=0
curl -s -o /dev/null -m 3 "http://127.0.0.1:$TRYTON_PORT/" || rc=$?
if [ "$rc" -ne 7 ]; then
    die "port $TRYTON_PORT on 127.0.0.1 is already in use (curl exit $rc)"
fi

# 3. fresh database from the template.  trytond runs SQLite in WAL mode: a
# leftover -wal/-shm next to a replaced file corrupts the new database.
DB_FILE=$TRYTON_WORK/db/$TRYTON_DB.sqlite
if [ "${TRYTON_KEEP_DB:-0}" = 1 ] && [ -s "$DB_FILE" ]; then
    # The server was stopped by down.sh; its WAL belongs to this database.
    log "keeping the existing database $DB_FILE"
else
    rm -f "$DB_FILE" "$DB_FILE-wal" "$DB_FILE-shm" "$DB_FILE-journal"
    cp "$TEMPLATE" "$DB_FILE"
fi

CONF=$TRYTON_WORK/trytond.conf
cat > "$CONF" <<EOF
[database]
uri = sqlite://
path = $TRYTON_WORK/db
language = en

[web]
listen = 127.0.0.1:$TRYTON_PORT

[session]
# one day: a test run never has to log in again
max_age = 86400
EOF

# 4. server.  -d is required: without it trytond never loads the pool of the
# database and the first login fails with KeyError 'res.user'.  Its output
# goes to the log only, so `$(up.sh)` does not wait for the server to exit.
LOG=$TRYTON_WORK/trytond.log
PIDFILE=$TRYTON_WORK/trytond.pid
nohup "$VENV/bin/trytond" -c "$CONF" -d "$TRYTON_DB" \
    </dev/null >"$LOG" 2>&1 &
pid=$!
echo "$pid" > "$PIDFILE"
log "trytond pid $pid starting on 127.0.0.1:$TRYTON_PORT (log $LOG)"

fail_with_log() {
    log "ERROR: $1; last lines of $LOG:"
    tail -n 25 "$LOG" >&2 || true
    bash "$HERE/down.sh" || true
    exit 1
}

# 5. ready = a real login over JSON-RPC succeeds (the HTTP port opens before
# the database pool is loaded).
login_body=$(printf '{"id":1,"method":"common.db.login","params":["%s",{"password":"%s"},"en"]}' \
    "$ADMIN_LOGIN" "$ADMIN_PASSWORD")
deadline=$(( $(now_ms) + START_TIMEOUT * 1000 ))
while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
        fail_with_log "trytond exited during start-up"
    fi
    answer=$(curl -s -m 10 -H 'Content-Type: application/json' \
        --data "$login_body" "$RPC_URL" || true)
    case $answer in
        *'"result"'*) break ;;
    esac
    if [ "$(now_ms)" -ge "$deadline" ]; then
        fail_with_log "no successful login at $RPC_URL within ${START_TIMEOUT}s (last answer: ${answer:-none})"
    fi
    sleep 0.5
done
log "ready in $(elapsed "$START"): $RPC_URL (admin / $ADMIN_PASSWORD)"

cat "$FIXTURE"

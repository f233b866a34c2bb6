#!/usr/bin/env bash
# Stop the Tryton server that up.sh started for $TRYTON_WORK.  Idempotent.
#
#   TRYTON_PORT   used only for the default of TRYTON_WORK (default 8000)
#   TRYTON_WORK   instance directory (default /tmp/crossdock-tryton-$TRYTON_PORT)
#
# Only the PID recorded in $TRYTON_WORK/trytond.pid is signalled, and only if
# that process still is a trytond started with this instance's config file
# (a stale PID file may name a recycled PID).
set -euo pipefail

TRYTON_PORT=${TRYTON_PORT:-8000}
TRYTON_WORK=${TRYTON_WORK:-/tmp/crossdock-tryton-$TRYTON_PORT}
PIDFILE=$TRYTON_WORK/trytond.pid
CONF=$TRYTON_WORK/trytond.conf
GRACE_SECONDS=${TRYTON_STOP_GRACE:-10}

log() { printf '[tryton/down %s] %s\n' "$(date +%T)" "$*" >&2; }

if [ ! -f "$PIDFILE" ]; then
    log "no server recorded in $TRYTON_WORK"
    exit 0
fi
pid=$(cat "$PIDFILE")

ours() {
    # /proc/PID/cmdline is NUL-separated; the config path identifies us.
    [ -r "/proc/$pid/cmdline" ] \
        && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "/trytond -c $CONF "
}

if [[ ! $pid =~ ^[0-9]+$ ]] || ! ours; then
    log "server of $TRYTON_WORK is not running (stale pid file)"
    rm -f "$PIDFILE"
    exit 0
fi

log "stopping trytond pid $pid"
kill -TERM "$pid" 2>/dev/null || true
for _ in $(seq 1 $((GRACE_SECONDS * 5))); do
    ours || break
    sleep 0.2
done
if ours; then
    log "pid $pid ignored TERM for ${GRACE_SECONDS}s, sending KILL"
    kill -KILL "$pid" 2>/dev/null || true
    for _ in $(seq 1 25); do
        ours || break
        sleep 0.2
    done
fi
if ours; then
    log "ERROR: pid $pid still alive"
    exit 1
fi
rm -f "$PIDFILE"
log "stopped"

#!/usr/bin/env bash
# Install Tryton 8.0 LTS into a venv and build a template SQLite database with
# Crossdock's business data.  Idempotent and cached: safe on every test run.
#
#   TRYTON_HOME    cache directory (default /var/cache/crossdock/tryton); it is
#                  meant to survive between CI runs on the same machine
#   TRYTON_PYTHON  interpreter used to create the venv (default python3)
#
# stdout: three lines `venv=DIR`, `template=FILE`, `fixture=FILE` (read by
# up.sh); everything else goes to stderr.  Remove $TRYTON_HOME to start over.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TRYTON_HOME=${TRYTON_HOME:-/var/cache/crossdock/tryton}
PYTHON=${TRYTON_PYTHON:-python3}
REQUIREMENTS=$HERE/requirements.txt
SETUP=$HERE/setup_erp.py
# Activated explicitly; their dependencies (party, company, account, ...)
# come with --activate-dependencies.
MODULES=(sale stock account_invoice account_invoice_stock web_shop)
# The database is always built under this name; up.sh may restore the file
# under any other name (trytond does not store the name inside the file).
BUILD_DB=template
ADMIN_PASSWORD=crossdock-admin
ADMIN_EMAIL=admin@crossdock.invalid
LOCK_TIMEOUT=${TRYTON_LOCK_TIMEOUT:-900}

now_ms() { date +%s%3N; }
# elapsed START_MS -> "12.3s"
elapsed() {
    local ms=$(( $(now_ms) - $1 ))
    printf '%d.%ds' $((ms / 1000)) $((ms % 1000 / 100))
}
log() { printf '[tryton/prepare %s] %s\n' "$(date +%T)" "$*" >&2; }
SCRIPT_START=$(now_ms)
die() { log "ERROR: $*"; exit 1; }
hash_of() { sha256sum | cut -c1-16; }

command -v "$PYTHON" >/dev/null || die "$PYTHON not found"
mkdir -p "$TRYTON_HOME"

# One builder at a time: parallel up.sh calls (one per port) all run this
# script, and the first one does the slow work while the others wait here.
exec 9>"$TRYTON_HOME/.prepare.lock"
if ! flock -n 9; then
    log "waiting for another prepare.sh (lock $TRYTON_HOME/.prepare.lock)"
    flock -w "$LOCK_TIMEOUT" 9 || die "lock not acquired in ${LOCK_TIMEOUT}s"
fi

# --- 1. virtualenv ----------------------------------------------------------
# Keyed on the pins and the interpreter version (a venv does not survive a
# python upgrade).  One directory per key, so a server still running from an
# older venv is never pulled from under its feet.
PY_VERSION=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
VENV_KEY=$( { cat "$REQUIREMENTS"; echo "python $PY_VERSION"; } | hash_of)
VENV=$TRYTON_HOME/venv-$VENV_KEY
if [ -f "$VENV/.installed" ]; then
    log "venv cached: $VENV"
else
    t0=$(now_ms)
    log "creating venv $VENV (python $PY_VERSION)"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check \
        --no-input -r "$REQUIREMENTS" >&2 \
        || die "pip install -r $REQUIREMENTS failed"
    # Marker last: an interrupted install is redone, never half-used.
    touch "$VENV/.installed"
    log "venv ready in $(elapsed "$t0")"
fi

# --- 2. template database ---------------------------------------------------
# Keyed on everything that shapes its content.  The calendar year is part of
# the key because setup_erp.py creates fiscal years around "today".
TEMPLATE_KEY=$( { cat "$REQUIREMENTS" "$SETUP"; echo "python $PY_VERSION";
    echo "modules ${MODULES[*]}"; echo "year $(date +%Y)"; } | hash_of)
TEMPLATE=$TRYTON_HOME/template-$TEMPLATE_KEY.sqlite
FIXTURE=$TRYTON_HOME/fixture-$TEMPLATE_KEY.json

# trytond-admin reads the admin password from the file TRYTONPASSFILE names.
PASSFILE=$TRYTON_HOME/admin.pass
if [ ! -f "$PASSFILE" ] || [ "$(cat "$PASSFILE")" != "$ADMIN_PASSWORD" ]; then
    (umask 077; printf '%s\n' "$ADMIN_PASSWORD" > "$PASSFILE")
fi
export TRYTONPASSFILE=$PASSFILE

if [ -s "$TEMPLATE" ] && [ -s "$FIXTURE" ]; then
    log "template cached: $TEMPLATE"
else
    t0=$(now_ms)
    BUILD=$TRYTON_HOME/build-$TEMPLATE_KEY
    rm -rf "$BUILD"
    mkdir -p "$BUILD/db"
    cat > "$BUILD/trytond.conf" <<EOF
[database]
uri = sqlite://
path = $BUILD/db
language = en
EOF
    # The SQLite backend only opens an existing file: <path>/<name>.sqlite.
    : > "$BUILD/db/$BUILD_DB.sqlite"

    log "trytond-admin: activating ${MODULES[*]} (+ dependencies)"
    # --email and </dev/null: otherwise it prompts for admin's e-mail.
    if ! "$VENV/bin/trytond-admin" -c "$BUILD/trytond.conf" -d "$BUILD_DB" \
            --all -u "${MODULES[@]}" --activate-dependencies \
            --email "$ADMIN_EMAIL" </dev/null >"$BUILD/admin.log" 2>&1; then
        tail -n 30 "$BUILD/admin.log" >&2
        die "trytond-admin failed (full log: $BUILD/admin.log)"
    fi
    log "modules activated after $(elapsed "$t0")"

    t1=$(now_ms)
    if ! "$VENV/bin/python" "$SETUP" --database "$BUILD_DB" \
            --config "$BUILD/trytond.conf" \
            >"$BUILD/fixture.json" 2>"$BUILD/setup.log"; then
        tail -n 30 "$BUILD/setup.log" >&2
        die "setup_erp.py failed (full log: $BUILD/setup.log)"
    fi
    # The fixture is the last line; anything before it would be noise.
    tail -n 1 "$BUILD/fixture.json" > "$BUILD/fixture.last"
    "$VENV/bin/python" -c 'import json, sys; json.load(open(sys.argv[1]))' \
        "$BUILD/fixture.last" || die "setup_erp.py printed no JSON fixture"
    log "business data created in $(elapsed "$t1")"

    # trytond keeps the database in WAL mode: the main file alone may miss
    # committed pages that still sit in the -wal file.  VACUUM INTO writes a
    # complete, compact single-file copy.
    "$VENV/bin/python" - "$BUILD/db/$BUILD_DB.sqlite" "$BUILD/template.sqlite" <<'EOF'
import sqlite3
import sys

source, target = sys.argv[1:3]
connection = sqlite3.connect(source)
connection.execute('VACUUM INTO ?', (target,))
connection.close()
check = sqlite3.connect(target)
result = check.execute('PRAGMA integrity_check').fetchone()[0]
check.close()
if result != 'ok':
    sys.exit(f'template integrity check failed: {result}')
EOF
    # Rename last (atomic in one directory): readers see both files or none.
    mv "$BUILD/fixture.last" "$FIXTURE"
    mv "$BUILD/template.sqlite" "$TEMPLATE"
    rm -rf "$BUILD"
    log "template built in $(elapsed "$t0"): $TEMPLATE"
fi

log "prepare done in $(elapsed "$SCRIPT_START")"
printf 'venv=%s\ntemplate=%s\nfixture=%s\n' "$VENV" "$TEMPLATE" "$FIXTURE"

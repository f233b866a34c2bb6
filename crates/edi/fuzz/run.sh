#!/usr/bin/env bash
# Kept for muscle memory: the one fuzz runner is scripts/fuzz.sh.
exec "$(dirname "${BASH_SOURCE[0]}")/../../../scripts/fuzz.sh" edi "$@"

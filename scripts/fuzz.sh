#!/usr/bin/env bash
# One runner for the cargo-fuzz (libFuzzer) projects of the crates that read
# outside input: crates/<crate>/fuzz/.
#
#   scripts/fuzz.sh edi                           # x12_read, 600 s
#   scripts/fuzz.sh connectors [TARGET]           # marketplace_orders by default
#   scripts/fuzz.sh settlement                    # settlement_files
#   SECS=60 scripts/fuzz.sh settlement -- -jobs=2 # shorter, extra libFuzzer flags after --
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`), a C++ compiler
# (libfuzzer-sys builds libFuzzer from source) and python3 (connectors' seeds).
set -euo pipefail

crate="${1:?usage: scripts/fuzz.sh edi|connectors|settlement [TARGET] [-- libFuzzer flags]}"
shift
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
here="$root/crates/$crate/fuzz"
[ -d "$here" ] || { echo "no fuzz project at $here" >&2; exit 2; }
cd "$here"

case "$crate" in
    edi) default=x12_read ;;
    connectors) default=marketplace_orders ;;
    settlement) default=settlement_files ;;
    *) default="" ;;
esac
target="${TARGET:-$default}"
if [ -n "${1:-}" ] && [ "$1" != "--" ]; then
    target="$1"
    shift
fi
[ -n "$target" ] || { echo "name a target of $here/fuzz_targets" >&2; exit 2; }
secs="${SECS:-600}"

# cargo-fuzz passes nightly-only flags (-Zsanitizer=address, -Cpasses=
# sancov-module, ...). The project's toolchain is stable only and no nightly
# can be installed; RUSTC_BOOTSTRAP=1 lets stable rustc/cargo accept -Z flags.
# It is set for this fuzz build only, never for the project's own builds.
export RUSTC_BOOTSTRAP=1

# Separate target dir: the fuzz build (instrumented, sanitized) must not
# invalidate the workspace's normal build cache; shared by the fuzz
# projects (same toolchain and flags: common dependencies built once).
fuzz_target_dir="${FUZZ_TARGET_DIR:-/var/cache/crossdock/fuzz-target}"
mkdir -p "$fuzz_target_dir"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz missing: cargo install cargo-fuzz --locked" >&2
    exit 1
fi

# Seed corpus from the public reference samples, copied at run time only
# (they are not ours to commit; corpus/ is gitignored). Looked for beside
# the checkout (shared/reference next to main/), as CI lays it out.
corpus="corpus/$target"
mkdir -p "$corpus" artifacts
ref="${REFERENCE_DIR:-$root/../shared/reference}"
copy_seeds() {
    local n=0 f
    for f in "$@"; do
        [ -f "$f" ] || continue
        # Named by source dir: two samples with one file name both stay.
        cp -f "$f" "$corpus/seed-$(basename "$(dirname "$f")")-$(basename "$f")"
        n=$((n + 1))
    done
    echo "$n"
}
if [ ! -d "$ref" ]; then
    echo "no reference dir at $ref: seeding from our own files only" >&2
fi
case "$crate" in
    edi) n="$(copy_seeds "$ref"/x12-*/*)" ;;
    connectors) n="$(python3 "$here/seeds.py" "$target" "$ref" "$corpus")" ;;
    settlement)
        n="$(copy_seeds "$ref"/amazon-settlement/* "$ref"/shopify-python-api-fixtures/payouts*.json)" ;;
    *) n=0 ;;
esac
echo "seeded $n files for $target (reference: $ref)" >&2

extra=()
if [ "${1:-}" = "--" ]; then
    shift
    extra=("$@")
fi

exec cargo fuzz run --target-dir "$fuzz_target_dir" "$target" "$corpus" -- \
    -max_total_time="$secs" -rss_limit_mb=2048 -max_len=65536 -timeout=10 \
    -print_final_stats=1 "${extra[@]}"

#!/usr/bin/env bash
# Fuzz the channel payload mappings (crates/connectors) with cargo-fuzz /
# libFuzzer. Targets (see ../FUZZING.md):
#   marketplace_orders   Shopify / Amazon / Walmart order payload -> Order
#   mapped_payload       payload through fixed mapped-channel mappings
#   mapped_mapping       mapping source (TOML, jq) through the compile step
#
#   crates/connectors/fuzz/run.sh                         # 600 s, marketplace_orders
#   TARGET=mapped_payload crates/connectors/fuzz/run.sh   # another target
#   SECS=60 crates/connectors/fuzz/run.sh                 # shorter run
#   crates/connectors/fuzz/run.sh -- extra libFuzzer flags
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`), a C++ compiler
# (libfuzzer-sys builds libFuzzer from source) and python3 (seeds.py).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

target="${TARGET:-marketplace_orders}"
secs="${SECS:-600}"

# cargo-fuzz passes nightly-only flags (-Zsanitizer=address, -Cpasses=
# sancov-module, ...). The project's toolchain is stable only and no nightly
# can be installed; RUSTC_BOOTSTRAP=1 lets stable rustc/cargo accept -Z flags.
# It is set for this fuzz build only, never for the project's own builds.
export RUSTC_BOOTSTRAP=1

# Separate target dir: the fuzz build (instrumented, sanitized) must not
# invalidate the workspace's normal build cache. Shared with crates/edi/fuzz
# (same toolchain and flags, so common dependencies are built once).
fuzz_target_dir="${FUZZ_TARGET_DIR:-/var/cache/crossdock/fuzz-target}"
mkdir -p "$fuzz_target_dir"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz missing: cargo install cargo-fuzz --locked" >&2
    exit 1
fi

# Seed corpus: order payloads extracted from the public marketplace samples
# (not ours to commit; corpus/ is gitignored) plus our own webstore payloads
# and mapping files. Looked for beside the checkout (shared/reference next
# to main/), as CI lays it out.
corpus="corpus/$target"
mkdir -p "$corpus" artifacts
ref="${REFERENCE_DIR:-$here/../../../../shared/reference}"
if [ ! -d "$ref" ]; then
    echo "no reference dir at $ref: seeding from our own files only" >&2
fi
n="$(python3 "$here/seeds.py" "$target" "$ref" "$corpus")"
echo "seeded $n files for $target (reference: $ref)" >&2

extra=()
if [ "${1:-}" = "--" ]; then
    shift
    extra=("$@")
fi

exec cargo fuzz run --target-dir "$fuzz_target_dir" "$target" "$corpus" -- \
    -max_total_time="$secs" -rss_limit_mb=2048 -max_len=65536 -timeout=10 \
    -print_final_stats=1 "${extra[@]}"

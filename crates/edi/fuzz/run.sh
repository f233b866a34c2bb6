#!/usr/bin/env bash
# Fuzz the X12 reader (crates/edi) with cargo-fuzz / libFuzzer.
#
#   crates/edi/fuzz/run.sh                 # 600 s on x12_read
#   SECS=60 crates/edi/fuzz/run.sh         # shorter run
#   TARGET=x12_read crates/edi/fuzz/run.sh -- extra libFuzzer flags
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`) and a C++ compiler
# (libfuzzer-sys builds libFuzzer from source).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

target="${TARGET:-x12_read}"
secs="${SECS:-600}"

# cargo-fuzz passes nightly-only flags (-Zsanitizer=address, -Cpasses=
# sancov-module, ...). The project's toolchain is stable only and no nightly
# can be installed; RUSTC_BOOTSTRAP=1 lets stable rustc/cargo accept -Z flags.
# It is set for this fuzz build only, never for the project's own builds.
export RUSTC_BOOTSTRAP=1

# Separate target dir: the fuzz build (instrumented, sanitized) must not
# invalidate the workspace's normal build cache.
fuzz_target_dir="${FUZZ_TARGET_DIR:-/var/cache/crossdock/fuzz-target}"
mkdir -p "$fuzz_target_dir"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz missing: cargo install cargo-fuzz --locked" >&2
    exit 1
fi

# Seed corpus: the public X12 reference samples, copied at run time only
# (they are not ours to commit; corpus/ is gitignored). Looked for beside
# the checkout (shared/reference next to main/), as CI lays it out.
corpus="corpus/$target"
mkdir -p "$corpus" artifacts
ref="${REFERENCE_DIR:-$here/../../../../shared/reference}"
if [ -d "$ref" ]; then
    n=0
    for f in "$ref"/x12-*/*; do
        [ -f "$f" ] || continue
        # Name seeds by source dir so two samples with the same file name
        # do not overwrite each other.
        cp -f "$f" "$corpus/seed-$(basename "$(dirname "$f")")-$(basename "$f")"
        n=$((n + 1))
    done
    echo "seeded $n files from $ref" >&2
else
    echo "no reference dir at $ref: starting from an empty corpus" >&2
fi

extra=()
if [ "${1:-}" = "--" ]; then
    shift
    extra=("$@")
fi

exec cargo fuzz run --target-dir "$fuzz_target_dir" "$target" "$corpus" -- \
    -max_total_time="$secs" -rss_limit_mb=2048 -max_len=65536 -timeout=10 \
    -print_final_stats=1 "${extra[@]}"

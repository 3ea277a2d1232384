#!/usr/bin/env bash
# Runs every fuzz target for N seconds each (default 20), for CI. Works on a stable
# toolchain (no sanitizer). Exits non-zero on the first crash.
#   usage: fuzz/smoke.sh [SECONDS]
set -euo pipefail
secs="${1:-20}"
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/.."
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
bash "$here/seed.sh"
for target in frame_decode body_decode ioc_text slips_json; do
    echo "== $target for ${secs}s"
    cargo fuzz run --sanitizer none -O "$target" "fuzz/corpus/$target" -- \
        -max_total_time="$secs" -print_final_stats=1
done

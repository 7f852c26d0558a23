#!/usr/bin/env bash
# Quick start, step 2 (and CI): install test dependencies if missing, then run
# the whole test suite in release mode (the physics tests integrate ODEs), and
# close with one summary line over all test binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
QBSIM_NEED_H5PY=1 source scripts/deps.sh
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --release "$@" 2>&1 | tee "$log" || status=$?
awk '/^test result:/ { for (i = 1; i < NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"

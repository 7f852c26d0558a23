#!/usr/bin/env bash
# Quick start, step 2 (and CI): install test dependencies if missing, then run
# the whole test suite in release mode (the physics tests integrate ODEs).
set -euo pipefail
cd "$(dirname "$0")/.."
QBSIM_NEED_H5PY=1 source scripts/deps.sh
cargo test --release "$@"

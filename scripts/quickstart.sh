#!/usr/bin/env bash
# Quick start, step 1: install build dependencies if missing, build qbsim in
# release mode, and run the paper's Fig. 3 preset (reduced-model trace at the
# Fig. 3(d) broken point, the gamma_b = 0.5 phase diagram and its marker traces).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
cargo build --release
./target/release/qbsim run configs/paper/fig3a.toml -o fig3a.h5

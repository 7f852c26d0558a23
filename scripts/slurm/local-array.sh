#!/usr/bin/env bash
# Run the same job array as scripts/slurm/sweep.sbatch sequentially on one
# machine, with the Slurm variables set as Slurm would, then merge:
#   scripts/slurm/local-array.sh N CONFIG OUT.h5
# For people without a cluster, and used by the test suite.
set -euo pipefail
N=${1:?usage: local-array.sh N CONFIG OUT.h5}
CONFIG=${2:?usage: local-array.sh N CONFIG OUT.h5}
OUT=${3:?usage: local-array.sh N CONFIG OUT.h5}
here=$(cd "$(dirname "$0")" && pwd)
QBSIM=${QBSIM:-$here/../../target/release/qbsim}
export QBSIM
for ((i = 0; i < N; i++)); do
    SLURM_ARRAY_TASK_ID=$i SLURM_ARRAY_TASK_MIN=0 SLURM_ARRAY_TASK_COUNT=$N \
        SLURM_CPUS_PER_TASK=${SLURM_CPUS_PER_TASK:-$(nproc)} \
        bash "$here/sweep.sbatch" "$CONFIG" "$OUT"
done
bash "$here/merge.sbatch" "$OUT" "$N"

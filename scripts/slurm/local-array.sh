#!/usr/bin/env bash
# Run the same job array as scripts/slurm/sweep.sbatch sequentially on one
# machine, with the Slurm array variables set as Slurm sets them, then merge:
#   scripts/slurm/local-array.sh N CONFIG OUT.h5 [STEP]
# emulates `sbatch --array=0-$(((N-1)*STEP)):STEP` (N tasks, task IDs 0, STEP,
# 2*STEP, ...; STEP defaults to 1). For people without a cluster, and used by
# the test suite. JOB=trajectories runs scripts/slurm/trajectories.sbatch (the
# shards of a trajectory run) instead of sweep.sbatch; QBSIM_SUBCOMMAND=validate
# or steady makes sweep.sbatch run that command's [sweep] (a validity map).
set -euo pipefail
usage="usage: local-array.sh N CONFIG OUT.h5 [STEP]"
N=${1:?$usage}
CONFIG=${2:?$usage}
OUT=${3:?$usage}
STEP=${4:-1}
here=$(cd "$(dirname "$0")" && pwd)
QBSIM=${QBSIM:-$here/../../target/release/qbsim}
export QBSIM
for ((i = 0; i < N; i++)); do
    SLURM_ARRAY_TASK_ID=$((i * STEP)) SLURM_ARRAY_TASK_MIN=0 SLURM_ARRAY_TASK_MAX=$(((N - 1) * STEP)) \
        SLURM_ARRAY_TASK_STEP=$STEP SLURM_ARRAY_TASK_COUNT=$N \
        SLURM_CPUS_PER_TASK=${SLURM_CPUS_PER_TASK:-$(nproc)} \
        bash "$here/${JOB:-sweep}.sbatch" "$CONFIG" "$OUT"
done
bash "$here/merge.sbatch" "$OUT" "$N"

#!/usr/bin/env bash
# Study 2 at make train's recipe: ns vs hinge vs LSGAN, experiment=study_digits (= digits_dcgan, 8000 steps), one
# thread per run, JOBS runs side by side (default 2), SEEDS (default "0 1 2"); user, system and wall seconds of each
# run in <out>/<loss>_s<seed>.time.txt.
#   experiments/digits_losses/run_study.sh [out dir, default multirun/study_digits] [losses, default "ns hinge lsgan"]
# then: gan-compare <out dir> --out experiments/digits_losses --reference real-vs-real=1.774
set -euo pipefail
out=${1:-multirun/study_digits}
losses=${2:-ns hinge lsgan}
runs=()
for seed in ${SEEDS:-0 1 2}; do
  for loss in $losses; do runs+=("${loss}_s$seed experiment=study_digits loss=$loss seed=$seed"); done
done
JOBS=${JOBS:-2} exec "$(dirname "$0")/../run_jobs.sh" "$out" "${runs[@]}"

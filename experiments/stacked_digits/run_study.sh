#!/usr/bin/env bash
# The stacked-digits study: PacDCGAN2 and DCGAN x seeds 0,1,2, one run at a time on one thread (JOBS=2: two side by
# side), CPU and wall seconds of each run (user, system, elapsed) in <out>/<preset>_s<seed>.time.txt
# (experiments/run_jobs.sh).
#   experiments/stacked_digits/run_study.sh [out dir, default multirun/stacked_digits] [global steps, default 2000] \
#       [steps between evaluations, default: one at the end]
# 2000 steps is RESULTS.md's CPU table; the presets themselves train 10,000, evaluated every 2500 (its GPU table).
set -euo pipefail
out=${1:-multirun/stacked_digits}
steps=${2:-2000}
eval_every=${3:-$steps}
runs=()
# PacDCGAN2 (the goal) before the remaining DCGAN seeds, so a cut-short session still has its three seeds.
# run_jobs.sh reads "<preset>:<seed> <overrides>" as "<preset>_s<seed> experiment=<preset> seed=<seed> <overrides>"
for job in stacked_pacdcgan2:0 stacked_dcgan:0 stacked_pacdcgan2:1 stacked_pacdcgan2:2 stacked_dcgan:1 stacked_dcgan:2; do
  runs+=("$job trainer.max_steps=$steps eval_every_n_steps=$eval_every")
done
exec "$(dirname "$0")/../run_jobs.sh" "$out" "${runs[@]}"

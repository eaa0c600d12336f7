#!/usr/bin/env bash
# The digits-at-the-floor study (RESULTS.md): `make train`'s preset and its class-conditional twin x seeds 0, 1, 2,
# one run at a time on one thread, CPU and wall seconds of each run (user, system, elapsed) in <dir>.time.txt.
#   experiments/digits_floor/run_study.sh [out dir, default multirun/digits_floor] [preset:seed ...]
set -euo pipefail
out=${1:-multirun/digits_floor}
shift || true
specs=("$@")
if [ ${#specs[@]} -eq 0 ]; then
  for preset in digits_dcgan digits_dcgan_cond; do for seed in 0 1 2; do specs+=("$preset:$seed"); done; done
fi
# run_jobs.sh reads <preset>:<seed> as "<preset>_s<seed> experiment=<preset> seed=<seed>"
exec "$(dirname "$0")/../run_jobs.sh" "$out" "${specs[@]}"

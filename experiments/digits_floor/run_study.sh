#!/usr/bin/env bash
# The digits-at-the-floor study (RESULTS.md): `make train`'s preset and its class-conditional twin x seeds 0, 1, 2,
# one run at a time on one thread, CPU and wall seconds of each run (user, system, elapsed) in <dir>.time.txt.
#   experiments/digits_floor/run_study.sh [out dir, default multirun/digits_floor] [preset:seed ...]
set -euo pipefail
out=${1:-multirun/digits_floor}
shift || true
jobs=("$@")
if [ ${#jobs[@]} -eq 0 ]; then
  for preset in digits_dcgan digits_dcgan_cond; do for seed in 0 1 2; do jobs+=("$preset:$seed"); done; done
fi
export OMP_NUM_THREADS=1
for job in "${jobs[@]}"; do
  preset=${job%:*} seed=${job#*:}
  dir=$out/${preset}_s$seed
  mkdir -p "$out"
  /usr/bin/time -f "%U %S %e" -o "$dir.time.txt" \
    .venv/bin/gan-train experiment="$preset" seed="$seed" trainer.enable_progress_bar=false hydra.run.dir="$dir" \
    > "$dir.log.txt" 2>&1
done

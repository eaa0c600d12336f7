#!/usr/bin/env bash
# Study 2 at make train's recipe: ns vs hinge vs LSGAN, seeds 0, 1, 2, experiment=study_digits (= digits_dcgan, 8000
# steps), one thread per run, JOBS runs side by side (default 2), SEEDS (default "0 1 2"); user, system and wall
# seconds of each run in <out>/<loss>_s<seed>.time.
#   experiments/digits_losses/run_study.sh [out dir, default multirun/study_digits] [losses, default "ns hinge lsgan"]
# then: gan-compare <out dir> --out experiments/digits_losses --reference real-vs-real=1.774
set -euo pipefail
out=${1:-multirun/study_digits}
losses=${2:-ns hinge lsgan}
mkdir -p "$out"
export OMP_NUM_THREADS=1
for seed in ${SEEDS:-0 1 2}; do
  for loss in $losses; do
    while [ "$(jobs -rp | wc -l)" -ge "${JOBS:-2}" ]; do sleep 5; done
    /usr/bin/time -f "%U %S %e" -o "$out/${loss}_s$seed.time" ${GAN_TRAIN:-.venv/bin/gan-train} experiment=study_digits \
      loss=$loss seed=$seed trainer.enable_progress_bar=false hydra.run.dir="$out/${loss}_s$seed" \
      > "$out/${loss}_s$seed.log" 2>&1 &
  done
done
wait

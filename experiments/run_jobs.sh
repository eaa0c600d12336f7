#!/usr/bin/env bash
# The studies' job runner (their run_study.sh build the job list): one gan-train run per job on one thread, JOBS runs
# side by side (default 1), each run in <out>/<name>, its log in <out>/<name>.log.txt and its user, system and wall
# seconds in <out>/<name>.time.txt.
#   experiments/run_jobs.sh <out dir> "<name> <override> <override> ..." ...
#   e.g. experiments/run_jobs.sh multirun/x "grid25_mlp_s0 experiment=grid25_mlp seed=0"
# GAN_TRAIN replaces .venv/bin/gan-train (GAN_TRAIN=echo prints the commands).
set -euo pipefail
out=$1
shift
export OMP_NUM_THREADS=1
pids=()
for job in "$@"; do
  read -r -a words <<< "$job"
  dir=$out/${words[0]}
  mkdir -p "$(dirname "$dir")"
  # wait <pid> returns that run's status even if it already ended: a failed run stops the study (set -e)
  if [ ${#pids[@]} -ge "${JOBS:-1}" ]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
  /usr/bin/time -f "%U %S %e" -o "$dir.time.txt" ${GAN_TRAIN:-.venv/bin/gan-train} "${words[@]:1}" \
    trainer.enable_progress_bar=false hydra.run.dir="$dir" > "$dir.log.txt" 2>&1 &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done

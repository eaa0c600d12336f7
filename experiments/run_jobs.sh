#!/usr/bin/env bash
# The studies' job runner (their run_study.sh build the job list): one gan-train run per job on one thread, JOBS runs
# side by side (default 1), each run in <out>/<name>, its log in <out>/<name>.log.txt and its user, system and wall
# seconds in <out>/<name>.time.txt.
#   experiments/run_jobs.sh <out dir> "<name> <override> <override> ..." ...
#   e.g. experiments/run_jobs.sh multirun/x "grid25_mlp_s0 experiment=grid25_mlp seed=0"
# GAN_TRAIN replaces .venv/bin/gan-train (GAN_TRAIN=echo writes each job's overrides to its log). RUN_TIMEOUT=<s>
# stops each run after that many seconds with SIGTERM, which saves last.ckpt (gan/train/signals.py): such a run
# counts as finished, any other failed run stops the study. Without GNU time (/usr/bin/time, absent on some device
# machines) the runs go untimed, with a warning.
set -euo pipefail
out=$1
shift
export OMP_NUM_THREADS=1
timeout_s=${RUN_TIMEOUT:-0}  # timeout 0: no limit
pids=()
# wait <pid> returns that run's status even if it already ended; 124 is timeout's "stopped at RUN_TIMEOUT"
wait_run() { local rc=0; wait "$1" || rc=$?; if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ]; then exit "$rc"; fi; }
timed=1
[ -x /usr/bin/time ] || { timed=0; echo "run_jobs.sh: /usr/bin/time not found, no <name>.time.txt" >&2; }
for job in "$@"; do
  # -d '': the whole job, newlines included, split on any whitespace (read returns 1 at its end)
  read -r -d '' -a words <<< "$job" || true
  dir=$out/${words[0]}
  mkdir -p "$(dirname "$dir")"
  timer=()
  [ "$timed" = 1 ] && timer=(/usr/bin/time -f "%U %S %e" -o "$dir.time.txt")
  if [ ${#pids[@]} -ge "${JOBS:-1}" ]; then wait_run "${pids[0]}"; pids=("${pids[@]:1}"); fi
  "${timer[@]}" timeout "$timeout_s" ${GAN_TRAIN:-.venv/bin/gan-train} "${words[@]:1}" \
    trainer.enable_progress_bar=false hydra.run.dir="$dir" > "$dir.log.txt" 2>&1 &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait_run "$pid"; done

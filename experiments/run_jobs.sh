#!/usr/bin/env bash
# The studies' job runner (their run_study.sh build the job list): one gan-train run per job on one thread, JOBS runs
# side by side (default 1; a new one starts as soon as any finishes), each run in <out>/<name>, its log in
# <out>/<name>.log.txt and its user, system and wall seconds in <out>/<name>.time.txt.
#   experiments/run_jobs.sh <out dir> "<name> <override> <override> ..." ...
#   e.g. experiments/run_jobs.sh multirun/x "grid25_mlp_s0 experiment=grid25_mlp seed=0" "ring8_mlp:1"
# A job starting <preset>:<seed> is short for "<preset>_s<seed> experiment=<preset> seed=<seed>" (overrides may follow).
# GAN_TRAIN replaces .venv/bin/gan-train (GAN_TRAIN=echo writes each job's overrides to its log). RUN_TIMEOUT=<s>
# stops each run after that many seconds with SIGTERM, which saves last.ckpt (gan/train/signals.py): such a run
# counts as finished. Any other failed run stops the study: no new run starts, the ones running finish (their
# results are kept), and the script exits with the failed run's status. Without GNU time (/usr/bin/time, absent on
# some device machines) the runs go untimed, with a warning.
set -euo pipefail
if [ "${BASH_VERSINFO[0]}" -lt 5 ] || { [ "${BASH_VERSINFO[0]}" -eq 5 ] && [ "${BASH_VERSINFO[1]}" -lt 1 ]; }; then
  echo "run_jobs.sh: needs bash >= 5.1 (wait -n -p), this is $BASH_VERSION" >&2
  exit 2
fi
out=$1
shift
export OMP_NUM_THREADS=1
timeout_s=${RUN_TIMEOUT:-0}  # timeout 0: no limit
declare -A names=()          # pid -> job name, for the failure message
running=0 failed=0
# wait for any one run; 124 is timeout's "stopped at RUN_TIMEOUT"
reap() {
  local pid rc=0
  wait -n -p pid || rc=$?
  running=$((running - 1))
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && [ "$failed" -eq 0 ]; then
    failed=$rc
    echo "run_jobs.sh: ${names[$pid]} failed (exit $rc, log: $out/${names[$pid]}.log.txt); no new runs start" >&2
  fi
}
# Every job to "<name> <override> ...", checked before the first run starts, so a typo in the last job does not
# surface hours in (a bare word would train the default config). -d '': the whole job, newlines included, split on
# any whitespace (read returns 1 at its end).
jobs=()
for job in "$@"; do
  read -r -d '' -a words <<< "$job" || true
  if [[ ${words[0]:-} =~ ^([A-Za-z0-9_]+):([0-9]+)$ ]]; then
    words=("${BASH_REMATCH[1]}_s${BASH_REMATCH[2]}" "experiment=${BASH_REMATCH[1]}" "seed=${BASH_REMATCH[2]}"
           "${words[@]:1}")
  elif [ ${#words[@]} -lt 2 ]; then
    echo "run_jobs.sh: job '$job' is neither '<name> <override> ...' nor '<preset>:<seed> [<override> ...]';" \
      "nothing started" >&2
    exit 2
  fi
  jobs+=("${words[*]}")
done
timed=1
[ -x /usr/bin/time ] || { timed=0; echo "run_jobs.sh: /usr/bin/time not found, no <name>.time.txt" >&2; }
for job in "${jobs[@]}"; do
  read -r -a words <<< "$job"
  while [ "$running" -ge "${JOBS:-1}" ]; do reap; done
  [ "$failed" -eq 0 ] || break
  dir=$out/${words[0]}
  mkdir -p "$(dirname "$dir")"
  timer=()
  [ "$timed" = 1 ] && timer=(/usr/bin/time -f "%U %S %e" -o "$dir.time.txt")
  "${timer[@]}" timeout "$timeout_s" ${GAN_TRAIN:-.venv/bin/gan-train} "${words[@]:1}" \
    trainer.enable_progress_bar=false hydra.run.dir="$dir" > "$dir.log.txt" 2>&1 &
  names[$!]=${words[0]}
  running=$((running + 1))
done
while [ "$running" -gt 0 ]; do reap; done
exit "$failed"

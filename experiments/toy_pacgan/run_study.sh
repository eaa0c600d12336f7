#!/usr/bin/env bash
# The toy study (RESULTS.md): the four PacGAN presets x seeds 0, 1, 2, one run at a time on one thread, with the
# CPU and wall seconds of each run (user, system, elapsed) in <out>/<preset>_s<seed>.time.txt. Two copies with
# disjoint job lists use two cores:
#   experiments/toy_pacgan/run_study.sh multirun/toy_study grid25_mlp:0 ring8_mlp:0 ...
#   experiments/toy_pacgan/run_study.sh                      # all 12 runs, one after another
# then: gan-compare multirun/toy_study --by-protocol --metric hq_fraction   (groups: the presets, which differ)
set -euo pipefail
out=${1:-multirun/toy_study}
shift || true
specs=("$@")
if [ ${#specs[@]} -eq 0 ]; then
  for seed in 0 1 2; do
    for preset in grid25_mlp ring8_mlp grid25_pacgan4 ring8_pacgan2; do specs+=("$preset:$seed"); done
  done
fi
# run_jobs.sh reads <preset>:<seed> as "<preset>_s<seed> experiment=<preset> seed=<seed>"
exec "$(dirname "$0")/../run_jobs.sh" "$out" "${specs[@]}"

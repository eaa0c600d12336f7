#!/usr/bin/env bash
# DCGAN vs ResNet-SN, unconditional vs conditional, on the bundled digits (issue 13; RESULTS.md): 4 arms x seeds
# 0, 1, 2, 4000 global steps each, evaluation every 500 under the digits classifier protocol.
#   experiments/architectures/run_study.sh [out dir, default multirun/architectures] [extra gan-train overrides ...]
#   experiments/architectures/run_study.sh multirun/architectures trainer=gpu     # as RESULTS.md was made
# then: gan-compare <out dir> --out experiments/architectures/compare --reference real-vs-real=1.774
# On the 2-core CPU one run of the ResNet-SN arms takes about 40 CPU minutes (1.0 CPU s per D+G iteration); the
# RESULTS.md runs were made side by side on a lent GPU (experiments/benchmark/gpu_studies.sh).
# PARALLEL=1 starts the 12 runs at once (one GPU shared, or a many-core machine); RUN_TIMEOUT=<s> stops each run
# after that many seconds (SIGTERM saves last.ckpt).
# The DCGAN arms pin make train's recipe as it was when RESULTS.md was made (stop 20: D width 32, batch 64, R1 every
# 4th D step, lr ramp-down to 0, single-tensor Adam, NCHW); the preset has moved on since
# (conf/experiment/digits_dcgan.yaml).
set -euo pipefail
dcgan_stop20=(model.discriminator.width=32 data.batch_size=64 loss.r1_every=4 optim.lr_decay.final=0.0
              optim.generator.fused=false optim.discriminator.fused=false speed.channels_last=false)
out=${1:-multirun/architectures}
shift || true
mkdir -p "$out"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
for arm in dcgan dcgan_cond resnet_sn resnet_sn_cond; do
  case $arm in
    dcgan) args=(experiment=digits_dcgan "${dcgan_stop20[@]}") ;;
    dcgan_cond) args=(experiment=digits_dcgan_cond "${dcgan_stop20[@]}") ;;
    resnet_sn) args=(experiment=digits_resnet_sn) ;;
    resnet_sn_cond) args=(experiment=digits_resnet_sn model.num_classes=10) ;;
  esac
  for seed in 0 1 2; do
    timeout "${RUN_TIMEOUT:-0}" ${GAN_TRAIN:-.venv/bin/gan-train} "${args[@]}" seed=$seed trainer.max_steps=4000 \
      eval_every_n_steps=500 trainer.enable_progress_bar=false hydra.run.dir="$out/arch_${arm}_s$seed" "$@" \
      > "$out/arch_${arm}_s$seed.log" 2>&1 &
    [ "${PARALLEL:-0}" = 1 ] || wait $!
  done
done
wait

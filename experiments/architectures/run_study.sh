#!/usr/bin/env bash
# DCGAN vs ResNet-SN, unconditional vs conditional, on the bundled digits (issue 13; RESULTS.md): 4 arms x seeds
# 0, 1, 2, 4000 global steps each, evaluation every 500 under the digits classifier protocol, through
# experiments/run_jobs.sh (<out>/arch_<arm>_s<seed> with .log.txt and .time.txt beside it).
#   experiments/architectures/run_study.sh [out dir, default multirun/architectures] [extra gan-train overrides ...]
#   experiments/architectures/run_study.sh multirun/architectures trainer=gpu     # as RESULTS.md was made
# then: gan-compare <out dir> --out experiments/architectures/compare --reference real-vs-real=1.774
# On the 2-core CPU one run of the ResNet-SN arms takes about 40 CPU minutes (1.0 CPU s per D+G iteration); the
# RESULTS.md runs were made side by side on a lent GPU (experiments/benchmark/gpu_studies.sh).
# JOBS=12 starts the 12 runs at once (one GPU shared, or a many-core machine); RUN_TIMEOUT=<s> stops each run
# after that many seconds (SIGTERM saves last.ckpt).
# The DCGAN arms pin make train's recipe as it was when RESULTS.md was made (stop 20: non-saturating loss, D width
# 32, batch 64, R1 every 4th D step, lr ramp-down to 0, single-tensor Adam, NCHW); the preset has moved on since
# (conf/experiment/digits_dcgan.yaml).
set -euo pipefail
dcgan_stop20="loss=ns model.discriminator.width=32 data.batch_size=64 loss.r1_every=4 optim.lr_decay.final=0.0
              optim.generator.fused=false optim.discriminator.fused=false speed.channels_last=false
              model.latent_codes=0"
out=${1:-multirun/architectures}
shift || true
runs=()
for arm in dcgan dcgan_cond resnet_sn resnet_sn_cond; do
  case $arm in
    dcgan) args="experiment=digits_dcgan $dcgan_stop20" ;;
    dcgan_cond) args="experiment=digits_dcgan_cond $dcgan_stop20" ;;
    resnet_sn) args="experiment=digits_resnet_sn" ;;
    resnet_sn_cond) args="experiment=digits_resnet_sn model.num_classes=10" ;;
  esac
  for seed in 0 1 2; do
    runs+=("arch_${arm}_s$seed $args seed=$seed trainer.max_steps=4000 eval_every_n_steps=500 $*")
  done
done
exec "$(dirname "$0")/../run_jobs.sh" "$out" "${runs[@]}"

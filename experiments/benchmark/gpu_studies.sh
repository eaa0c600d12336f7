#!/usr/bin/env bash
# One lease of a lent GPU machine for the runs that are too long for the 2-core CPU, all side by side on the one GPU:
#   1. experiments/architectures: DCGAN vs ResNet-SN, unconditional vs conditional, digits, 3 seeds, 4000 global
#      steps each (issue 13);
#   2. experiments/styles: the digits StyleGAN-lite (experiment=digits_stylegan) and its texture fine-tune
#      (experiment=finetune_textures_stylegan), exported for gan-blend / gan-project / style mixing on the CPU
#      (issue 14). Run 2026-11-26 when model=stylegan still used the residual D of model=resnet_sn: it reached FID 68
#      at 3000 steps, which led to gpu_stylegan_variants.sh and the DCGAN D of gpu_stylegan_final.sh.
# A smoke run of model=stylegan on CUDA goes first. `timeout` stops a run that outlasts its slot with SIGTERM, which
# saves last.ckpt (gan/train/signals.py), so a cut run still leaves its evaluations and a checkpoint.
# The device machine has torch/lightning/torchmetrics but no hydra: hydra-core, omegaconf and antlr4 travel in
# .devsite/ (copied from .venv's site-packages). Everything comes back as one tarball under $OUT.
#   run(command="bash experiments/benchmark/gpu_studies.sh", carry=[".devsite", ".cache"], timeout_s=500)
set -u
export PYTHONPATH="$PWD:$PWD/.devsite" PYTHONUNBUFFERED=1 GAN_CACHE_DIR="$PWD/.cache/gan" OMP_NUM_THREADS=1
OUT=${OUT:-/tmp/gpu_studies_out}
ARCH_SLOT=${ARCH_SLOT:-330}
mkdir -p "$OUT" runs
T0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - T0 )) s] $*"; }
TRAIN=(python3 -m gan.cli.train trainer=gpu trainer.precision=32-true trainer.enable_progress_bar=false)

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, lightning, torchmetrics, hydra; print('torch', torch.__version__, 'lightning', lightning.__version__, 'torchmetrics', torchmetrics.__version__, 'hydra', hydra.__version__, 'cuda', torch.cuda.is_available())"
nproc

stamp smoke stylegan
timeout 90 "${TRAIN[@]}" experiment=digits_stylegan trainer.max_steps=10 metrics=none hydra.run.dir=runs/smoke \
  > runs/smoke.log 2>&1
echo "smoke rc=$?"; tail -n 3 runs/smoke.log

stamp architecture study and stylegan runs
pids=()
JOBS=12 RUN_TIMEOUT=$ARCH_SLOT GAN_TRAIN="python3 -m gan.cli.train" \
  bash experiments/architectures/run_study.sh runs "${TRAIN[@]:3}" & pids+=($!)
(
  timeout 220 "${TRAIN[@]}" experiment=digits_stylegan seed=0 trainer.max_steps=8000 eval_every_n_steps=1000 \
    hydra.run.dir=runs/style_digits > runs/style_digits.log 2>&1
  echo "style_digits rc=$?" >> runs/style_digits.log
  timeout 100 "${TRAIN[@]}" experiment=finetune_textures_stylegan seed=0 init_from=runs/style_digits \
    trainer.max_steps=800 eval_every_n_steps=200 hydra.run.dir=runs/style_textures > runs/style_textures.log 2>&1
  echo "style_textures rc=$?" >> runs/style_textures.log
) & pids+=($!)
for pid in "${pids[@]}"; do wait "$pid"; done
stamp runs done

mkdir -p exports
for run in style_digits style_textures arch_dcgan_s0; do
  python3 -m gan.cli.export "runs/$run/checkpoints/last.ckpt" -o "exports/$run.pt" > "runs/export_$run.log" 2>&1 \
    || tail -n 5 "runs/export_$run.log"
done
for log in runs/*.log runs/*.log.txt; do echo "== $log"; grep -E "rc=|Error|error" "$log" | tail -n 3; done
tar czf "$OUT/gpu_studies.tar.gz" --exclude='*.ckpt' --exclude='tensorboard' runs exports
ls -la "$OUT"
stamp done

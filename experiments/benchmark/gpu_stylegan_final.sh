#!/usr/bin/env bash
# Third lease of the round (the last ~4 minutes of device time): experiment=digits_stylegan as committed (DCGAN D
# without batch norm, chosen on the CPU after gpu_stylegan_variants.sh), then its texture fine-tune, both exported
# for the CPU-side style studies (experiments/styles). Each stage packs what it has into $OUT at once, so a call cut
# short still returns the finished stages.
#   run(command="bash experiments/benchmark/gpu_stylegan_final.sh", carry=[".devsite", ".cache"], timeout_s=230)
set -u
export PYTHONPATH="$PWD:$PWD/.devsite" PYTHONUNBUFFERED=1 GAN_CACHE_DIR="$PWD/.cache/gan" OMP_NUM_THREADS=4
OUT=${OUT:-/tmp/gpu_stylegan_final_out}
mkdir -p "$OUT" runs exports
T0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - T0 )) s] $*"; }
TRAIN=(python3 -m gan.cli.train trainer=gpu trainer.precision=32-true trainer.enable_progress_bar=false seed=0)
pack() { tar czf "$OUT/stylegan_$1.tar.gz" --exclude='*.ckpt' --exclude='tensorboard' runs exports; }

stamp digits
timeout 140 "${TRAIN[@]}" experiment=digits_stylegan trainer.max_steps=4000 eval_every_n_steps=1000 \
  hydra.run.dir=runs/style_digits > runs/style_digits.log 2>&1
echo "digits rc=$?"; grep -E "^\s*fid|best" runs/style_digits.log | tail -n 3
python3 -m gan.cli.export runs/style_digits/checkpoints/last.ckpt -o exports/style_digits.pt > /dev/null 2>&1
pack digits
stamp textures
timeout 45 "${TRAIN[@]}" experiment=finetune_textures_stylegan init_from=runs/style_digits trainer.max_steps=600 \
  eval_every_n_steps=200 hydra.run.dir=runs/style_textures > runs/style_textures.log 2>&1
echo "textures rc=$?"
python3 -m gan.cli.export runs/style_textures/checkpoints/last.ckpt -o exports/style_textures.pt > /dev/null 2>&1
pack textures
stamp done

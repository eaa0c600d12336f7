#!/usr/bin/env bash
# Second lease of the round (after gpu_studies.sh): what the digits StyleGAN-lite needs. gpu_studies.sh trained it with
# the spectrally normalised ResNet D of model=resnet_sn and reached FID 68 at 3000 steps (DCGAN: 2.2) with recall 0.
# Variants side by side on the one GPU, 5000 global steps each, then the best (lowest last FID) is fine-tuned to the
# textures and both are exported for the CPU-side style studies (experiments/styles).
#   run(command="bash experiments/benchmark/gpu_stylegan_variants.sh", carry=[".devsite", ".cache"], timeout_s=360)
set -u
export PYTHONPATH="$PWD:$PWD/.devsite" PYTHONUNBUFFERED=1 GAN_CACHE_DIR="$PWD/.cache/gan" OMP_NUM_THREADS=1
OUT=${OUT:-/tmp/gpu_stylegan_out}
mkdir -p "$OUT" runs exports
T0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - T0 )) s] $*"; }
TRAIN=(python3 -m gan.cli.train trainer=gpu trainer.precision=32-true trainer.enable_progress_bar=false
       experiment=digits_stylegan seed=0 trainer.max_steps=5000 eval_every_n_steps=1000)

stamp variants
pids=()
while read -r name args; do
  # shellcheck disable=SC2086
  timeout 210 "${TRAIN[@]}" $args hydra.run.dir=runs/sg_$name > "runs/sg_$name.log" 2>&1 & pids+=($!)
done <<CONFIGS
default
r1_0.1 loss.r1_weight=0.1
gwidth32 model.generator.width=32
nomix model.generator.style_mixing_prob=0
lr1e-3 optim.generator.lr=1e-3 optim.discriminator.lr=1e-3
sn model.discriminator.spectral_norm=true
r1_4 loss.r1_weight=4
CONFIGS
for pid in "${pids[@]}"; do wait "$pid"; done
stamp variants done
best=$(python3 - <<'EOF'
import csv, glob
last = {}
for path in glob.glob("runs/sg_*/metrics.csv"):
    rows = [r for r in csv.DictReader(open(path)) if r.get("fid")]
    if rows:
        last[path.split("/")[1]] = float(rows[-1]["fid"])
        print("#", path.split("/")[1], [round(float(r["fid"]), 2) for r in rows], flush=True)
print(min(last, key=last.get))
EOF
)
echo "$best" | grep '^#'
best=$(echo "$best" | tail -n 1)
stamp best "$best"
timeout 75 python3 -m gan.cli.train trainer=gpu trainer.precision=32-true trainer.enable_progress_bar=false \
  experiment=finetune_textures_stylegan seed=0 init_from=runs/$best trainer.max_steps=600 eval_every_n_steps=200 \
  hydra.run.dir=runs/${best}_textures > runs/finetune.log 2>&1
echo "finetune rc=$?"
for run in "$best" "${best}_textures"; do
  python3 -m gan.cli.export "runs/$run/checkpoints/last.ckpt" -o "exports/$run.pt" > /dev/null 2>&1 || echo "export $run failed"
done
tar czf "$OUT/gpu_stylegan.tar.gz" --exclude='*.ckpt' --exclude='tensorboard' runs exports
ls -la "$OUT"
stamp done

#!/usr/bin/env bash
# One lease of a lent GPU machine (H100/H200), everything that only a GPU shows, in one call:
#   1. a 20-step smoke run of `make train`'s preset on CUDA (the stack works there at all);
#   2. quality runs that are cheap on a GPU: stacked digits DCGAN and PacDCGAN2 at 10k global steps x 3 seeds
#      (experiments/stacked_digits), and `make train`'s preset in fp32 vs bf16-mixed autocast (does AMP cost FID?);
#   3. `python -m gan.bench device=cuda`: throughput per speed switch (fp32, channels_last, compile, bf16), alone on
#      the GPU so that the quality runs do not share it.
# The device machine has torch/lightning/torchmetrics but no hydra: hydra-core, omegaconf and antlr4 (pure Python)
# travel in .devsite/ (copied from .venv's site-packages). Results come back under $OUT.
#   run(command="bash experiments/benchmark/gpu_check.sh", carry=[".devsite", ".cache"])
set -u
export PYTHONPATH="$PWD:$PWD/.devsite" PYTHONUNBUFFERED=1 GAN_CACHE_DIR="$PWD/.cache/gan" OMP_NUM_THREADS=1
OUT=${OUT:-/tmp/gpu_check_out}
mkdir -p "$OUT" runs
T0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - T0 )) s] $*"; }

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, lightning, torchmetrics, hydra; print('torch', torch.__version__, 'lightning', lightning.__version__, 'torchmetrics', torchmetrics.__version__, 'hydra', hydra.__version__, 'cuda', torch.cuda.is_available())"
nproc

stamp smoke
timeout 120 python3 -m gan.cli.train experiment=digits_dcgan trainer=gpu trainer.max_steps=20 metrics=none \
  trainer.enable_progress_bar=false hydra.run.dir=runs/smoke > "$OUT/smoke.log" 2>&1
rc=$?; echo "smoke rc=$rc"; tail -n 5 "$OUT/smoke.log"
[ "$rc" -eq 0 ] || { tail -n 40 "$OUT/smoke.log"; exit 1; }  # nothing else can work: stop before the long part

# make train's candidate recipe (conf/experiment/digits_dcgan.yaml) on CUDA, fp32 vs bf16 autocast, seed 0
DIGITS=(experiment=digits_dcgan trainer=gpu trainer.enable_progress_bar=false seed=0 model.generator.width=16
        optim.generator.lr=2e-3 optim.discriminator.lr=2e-3 'optim.generator.betas=[0.0,0.99]'
        'optim.discriminator.betas=[0.0,0.99]' loss.r1_weight=1 loss.r1_every=4 model.ema.rampup=0.03
        trainer.max_steps=4000 eval_every_n_steps=500)
stamp quality runs
pids=()
for prec in 32-true bf16-mixed; do
  timeout 270 python3 -m gan.cli.train "${DIGITS[@]}" trainer.precision=$prec hydra.run.dir=runs/digits_$prec \
    > "runs/digits_$prec.log" 2>&1 & pids+=($!)
done
for preset in stacked_dcgan stacked_pacdcgan2; do
  for seed in 0 1 2; do
    timeout 270 python3 -m gan.cli.train experiment=$preset seed=$seed trainer=gpu trainer.precision=32-true \
      trainer.max_steps=10000 eval_every_n_steps=2500 hydra.run.dir=runs/${preset}_s$seed \
      > "runs/${preset}_s$seed.log" 2>&1 & pids+=($!)
  done
done
# meanwhile on the machine's spare CPU cores: single-seed toy tuning runs (experiments/toy_pacgan/tune.py, one thread
# each) for the questions the presets depend on (lr decay at the end, batch, D unit and width, packing)
TUNE=(python3 experiments/toy_pacgan/tune.py --g_steps 12000 --eval_every 2000 --lr_g 5e-4 --lr_d 5e-4
      --unit leaky_relu --variants G,avg:0.999:0.1,own:0.999:0.1,copy:0.999:0.1)
i=0
while read -r name args; do
  timeout 270 "${TUNE[@]}" $args > "runs/tune_$name.jsonl" 2>&1 & pids+=($!)
done <<'CONFIGS'
grid_b50_d3 --batch 50 --lr_decay_frac 0.3
grid_b50_d5 --batch 50 --lr_decay_frac 0.5
grid_b100_d3 --batch 100 --lr_decay_frac 0.3
grid_maxout_d3 --batch 50 --lr_decay_frac 0.3 --unit maxout
grid_lr1e3_d5 --batch 50 --lr_decay_frac 0.5 --lr_g 1e-3 --lr_d 1e-3
grid_dh400_d3 --batch 50 --lr_decay_frac 0.3 --d_hidden 400
grid_pack4_d3 --batch 200 --pack 4 --per_sample_init 1 --lr_decay_frac 0.3
ring_pack2_d3 --data ring8 --batch 100 --pack 2 --per_sample_init 1 --lr_decay_frac 0.3
CONFIGS
for p in "${pids[@]}"; do wait "$p"; echo "pid $p rc=$?"; done
stamp quality runs done

tar czf "$OUT/runs.tar.gz" --exclude='*.ckpt' --exclude='tensorboard' runs

stamp bench
timeout 200 python3 -m gan.bench device=cuda train.repeats=4 json_out="$OUT/bench_cuda.json" > "$OUT/bench_cuda.txt" 2>&1
echo "bench rc=$?"; tail -n 30 "$OUT/bench_cuda.txt"

# run records (no checkpoints) in one archive, again with the bench's
tar czf "$OUT/runs.tar.gz" --exclude='*.ckpt' --exclude='tensorboard' runs
stamp done

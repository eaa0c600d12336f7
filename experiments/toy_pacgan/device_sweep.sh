#!/bin/bash
# One-thread tune.py runs side by side on the lent machine's 16 cores (seed 0 unless said); results to $OUT.
#   bash experiments/toy_pacgan/device_sweep.sh 2     # sweep 2; LIMIT=<s> caps each run
cd "$(dirname "$0")/../.." 2>/dev/null || true
export PYTHONPATH=$PWD OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONUNBUFFERED=1
T=experiments/toy_pacgan/tune.py
B="--data grid25 --unit maxout --batch 50 --lr_g 5e-4 --lr_d 5e-4 --lr_decay_frac 0.3 --g_steps 12000 --eval_every 2000 --variants G,avg:0.999:0.1"
P="--data grid25 --unit leaky_relu --pack 4 --shared_layers 2 --batch 200 --lr_g 5e-4 --lr_d 5e-4 --lr_decay_frac 0.3 --g_steps 15000 --eval_every 2500 --variants G,avg:0.999:0.1"
R=/tmp/res; mkdir -p $R
run() { name=$1; shift; timeout ${LIMIT:-530} python3 $T "$@" > $R/$name.jsonl 2> $R/$name.err & }
nproc; lscpu | grep "Model name"
case "${1:-1}" in
1)
run base $B
run base_s1 $B --seed 1
run foreach $B --foreach 1
run topk50 $B --topk_min 0.5
run topk50_s1 $B --topk_min 0.5 --seed 1
run topk75 $B --topk_min 0.75
run z8 $B --latent_dim 8
run z8_s1 $B --latent_dim 8 --seed 1
run z32 $B --latent_dim 32
run b2_09 $B --beta2 0.9
run sg2betas $B --beta1 0 --beta2 0.99
run decay50 $B --lr_decay_frac 0.5
run lrg1e3 $B --lr_g 1e-3
run pac4 $P
run pac4_topk50 $P --topk_min 0.5
;;
2)
run base24k $B --g_steps 24000 --eval_every 4000
run base24k_s1 $B --g_steps 24000 --eval_every 4000 --seed 1
run r1_01 $B --r1 0.1 --r1_every 4
run r1_1 $B --r1 1 --r1_every 4
run r1_1_s1 $B --r1 1 --r1_every 4 --seed 1
run r1_10 $B --r1 10 --r1_every 4
run dh400 $B --d_hidden 400
run dh400_leaky $B --d_hidden 400 --unit leaky_relu
run b100 $B --batch 100
run b100_lr1e3 $B --batch 100 --lr_g 1e-3 --lr_d 1e-3
run lr1e3_decay50 $B --lr_g 1e-3 --lr_d 1e-3 --lr_decay_frac 0.5
run lrg1e3_decay50 $B --lr_g 1e-3 --lr_decay_frac 0.5
run lrd2e4 $B --lr_d 2e-4
run pac4_r1_1 $P --r1 1 --r1_every 4
run pac4_lrg1e3 $P --lr_g 1e-3
;;
esac
wait
for f in $R/*.jsonl; do echo "== $(basename $f .jsonl)"; cat $f; done > $OUT/sweep.txt
for f in $R/*.err; do echo "== $f"; tail -3 $f; done > $OUT/errs.txt
cat $OUT/sweep.txt | grep -v loss_d | tail -60

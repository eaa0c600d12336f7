#!/usr/bin/env bash
# The styles study (issue 14; RESULTS.md), on the CPU from the two StyleGAN-lite exports in models/ (trained on a lent
# GPU by experiments/benchmark/gpu_stylegan_final.sh; to remake them on the CPU:
#   gan-train experiment=digits_stylegan hydra.run.dir=outputs/style_digits
#   gan-train experiment=finetune_textures_stylegan init_from=outputs/style_digits hydra.run.dir=outputs/style_textures
#   gan-export outputs/style_digits -o models/style_digits.pt; gan-export outputs/style_textures -o models/style_textures.pt
# ). Writes into experiments/styles/: style-mix grids, a blend sweep (exports in blends/, FID of each against both
# parents' data in eval/), sample grids of the blends, restyled held-out digits, and the projection study.
#   experiments/styles/run_study.sh
set -euo pipefail
here=experiments/styles
A=$here/models/style_digits.pt B=$here/models/style_textures.pt
bin=.venv/bin
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
mkdir -p "$here/blends" "$here/eval" "$here/png" "$here/inputs"

# 1. style mixing: row seeds 1-5 give the coarse (or coarse + middle) styles, column seeds 6-10 the rest
for crossover in coarse middle fine; do
  $bin/gan-sample ckpt=$A mode=style_mix seeds=1-5 col_seeds=6-10 style_mix.crossover=$crossover upscale=2 \
    out=$here/png/style_mix_digits_$crossover > /dev/null
done

# 2. the blend sweep: every synthesis tensor and the mapping (1 - alpha) A + alpha B (alpha 0 and 1: the parents
#    exactly), and Pinkney & Adler's layer swaps (sides <= R from the digits model, above from the textures model)
blends=()
for alpha in 0 0.25 0.5 0.75 1; do
  $bin/gan-blend $A $B -o $here/blends/alpha_$alpha.pt --alpha $alpha --mapping alpha > /dev/null
  blends+=(alpha_$alpha)
done
for res in 4 8 16; do
  $bin/gan-blend $A $B -o $here/blends/swap_$res.pt --swap-resolution $res > /dev/null
  blends+=(swap_$res)
done
for blend in "${blends[@]}"; do
  $bin/gan-sample ckpt=$here/blends/$blend.pt n=16 grid.nrow=8 upscale=2 out=$here/png/blend_$blend > /dev/null
  # FID (and precision/recall) against each parent's training data, in that data's classifier space, one seed
  $bin/gan-eval ckpt=$here/blends/$blend.pt seeds=[0] out=$here/eval/${blend}_digits > /dev/null
  $bin/gan-eval ckpt=$here/blends/$blend.pt seeds=[0] data=textures data.dataset.crops_per_texture=16 \
    out=$here/eval/${blend}_textures > /dev/null
done

# 3. restyled inputs: held-out digits (test split) projected into the digits model, drawn by the textures model
#    (style_from) and with seed 7's fine styles (style_seed)
$bin/python - "$here/inputs" <<'EOF'
import sys
from pathlib import Path
from PIL import Image
from gan.data.embedded import DigitsDataset
from gan.data.pixels import to_uint8
test = DigitsDataset(split="test", resolution=32, test_fraction=0.2, split_seed=0)
for i in range(3):
    Image.fromarray(to_uint8(test[i][0])[0].numpy()).save(Path(sys.argv[1]) / f"test_digit_{i}.png")
EOF
for i in 0 1 2; do
  $bin/gan-project ckpt=$A image=$here/inputs/test_digit_$i.png style_from=$B out=$here/png/restyle_textures_$i \
    > /dev/null
  $bin/gan-project ckpt=$A image=$here/inputs/test_digit_$i.png style_seed=7 crossover=middle \
    out=$here/png/restyle_seed7_$i > /dev/null
  # drawn by the layer-swapped blend: the digits model's coarse layers (<= 8x8), the textures model's finer ones
  $bin/gan-project ckpt=$A image=$here/inputs/test_digit_$i.png style_from=$here/blends/swap_8.pt \
    out=$here/png/restyle_swap8_$i > /dev/null
done
# one overview: per digit, target | projection | textures model | seed 7 | swap-8 blend
$bin/python - "$here/png" <<'EOF'
import sys
from pathlib import Path
from PIL import Image
png, side, gap = Path(sys.argv[1]), 96, 2
cells = [png / f"{run}_{i}" / name for i in range(3) for run, name in (
    ("restyle_textures", "target.png"), ("restyle_textures", "projection.png"), ("restyle_textures", "restyled.png"),
    ("restyle_seed7", "restyled.png"), ("restyle_swap8", "restyled.png"))]
sheet = Image.new("L", (5 * (side + gap), 3 * (side + gap)), 255)
for k, path in enumerate(cells):
    sheet.paste(Image.open(path).convert("L").resize((side, side), Image.NEAREST),
                ((k % 5) * (side + gap), (k // 5) * (side + gap)))
sheet.save(png / "restyle_overview.png")
EOF

# 4. reconstruction of 20 held-out digits: StyleGAN-lite (w + noise, w only) vs DCGAN (z)
$bin/python $here/projection_study.py --stylegan $A --dcgan $here/models/arch_dcgan_s0.pt --count 20 \
  --out $here/projection

# 5. the blends against the textures again, in the textures classifier's feature space (metrics=classifier composes
#    the group for data=textures; step 2 scored both parents' data in the digits classifier's space)
for blend in "${blends[@]}"; do
  $bin/gan-eval ckpt=$here/blends/$blend.pt seeds=[0] data=textures data.dataset.crops_per_texture=16 \
    metrics=classifier out=$here/eval/${blend}_textures_own > /dev/null
done

"""What each latent code of a generator with `model.latent_codes` draws: the digits classifier's class of its samples.

    python experiments/digits_floor/code_purity.py <run dir or checkpoint> [samples per code, default 1000]

For every code k: `samples` latents with code k (gan-sample mode=classes' construction: each seed's largest code
entry swapped into place k), G_ema's images, and the shipped 32x32 digits classifier's class of each. Prints per code
the histogram's top class and its share (the code's purity), and how many distinct top classes the codes cover. A G
that uses its codes to keep the classes apart has pure codes whose top classes cover the ten digits.
"""

from __future__ import annotations

import sys

import torch

from gan.metrics.classifier import load_shipped
from gan.metrics.shipped import SHIPPED
from gan.sample.generate import generate_in_batches
from gan.sample.render import code_grid_inputs
from gan.train.checkpoints import load_generator, resolve_checkpoint_path

CLASSIFIER = "digits-r32-train-tf0.2-s0"


def main(path: str, per_code: int) -> None:
    loaded = load_generator(resolve_checkpoint_path(path, "run"))
    codes = loaded.latent_codes
    if not codes:
        raise SystemExit(f"{path}: this generator has no latent codes (model.latent_codes=0)")
    data = loaded.config.get("data", {})
    if (data.get("resolution"), data.get("channels")) != (32, 1):
        raise SystemExit(f"{path}: trained on {data.get('name')} at {data.get('resolution')}x{data.get('resolution')} "
                         f"with {data.get('channels')} channel(s); the shipped {CLASSIFIER} classifier reads 32x32 "
                         "grayscale digits")
    classifier, _ = load_shipped(next(entry for entry in SHIPPED if entry.dataset == CLASSIFIER))
    classifier.eval()
    z = code_grid_inputs(range(per_code), loaded.latent_dim, codes)
    with torch.no_grad():
        images = generate_in_batches(loaded.generator.eval(), z, None, 500)
        classes = torch.cat([classifier(batch)[1].argmax(dim=1) for batch in images.split(500)])
    print(f"{path}: {codes} codes, {per_code} samples each, classes by the shipped {CLASSIFIER} classifier")
    tops, in_top = [], 0
    for k, code_classes in enumerate(classes.reshape(codes, per_code)):
        counts = torch.bincount(code_classes, minlength=10)
        top = int(counts.argmax())
        tops.append(top)
        in_top += int(counts[top])
        print(f"  code {k}: class {top} in {counts[top] / per_code:.1%} (histogram {counts.tolist()})")
    print(f"codes' top classes cover {len(set(tops))} of 10 digits; mean purity {in_top / classes.numel():.1%}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1000)

"""The latent recipe of training-time evaluation and sample grids: one seed -> a fixed batch of (z, y).

Training (`GAN.generate_batched`) and `gan-eval` (`gan.metrics.evaluator.generator_sampler`) both draw through this
function, so gan-eval with a run's seed and sample count scores exactly the images its evaluation rows scored.
(`gan-sample` uses a per-seed recipe instead, `gan.sample.render.latents_for_seeds`: one image per seed.)
"""

from __future__ import annotations

import torch
from torch import Tensor


def seeded_inputs(n: int, seed: int, latent_dim: int, num_classes: int) -> tuple[Tensor, Tensor | None]:
    """z ~ N(0, I) of shape (n, latent_dim), then class labels if conditional, from one CPU generator seeded with
    `seed`: the same batch on every device."""
    rng = torch.Generator().manual_seed(seed)
    z = torch.randn(n, latent_dim, generator=rng)
    y = torch.randint(num_classes, (n,), generator=rng) if num_classes else None
    return z, y

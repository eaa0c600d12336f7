"""Can a packed D learn grid25's fine structure at all? D alone, no G: tell grid points with the data's std (0.05)
from the same grid blurred to std 0.3 (roughly what a G with ~2 % high-quality samples draws).

Why: `experiment=grid25_pacgan4` with PacGAN's D (dense over the 8 inputs of a pack of 4) stayed at 1-3 % HQ for
24k steps while its D loss sat at log 4 = 1.386 (chance) from the first evaluation on. This probe separates D from
the game: if D cannot learn a fixed, easy difference, G gets no signal either. Each line: the configuration and D's
loss every 500 steps (log 4 = chance; lower = D tells the two apart).

    OMP_NUM_THREADS=1 python experiments/toy_pacgan/packed_d_probe.py
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from gan.data.toy import grid_means
from gan.nets.mlp import MLPDiscriminator

REAL_STD, BLURRED_STD = 0.05, 0.3
# (pack, unit, per_sample_init, shared_layers, lr)
CONFIGS = [
    (1, "leaky_relu", False, 0, 5e-4),
    (2, "leaky_relu", False, 0, 5e-4),
    (4, "leaky_relu", False, 0, 5e-4),
    (4, "leaky_relu", True, 0, 5e-4),
    (4, "maxout", False, 0, 5e-4),
    (4, "leaky_relu", False, 0, 2e-3),
    (4, "leaky_relu", False, 1, 5e-4),
    (4, "leaky_relu", False, 2, 5e-4),
]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=50, help="packs per step")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    means = grid_means(5, 2.0)

    def sample(n: int, std: float) -> torch.Tensor:
        return means[torch.randint(len(means), (n,))] + std * torch.randn(n, 2)

    for pack, unit, per_sample_init, shared_layers, lr in CONFIGS:
        torch.manual_seed(a.seed)
        d = MLPDiscriminator(2, 200, 3, pack=pack, unit=unit, per_sample_init=per_sample_init,
                             shared_layers=shared_layers)
        opt = torch.optim.Adam(d.parameters(), lr, betas=(0.5, 0.999))
        losses = []
        for step in range(1, a.steps + 1):
            real, blurred = sample(a.batch * pack, REAL_STD), sample(a.batch * pack, BLURRED_STD)
            loss = F.softplus(-d(real)).mean() + F.softplus(d(blurred)).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if step % 500 == 0:
                losses.append(round(loss.item(), 3))
        print(f"pack={pack} unit={unit} per_sample_init={per_sample_init} shared_layers={shared_layers} lr={lr:g}: "
              f"{losses}", flush=True)


if __name__ == "__main__":
    main()

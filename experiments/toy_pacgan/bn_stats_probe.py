"""Does a toy G's high-quality fraction depend on how its batch-norm statistics are taken?

Why: G_ema averages G's weights and, with the same decay, its batch-norm running statistics (gan/train/module.py),
and the toy metric scores it in eval mode. If those averaged statistics did not fit the averaged weights, samples
would land off the modes and HQ would read low for a reason that is not G's precision. This probe scores G_ema and G
of finished grid25 runs three ways on the same latents: eval mode (what the metric uses), train mode on the whole
batch (the batch's own statistics) and "precise BN" (running statistics recomputed as a plain average over many
fresh batches). One line per run and network: modes / HQ fraction each way.

    OMP_NUM_THREADS=1 python experiments/toy_pacgan/bn_stats_probe.py <run dir> [<run dir> ...]
"""

from __future__ import annotations

import argparse
import copy

import torch
from torch import nn

from gan.data.toy import grid_means
from gan.metrics.toy import ToyMetrics, mode_metrics
from gan.train.module import GAN


def score(generator: nn.Module, z: torch.Tensor, means: torch.Tensor, std: float, train_mode: bool) -> ToyMetrics:
    generator.train(train_mode)
    return mode_metrics(generator(z), means, std)


def recompute_statistics(generator: nn.Module, latent_dim: int, batches: int, batch_size: int, seed: int) -> None:
    """Running statistics as the cumulative average over `batches` fresh batches (momentum None)."""
    for module in generator.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None
    generator.train()
    rng = torch.Generator().manual_seed(seed)
    for _ in range(batches):
        generator(torch.randn(batch_size, latent_dim, generator=rng))


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="grid25 run directories (checkpoints/last.ckpt inside)")
    parser.add_argument("--samples", type=int, default=2500, help="latents scored (the metric's 2,500)")
    parser.add_argument("--batches", type=int, default=200, help="fresh batches for precise BN")
    parser.add_argument("--batch_size", type=int, default=500)
    parser.add_argument("--seed", type=int, default=123)
    args = parser.parse_args()
    for run in args.runs:
        module = GAN.load_from_checkpoint(f"{run}/checkpoints/last.ckpt", map_location="cpu")
        grid = module.config["data"]["dataset"]  # the run's own mixture (conf/data/grid25.yaml)
        means, std = grid_means(grid["side"], grid["spacing"]), grid["std"]
        latent_dim = module.config["model"]["latent_dim"]
        # the same latents for every network and way
        z = torch.randn(args.samples, latent_dim, generator=torch.Generator().manual_seed(args.seed))
        for name, generator in (("G_ema", module.generator_ema), ("G", module.generator)):
            generator = copy.deepcopy(generator)
            ways = {"eval": score(generator, z, means, std, False),
                    f"batch{args.samples}": score(generator, z, means, std, True)}
            recompute_statistics(generator, latent_dim, args.batches, args.batch_size, args.seed + 1)
            ways["precise_bn"] = score(generator, z, means, std, False)
            print(run, name, "  ".join(f"{way} {m.modes_covered}/{m.hq_fraction:.3f}" for way, m in ways.items()))

if __name__ == "__main__":
    main()

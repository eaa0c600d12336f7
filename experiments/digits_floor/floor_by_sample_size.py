"""FID's dependence on the number of generated samples, for the real-vs-real floor and for checkpoints.

The floor (`gan-eval mode=real_vs_real data=digits`) scores the 359 test digits; training scores 10,000 generated
samples. FID is biased upwards by about c / n for n samples (Chong & Forsyth 2020, "Effectively Unbiased FID"), so
the two figures are not comparable. This script puts them on one footing, two ways:
  - at equal size: FID of random subsets of n test digits and of n generated samples, n up to 359, many draws each;
  - extrapolated (generators only): a least-squares line FID(n) = a + c / n through those points and larger n; a
    (FID_inf) is the value at infinitely many samples. Both sets are scored against the same 1,438 training digits,
    so that set's own bias is shared by every figure.
It reuses the evaluator's extractor and cached real features (gan.metrics.evaluator.build_evaluator, the run's own
metrics group), so the protocol is the one training uses; only the sample counts change.

    python experiments/digits_floor/floor_by_sample_size.py <run dir or .ckpt> [<run dir or .ckpt> ...] \
        [--sizes 90 120 180 240 300 359] [--draws 20] [--fake 10000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf

from gan.metrics.conditional import frechet_distance, gaussian_stats
from gan.metrics.evaluator import build_evaluator, generator_sampler
from gan.train.builders import build_dataset_factory
from gan.train.checkpoints import load_generator, resolve_checkpoint_path


def fid_to(reference: tuple[torch.Tensor, torch.Tensor], features: torch.Tensor) -> float:
    return frechet_distance(*gaussian_stats(features), *reference)


def by_size(features: torch.Tensor, reference: tuple[torch.Tensor, torch.Tensor], sizes: list[int], draws: int,
            seed: int) -> dict[int, list[float]]:
    """FID of `draws` random subsets (without replacement) of each size; one value when the size is the whole set."""
    generator = torch.Generator().manual_seed(seed)
    out = {}
    for n in sizes:
        if n == len(features):
            out[n] = [fid_to(reference, features)]
            continue
        out[n] = [fid_to(reference, features[torch.randperm(len(features), generator=generator)[:n]])
                  for _ in range(draws)]
    return out


def extrapolate(values: dict[int, list[float]]) -> tuple[float, float]:
    """(FID_inf, c) of the least-squares line FID = FID_inf + c / n through every draw."""
    x = np.concatenate([[1.0 / n] * len(v) for n, v in values.items()])
    y = np.concatenate([v for v in values.values()])
    c, a = np.polyfit(x, y, 1)
    return float(a), float(c)


def summary(values: dict[int, list[float]]) -> dict[str, object]:
    a, c = extrapolate(values)
    return {"by_size": {n: [float(np.mean(v)), float(np.std(v, ddof=1)) if len(v) > 1 else 0.0]
                        for n, v in values.items()}, "fid_inf": a, "slope_c": c}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", nargs="+")
    parser.add_argument("--sizes", type=int, nargs="+", default=[90, 120, 180, 240, 300, 359])
    parser.add_argument("--draws", type=int, default=20)
    parser.add_argument("--fake", type=int, default=10000, help="generated samples drawn once per checkpoint")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    torch.set_grad_enabled(False)

    results: dict[str, object] = {}
    floor_done = False
    for path in args.checkpoints:
        loaded = load_generator(resolve_checkpoint_path(path, "ckpt", "best"), "cpu")
        cfg = OmegaConf.create(loaded.config)
        settings = OmegaConf.to_container(cfg.metrics, resolve=True)
        evaluator = build_evaluator(settings, build_dataset_factory(cfg), "cpu", num_fake_samples=args.fake)
        reference = gaussian_stats(evaluator.real)
        if not floor_done:
            heldout = evaluator.heldout
            sizes = [n for n in args.sizes if n <= len(heldout)]
            # No line through the floor's points: its subsets are drawn from one fixed set of 359, and as n nears
            # 359 they all become that set, so they do not follow the 1/n law of fresh samples (a fit gives < 0).
            floor_values = by_size(heldout, reference, sizes, args.draws, seed=0)
            results["floor"] = {"by_size": summary(floor_values)["by_size"]}
            results["protocol"] = evaluator.protocol
            floor_done = True
        sample = generator_sampler(loaded.generator, loaded.latent_dim, loaded.num_classes)
        images = sample(args.fake, 0)
        fake = torch.cat([evaluator.extractor(images[i:i + 500])[0].float() for i in range(0, len(images), 500)])
        fake_sizes = sorted({*args.sizes, 1000, 2500, args.fake})
        entry = summary(by_size(fake, reference, fake_sizes, args.draws, seed=1))
        # The line through the small sizes only, then checked against the full set: is 1/n the right shape?
        small = by_size(fake, reference, [n for n in args.sizes], args.draws, seed=2)
        entry["fid_inf_from_small_sizes"] = extrapolate(small)[0]
        entry["global_step"] = loaded.global_step
        results[str(path)] = entry
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text)


if __name__ == "__main__":
    sys.exit(main())

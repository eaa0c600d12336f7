"""Does FID under the shipped digits classifier rank generators as a person would, and as KID does?

`python experiments/metric_protocol/ranking.py RUN_DIR` for a finished `gan-train experiment=digits_dcgan ...` run
with `metrics=classifier`. The generators: the run's own evaluations at its early, middle and late steps (the rows of
metrics.csv; samples/ holds the image grid of each, for the eye), its untrained generator (same seed, step 0), and a
deliberately collapsed generator (every output is the trained G_ema's first sample: a perfect-looking digit, no
diversity). Everything is scored under the run's own protocol (same classifier, sample count, reference), so the
numbers are comparable. A person ranks late > middle > early and the collapsed generator last among the trained ones
(one image is not a distribution); FID and KID must agree with that and with each other.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import torch
from omegaconf import OmegaConf

from gan.metrics.evaluator import build_evaluator, generator_sampler
from gan.sample.generate import generate_in_batches
from gan.sample.latents import seeded_inputs
from gan.train.builders import build_dataset_factory
from gan.train.checkpoints import build_generator, load_generator


def training_rows(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "metrics.csv", newline="") as handle:
        return [row for row in csv.DictReader(handle) if row.get("protocol")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rows = training_rows(args.run_dir)
    loaded = load_generator(args.run_dir / "checkpoints" / "last.ckpt")
    config = OmegaConf.create(loaded.config)
    settings = OmegaConf.to_container(config.metrics, resolve=True)
    n = int(float(settings["num_fake_samples"]))
    evaluator = build_evaluator(settings, build_dataset_factory(config), "cpu", num_fake_samples=n)
    seed = int(settings["seed"])
    assert all(row["protocol"] == evaluator.protocol for row in rows), "the run was scored under another protocol"

    results = {f"step {int(float(r['global_step']))}": (float(r["fid"]), float(r["kid_mean"]), float(r["kid_std"]))
               for r in rows}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(config.seed))
        untrained = build_generator(loaded.config).eval()
    row = evaluator.evaluate(generator_sampler(untrained, loaded.latent_dim, loaded.num_classes), seed)
    results["untrained (step 0)"] = (row["fid"], row["kid_mean"], row["kid_std"])
    z, y = seeded_inputs(1, seed, loaded.latent_dim, loaded.num_classes)
    one = generate_in_batches(loaded.generator, z, y, 1)
    row = evaluator.evaluate(lambda count, _: one.expand(count, *one.shape[1:]), seed)
    results["collapsed (one image)"] = (row["fid"], row["kid_mean"], row["kid_std"])

    print(f"protocol: {evaluator.protocol}\n")
    print(f"{'generator':24s} {'fid':>10s} {'kid_mean':>10s} {'kid_std':>9s} {'fid rank':>8s} {'kid rank':>8s}")
    by_fid = sorted(results, key=lambda k: results[k][0])
    by_kid = sorted(results, key=lambda k: results[k][1])
    for name in by_fid:
        fid, kid, kid_std = results[name]
        print(f"{name:24s} {fid:10.4g} {kid:10.4g} {kid_std:9.2g} {by_fid.index(name) + 1:8d} "
              f"{by_kid.index(name) + 1:8d}")
    steps = [k for k in results if k.startswith("step")]
    early, middle, late = steps[0], steps[(len(steps) - 1) // 2], steps[-1]
    trained = [*steps, "collapsed (one image)"]
    disagreements = [(a, b) for i, a in enumerate(by_fid) for b in by_fid[i + 1 :] if by_kid.index(a) > by_kid.index(b)]
    resolved_disagreements = [(a, b) for a, b in disagreements
                              if abs(results[a][1] - results[b][1]) > results[a][2] + results[b][2]]
    unresolved_disagreements = [pair for pair in disagreements if pair not in resolved_disagreements]
    checks = {
        f"FID: {late} < {middle} < {early}": results[late][0] < results[middle][0] < results[early][0],
        f"KID: {late} < {middle} < {early}": results[late][1] < results[middle][1] < results[early][1],
        "collapsed worst of the trained generators (FID)": max(trained, key=lambda k: results[k][0]) == trained[-1],
        "collapsed worst of the trained generators (KID)": max(trained, key=lambda k: results[k][1]) == trained[-1],
        "FID and KID order every pair KID separates by more than its std": not resolved_disagreements,
    }
    for a, b in unresolved_disagreements:
        print(f"note: FID and KID order {a} and {b} differently, within KID's noise (|dKID| <= kid_std sum)")
    print()
    for check, ok in checks.items():
        print(f"[{'ok' if ok else 'FAIL'}] {check}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

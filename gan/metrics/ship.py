"""Regenerate the shipped classifier weights: `python -m gan.metrics.ship [--out DIR] [--no-record]`.

The default classifiers of the bundled labelled datasets ship as files so that their FIDs mean the same on every
machine (see gan.metrics.classifier). This script is how those files are made: for each target below it composes the
project's own config (`metrics=classifier` plus the target's overrides, so the recipe is exactly what a run would ask
for), trains deterministically from `metrics.extractor.seed` on one thread, measures test accuracy and dead feature
units, writes `<dataset fingerprint>.pt` and rewrites the SHIPPED table in gan/metrics/shipped.py with the hashes.
Run twice on one machine, it writes byte-identical files; on another machine the weights differ (other CPU kernels),
which is the point of shipping them. Takes a few minutes on one core.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from gan.config import compose_config
from gan.io import file_sha256
from gan.metrics import shipped
from gan.metrics.classifier import Recipe, save_classifier, train_classifier
from gan.metrics.shipped import WEIGHTS_DIR, ShippedWeights
from gan.metrics.stats import dead_units

# The datasets whose default classifier ships: the presets' digits at 32x32, the 16x16 digits that tests and quick
# runs use, and the textures of data=textures. Each is a list of overrides on top of `metrics=classifier`.
TARGETS: tuple[tuple[str, ...], ...] = (("data=digits",), ("data=digits", "data.resolution=16"), ("data=textures",))
TABLE_START, TABLE_END = "SHIPPED: tuple[ShippedWeights, ...] = (", ")\n"


def ship_one(overrides: Sequence[str], out_dir: Path) -> ShippedWeights:
    """Train the classifier `overrides` configure, write it to `out_dir`, return its record."""
    cfg = compose_config("train", ["metrics=classifier", *overrides])
    settings = OmegaConf.to_container(cfg.metrics.extractor, resolve=True)
    make = instantiate(cfg.data.dataset)
    train_set, eval_set = make(split=settings["train_split"]), make(split=settings["eval_split"])
    recipe = Recipe(train_set.fingerprint, settings["seed"], settings["epochs"], settings["batch_size"],
                    settings["lr"], settings["weight_decay"], settings["width"], settings["feature_dim"])
    model, test_accuracy = train_classifier(train_set, eval_set, recipe.seed, recipe.epochs, recipe.batch_size,
                                            recipe.lr, recipe.weight_decay, recipe.width, recipe.feature_dim)
    with torch.no_grad():
        features = torch.cat([model(dataset.images)[0] for dataset in (train_set, eval_set)])
    dead = int(dead_units(features, settings["min_relative_spread"]).sum())
    path = out_dir / f"{recipe.dataset}.pt"
    stored = save_classifier(model, recipe, test_accuracy, path, extra={"dead_units": dead})
    entry = ShippedWeights(dataset=recipe.dataset, file=path.name, file_sha256=file_sha256(path),
                           weights_sha256=stored["sha256"], recipe_sha256=recipe.digest(),
                           test_accuracy=test_accuracy, dead_units=dead, num_features=recipe.feature_dim)
    print(f"{path}: {path.stat().st_size} bytes, file sha256 {entry.file_sha256}, weights sha256 "
          f"{entry.weights_sha256[:12]}, {settings['eval_split']} accuracy {test_accuracy:.4f}, dead units "
          f"{dead}/{recipe.feature_dim}", flush=True)
    return entry


def write_table(entries: Sequence[ShippedWeights], module_path: Path = Path(shipped.__file__)) -> None:
    """Replace the SHIPPED table of gan/metrics/shipped.py with `entries`."""
    text = module_path.read_text()
    start = text.index(TABLE_START)
    end = text.index(TABLE_END, start) + len(TABLE_END)
    rows = "".join("    ShippedWeights(\n" + "".join(f"        {field.name}={getattr(entry, field.name)!r},\n"
                                                  for field in fields(entry)) + "    ),\n" for entry in entries)
    module_path.write_text(text[:start] + TABLE_START + "\n" + rows + TABLE_END + text[end:])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=WEIGHTS_DIR, help="where the .pt files go (default: the package)")
    parser.add_argument("--no-record", action="store_true",
                        help="leave the SHIPPED table in gan/metrics/shipped.py as it is (a reproducibility check)")
    args = parser.parse_args(argv)
    entries = [ship_one(overrides, args.out) for overrides in TARGETS]
    if not args.no_record:
        write_table(entries)
        print(f"recorded {len(entries)} entries in {shipped.__file__}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`gan-eval`: metrics of a checkpoint's G_ema, any number of samples, repeated over seeds (mean ± std).

    gan-eval ckpt=outputs/<run>/checkpoints/best.ckpt                 # the run's own metrics group, seeds 0,1,2
    gan-eval ckpt=<run dir> n=50000 seeds=[0,1,2,3,4] metrics=inception metrics.extractor.weights_path=/w.pth
    gan-eval mode=real_vs_real data=digits metrics=classifier         # the floor: held-out real data as "generated"

The metrics group is the one given on the command line, else the one the run trained with, else `classifier` for
image data and `toy` for 2D points. Seed s evaluates the same samples as a training-time evaluation with
metrics.seed=s, so `n=<metrics.num_fake_samples> seeds=[<metrics.seed>]` reproduces a run's last evaluation row.

`data=<name>` in checkpoint mode scores the generator against another dataset than the one it trained on (a
texture fine-tune or a gan-blend against the source's digits). The reference data then comes from that dataset; the
extractor stays the run's own (its stored metrics group is resolved), unless `metrics=<group>` on the command line
composes the group afresh for the new data (metrics=classifier: that dataset's classifier). The protocol id names
both.

mode=real_vs_real needs no checkpoint: the `heldout_split` of `data` (default test, real images G never saw) takes
the generator's place and is scored against the metrics group's reference (the train split), so FID, KID,
precision and recall (or mode counts) show what a perfect generator of this data would get: the floor of the
protocol. Its protocol id is the group's, with the held-out set's size as the sample count and `/fake:<held-out
dataset>` appended (and `/random-subsets` with n= below that size: each seed scores its own random subset).
Memorisation is 1 by construction there (the held-out set is its own yardstick).

`floor=true` in checkpoint mode scores G and that floor at one sample size, the held-out split's (or a smaller n=):
FID is biased upwards by about c / n for n samples, so a generator's 10,000-sample FID and a floor of a few hundred
held-out images are not comparable (experiments/digits_floor/RESULTS.md, stop 29).
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torch import Tensor
from torch.utils.data import Dataset

from gan.cli.errors import exit_2_on_config_errors, run_output_command
from gan.config import compose_config
from gan.metrics.evaluator import (
    Evaluator,
    Sampler,
    build_evaluator,
    chunk_plan,
    generator_sampler,
    model_conditioning,
    without_conditioning,
)
from gan.paths import CONFIG_DIR
from gan.sample.progress import with_progress
from gan.sample.render import parse_seeds
from gan.train.builders import build_dataset_factory
from gan.train.checkpoints import load_generator, resolve_checkpoint_path

# Default metrics group by data kind when neither the command line nor the checkpoint names one.
DEFAULT_METRICS = {"image": "classifier", "points": "toy"}
RESULTS_JSON, RESULTS_CSV = "results.json", "results.csv"


def metrics_config(cfg: DictConfig, train_cfg: DictConfig) -> tuple[DictConfig, str]:
    """The checkpoint's config with the metrics group to use in `metrics`, and where that group came from."""
    merged = train_cfg.copy()
    if cfg.get("metrics") is not None:
        merged.metrics = OmegaConf.create(OmegaConf.to_container(cfg.metrics, resolve=False))
        return merged, f"metrics={cfg.metrics.get('name', '?')} (command line)"
    stored = train_cfg.get("metrics")
    if stored is not None and stored.get("kind"):
        return merged, f"metrics={stored.get('name', '?')} (the run's own)"
    kind = train_cfg.data.get("kind", "image")
    if kind not in DEFAULT_METRICS:
        raise ValueError(f"the checkpoint's data.kind={kind!r} has no default metrics; pass metrics=classifier, "
                         "metrics=inception or metrics=toy")
    name = DEFAULT_METRICS[kind]
    merged.metrics = compose_config("eval", [f"metrics={name}"]).metrics
    return merged, f"metrics={name} (default for data.kind={kind})"


def summarise(rows: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """mean and sample std (ddof=1; nan with one seed) of every metric over the seeds."""
    keys = [key for key in rows[0] if key != "seed"]
    summary = {}
    for key in keys:
        values = np.array([row[key] for row in rows], dtype=np.float64)
        with np.errstate(invalid="ignore"):  # inf values (KL with no HQ point) give a nan std, not a warning
            std = float(values.std(ddof=1)) if len(values) > 1 else math.nan
        summary[key] = {"mean": float(values.mean()), "std": std}
    return summary


def _seeds(cfg: DictConfig) -> list[int]:
    """seeds=[0,1,2], seeds=0-9 or seeds=7 (gan-sample's forms), each seed once: a repeat would only shrink the std."""
    spec = list(cfg.seeds) if OmegaConf.is_list(cfg.seeds) else cfg.seeds
    if spec == []:
        raise ValueError("seeds=[] evaluates nothing; pass e.g. seeds=[0,1,2] or seeds=0-9")
    seeds = parse_seeds(spec)
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise ValueError(f"seeds={spec}: seed {repeated[0]} appears twice; each seed is one sample set, and a repeat "
                         "would only shrink the std. Give each seed once")
    return seeds


def run(cfg: DictConfig, out_dir: Path) -> dict[str, Any]:
    check_output_free(out_dir)
    if cfg.n is not None and int(cfg.n) < 2:
        raise ValueError(f"n={cfg.n}: an evaluation needs at least 2 samples (FID needs a covariance); pass e.g. "
                         "n=10000, or n=null for the metrics group's count")
    mode = cfg.get("mode", "checkpoint")
    if mode == "real_vs_real" and cfg.get("floor"):
        raise ValueError("floor=true scores a checkpoint beside the floor; mode=real_vs_real is the floor itself: "
                         "drop floor=true (or give ckpt= without mode=real_vs_real)")
    if mode == "real_vs_real":
        return run_real_vs_real(cfg, out_dir)
    if mode != "checkpoint":
        raise ValueError(f"mode must be checkpoint or real_vs_real, got {mode!r}")
    seeds = _seeds(cfg)
    loaded = load_generator(resolve_checkpoint_path(cfg.ckpt, "ckpt", cfg.which), cfg.device)
    merged, source = metrics_config(cfg, with_reference_data(cfg, OmegaConf.create(loaded.config)))
    settings = OmegaConf.to_container(merged.metrics, resolve=True)
    # A class-conditional G is also scored per class (cond_acc, intra_fid), as during training.
    conditioning = model_conditioning(loaded.latent_dim, loaded.num_classes)
    make_dataset = build_dataset_factory(merged)
    # floor=true: G and the held-out data at one sample size, the held-out split's unless n asks for fewer. FID falls
    # with the sample count (a bias of about c / n), so a generator scored on 10,000 samples and a floor of a few
    # hundred held-out images are not comparable; at one size they are.
    heldout = make_dataset(cfg.heldout_split) if cfg.get("floor") else None
    n = cfg.n if heldout is None else heldout_count(cfg.n, heldout, cfg.heldout_split, merged.data.name)
    evaluator = build_evaluator(settings, make_dataset, cfg.device, num_fake_samples=n, conditioning=conditioning)
    sample = generator_sampler(loaded.generator, loaded.latent_dim, loaded.num_classes, cfg.device)
    # progress on stderr, so the table on stdout stays clean for a pipe
    rows = [{"seed": seed, **evaluator.evaluate(
        with_progress(sample, evaluator.num_fake_samples, f"gan-eval seed {seed} ({i + 1}/{len(seeds)})"), seed,
        device=cfg.device)} for i, seed in enumerate(seeds)]
    result = {"checkpoint": str(loaded.path), "checkpoint_sha256": loaded.sha256, "global_step": loaded.global_step,
              "protocol": evaluator.protocol, "metrics_source": source, "num_fake_samples": evaluator.num_fake_samples,
              "seeds": seeds, "rows": rows, "summary": summarise(rows)}
    if heldout is not None:
        # the same extractor and real features (one evaluator, at the same n), without G's class metrics
        result["floor"] = real_vs_real_rows(settings, make_dataset, heldout, n, seeds, cfg.device,
                                            without_conditioning(evaluator))
    return write_results(result, out_dir)


def heldout_count(n: int | None, heldout: Dataset, heldout_split: str, data_name: str) -> int:
    """How many held-out items stand in for generated samples: all of them (n=null) or n of them."""
    if n is None:
        return len(heldout)
    if not 1 <= int(n) <= len(heldout):
        raise ValueError(f"n={n}: the real data is scored on at most the {heldout_split} split's {len(heldout)} items "
                         f"of data={data_name}; use n=null for all of them, or n<={len(heldout)}")
    return int(n)


def with_reference_data(cfg: DictConfig, train_cfg: DictConfig) -> DictConfig:
    """The checkpoint's config, with `data` replaced by the command line's `data=` if given: a generator scored
    against another dataset than its own (a fine-tune or a blend against its source's data). The images must have
    the shape the generator draws; the protocol id names the reference data, so such rows never mix with others."""
    if cfg.get("data") is None:
        return train_cfg
    own = train_cfg.data
    keys = [key for key in ("kind", "channels", "resolution") if own.get(key) is not None]
    if any(cfg.data.get(key) != own.get(key) for key in keys):
        # All of the shape at once: a dataset that differs in kind differs in the rest too, and naming one key at a
        # time sent the user from one refusal to the next (data.kind=image, then data.channels=1, ...).
        def shape(data: DictConfig) -> str:
            return ", ".join(f"{key}={data.get(key)}" for key in keys)

        raise ValueError(f"data={cfg.data.get('name')} has {shape(cfg.data)} but the checkpoint's generator draws "
                         f"{shape(own)} (it trained on data={own.get('name')}): score it against data of that shape "
                         f"(leave data= out for its own; a dataset whose resolution or channels are settings, e.g. "
                         f"data=folder, takes data.resolution=... data.channels=...)")
    merged = train_cfg.copy()
    merged.data = OmegaConf.create(OmegaConf.to_container(cfg.data, resolve=False))
    return merged


def run_real_vs_real(cfg: DictConfig, out_dir: Path) -> dict[str, Any]:
    """The held-out split of `cfg.data` scored as if a generator had produced it (see the module docstring)."""
    if cfg.get("data") is None:
        raise ValueError("mode=real_vs_real needs data=<name> (e.g. data=digits): the dataset whose floor to measure")
    seeds = _seeds(cfg)
    merged = OmegaConf.create(OmegaConf.to_container(cfg, resolve=False))
    if cfg.get("metrics") is not None and cfg.metrics.get("kind"):
        source = f"metrics={cfg.metrics.get('name', '?')} (command line)"
    else:
        kind = cfg.data.get("kind", "image")
        if kind not in DEFAULT_METRICS:
            raise ValueError(f"data.kind={kind!r} has no default metrics; pass metrics=classifier or metrics=inception")
        merged.metrics = compose_config("eval", [f"metrics={DEFAULT_METRICS[kind]}"]).metrics
        source = f"metrics={DEFAULT_METRICS[kind]} (default for data.kind={kind})"
    settings = OmegaConf.to_container(merged.metrics, resolve=True)
    make_dataset = build_dataset_factory(merged)
    heldout = make_dataset(cfg.heldout_split)
    floor = real_vs_real_rows(settings, make_dataset, heldout,
                              heldout_count(cfg.n, heldout, cfg.heldout_split, cfg.data.name), seeds, cfg.device)
    result = {"mode": "real_vs_real", "metrics_source": source, "seeds": seeds, **floor}
    return write_results(result, out_dir)


def real_vs_real_rows(settings: dict[str, Any], make_dataset: Any, heldout: Dataset, count: int, seeds: list[int],
                      device: str, evaluator: Evaluator | None = None) -> dict[str, Any]:
    """The floor: `count` items of the held-out set (`heldout_count`) scored as generated samples, one row per seed.
    With fewer than all, each seed scores its own random subset, so the rows show the floor's spread at that size.
    `evaluator`: one already built for `settings` at `count` samples, unconditional (else one is built here)."""
    if evaluator is None:
        evaluator = build_evaluator(settings, make_dataset, device, num_fake_samples=count)
    elif evaluator.num_fake_samples != count:
        raise ValueError(f"the floor's evaluator scores {evaluator.num_fake_samples} samples, not {count}")
    rows = []
    for seed in seeds:
        sample = dataset_sampler(heldout, count, evaluator.batch_size, seed)
        rows.append({"seed": seed, **evaluator.evaluate(sample, seed, device=device)})
    # fewer than all: a random subset per seed (until stop 29 the first n items), named so rows never mix
    subsets = "" if count == len(heldout) else "/random-subsets"
    return {"heldout": heldout.fingerprint, "protocol": f"{evaluator.protocol}/fake:{heldout.fingerprint}{subsets}",
            "num_fake_samples": count, "rows": rows, "summary": summarise(rows)}


def dataset_sampler(dataset: Dataset, num_samples: int, batch_size: int, seed: int) -> Sampler:
    """A stand-in generator that returns `num_samples` items of `dataset`: all of them in order, or fewer, a random
    subset drawn from `seed`. The evaluator asks for the chunks of its plan (size, chunk seed) of `seed`, each
    answered by the items at that chunk's offset."""
    order = (range(num_samples) if num_samples == len(dataset)
             else torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:num_samples].tolist())
    offsets, start = {}, 0
    for size, chunk_seed in chunk_plan(num_samples, batch_size, seed):
        offsets[(size, chunk_seed)] = start
        start += size

    def sample(n: int, chunk_seed: int) -> Tensor:
        first = offsets[(n, chunk_seed)]
        return torch.stack([torch.as_tensor(dataset[order[i]][0]) for i in range(first, first + n)])

    return sample


def check_output_free(out_dir: Path) -> None:
    """Refuse, before any work, to write over an earlier evaluation's results."""
    existing = [out_dir / name for name in (RESULTS_JSON, RESULTS_CSV) if (out_dir / name).exists()]
    if existing:
        raise FileExistsError(f"out={out_dir} already holds {', '.join(p.name for p in existing)} of an earlier "
                              "evaluation; pass another out= (or leave it unset: every evaluation gets its own "
                              "folder), or delete that folder first")


def write_results(result: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """results.json (everything) and results.csv (one row per seed with the protocol id) in `out_dir`; the table."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / RESULTS_JSON).write_text(json.dumps(result, indent=2))
    with open(out_dir / RESULTS_CSV, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["seed", *result["summary"], "protocol"])
        writer.writeheader()
        for row in result["rows"]:
            writer.writerow({**row, "protocol": result["protocol"]})
        # floor=true: the real-vs-real rows under their own protocol id (it ends with /fake:<held-out set>)
        for row in result.get("floor", {}).get("rows", []):
            writer.writerow({**row, "protocol": result["floor"]["protocol"]})
    print(format_table(result))
    print(f"written: {out_dir / RESULTS_JSON}, {out_dir / RESULTS_CSV}")
    return result


def format_table(result: dict[str, Any]) -> str:
    if result.get("mode") == "real_vs_real":
        title = f"real vs real: {result['heldout']} as the generated set, {result['metrics_source']}"
    else:
        step = result["global_step"]
        title = f"{result['checkpoint']} (global step {step if step is not None else '?'}), {result['metrics_source']}"
    lines = [title,
             f"protocol: {result['protocol']}",
             f"seeds: {result['seeds']}  ({len(result['seeds'])} evaluations of {result['num_fake_samples']} samples)"]
    lines += _metric_lines(result["summary"])
    floor = result.get("floor")
    if floor:
        lines += [f"the floor at the same sample size: {floor['heldout']} as the generated set",
                  f"protocol: {floor['protocol']}", *_metric_lines(floor["summary"])]
        if "fid" in floor["summary"] and "fid" in result["summary"]:
            ratio = result["summary"]["fid"]["mean"] / floor["summary"]["fid"]["mean"]
            lines.append(f"fid: {ratio:.3g} x the floor's ({result['num_fake_samples']} samples each)")
    return "\n".join(lines)


def _metric_lines(summary: dict[str, dict[str, float]]) -> list[str]:
    lines = [f"{'metric':<14} {'mean':>12} {'± std':>12}"]
    for key, stats in summary.items():
        std = "" if math.isnan(stats["std"]) else f"{stats['std']:.4g}"
        lines.append(f"{key:<14} {stats['mean']:>12.4g} {'± ' + std if std else '':>12}")
    return lines


@hydra.main(config_path=str(CONFIG_DIR), config_name="eval", version_base="1.3")
def hydra_main(cfg: DictConfig) -> None:
    run_output_command("gan-eval", lambda out_dir, _overrides: run(cfg, out_dir))


def main() -> None:
    """The console script: Hydra's config errors exit 2 like the command's own (gan.cli.errors)."""
    exit_2_on_config_errors(hydra_main)


if __name__ == "__main__":
    main()

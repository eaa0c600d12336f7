"""`gan-eval`: metrics of a checkpoint's G_ema, any number of samples, repeated over seeds (mean ± std).

    gan-eval ckpt=outputs/<run>/checkpoints/best.ckpt                 # the run's own metrics group, seeds 0,1,2
    gan-eval ckpt=<run dir> n=50000 seeds=[0,1,2,3,4] metrics=inception metrics.extractor.weights_path=/w.pth

The metrics group is the one given on the command line, else the one the run trained with, else `classifier` for
image data and `toy` for 2D points. Seed s evaluates the same samples as a training-time evaluation with
metrics.seed=s, so `n=<metrics.num_fake_samples> seeds=[<metrics.seed>]` reproduces a run's last evaluation row.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import hydra
import numpy as np
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from gan.cli.quiet import quiet_known_messages
from gan.config import compose_config
from gan.metrics.evaluator import build_evaluator, generator_sampler
from gan.paths import CONFIG_DIR
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


def run(cfg: DictConfig, out_dir: Path) -> dict[str, Any]:
    seeds = [int(s) for s in (cfg.seeds if OmegaConf.is_list(cfg.seeds) else [cfg.seeds])]
    if not seeds:
        raise ValueError("seeds=[] evaluates nothing; pass e.g. seeds=[0,1,2]")
    loaded = load_generator(resolve_checkpoint_path(cfg.ckpt, "ckpt"), cfg.device)
    merged, source = metrics_config(cfg, OmegaConf.create(loaded.config))
    settings = OmegaConf.to_container(merged.metrics, resolve=True)
    evaluator = build_evaluator(settings, build_dataset_factory(merged), cfg.device, num_fake_samples=cfg.n)
    sample = generator_sampler(loaded.generator, loaded.latent_dim, loaded.num_classes, cfg.device)
    rows = [{"seed": seed, **evaluator.evaluate(sample, seed, device=cfg.device)} for seed in seeds]
    summary = summarise(rows)
    result = {"checkpoint": str(loaded.path), "checkpoint_sha256": loaded.sha256, "global_step": loaded.global_step,
              "protocol": evaluator.protocol, "metrics_source": source, "num_fake_samples": evaluator.num_fake_samples,
              "seeds": seeds, "rows": rows, "summary": summary}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / RESULTS_JSON).write_text(json.dumps(result, indent=2))
    with open(out_dir / RESULTS_CSV, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["seed", *summary, "protocol"])
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "protocol": evaluator.protocol})
    print(format_table(result))
    print(f"written: {out_dir / RESULTS_JSON}, {out_dir / RESULTS_CSV}")
    return result


def format_table(result: dict[str, Any]) -> str:
    step = result["global_step"]
    lines = [f"{result['checkpoint']} (global step {step if step is not None else '?'}), {result['metrics_source']}",
             f"protocol: {result['protocol']}",
             f"seeds: {result['seeds']}  ({len(result['seeds'])} evaluations of {result['num_fake_samples']} samples)",
             f"{'metric':<14} {'mean':>12} {'± std':>12}"]
    for key, stats in result["summary"].items():
        std = "" if math.isnan(stats["std"]) else f"{stats['std']:.4g}"
        lines.append(f"{key:<14} {stats['mean']:>12.4g} {'± ' + std if std else '':>12}")
    return "\n".join(lines)


@hydra.main(config_path=str(CONFIG_DIR), config_name="eval", version_base="1.3")
def main(cfg: DictConfig) -> None:
    quiet_known_messages()
    run(cfg, Path(HydraConfig.get().runtime.output_dir))


if __name__ == "__main__":
    main()

"""What runs inside each measurement subprocess: build from the real composed config, then time on the parent's signal.

Heavy imports (torch, lightning) happen inside the functions: this module is also imported by the parent, which must
stay light (see gan/bench/__init__.py).
"""

from __future__ import annotations

import logging
import os
import traceback
from collections.abc import Iterator
from typing import Any

from gan.bench.windows import Channel, WindowClock, expect

RUNNERS = ("plain", "lightning")


class CycledBatches:
    """`length` batches cycled from a short list of tensors already on the device: both runners read the same
    in-memory tensors, so neither pays for loading or host-to-device copies the other does not."""

    def __init__(self, batches: list[Any], length: int):
        self.batches, self.length = batches, length

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[Any]:
        return (self.batches[i % len(self.batches)] for i in range(self.length))


def compose_train_config(overrides: list[str]) -> Any:
    """The config `gan-train <overrides>` would run with (composed from conf/train.yaml, outside a Hydra run)."""
    from gan.config import compose_config

    return compose_config("train", overrides)


def in_memory_batches(cfg: Any, count: int, device: Any) -> list[Any]:
    """The first `count` training batches of the configured dataset, in order, on `device`."""
    from torch.utils.data import DataLoader

    from gan.train.builders import build_datamodule

    loader = DataLoader(build_datamodule(cfg).train_dataset, batch_size=cfg.data.batch_size, drop_last=True)
    batches = []
    for x, y in loader:
        batches.append((x.to(device), y.to(device)))
        if len(batches) == count:
            return batches
    raise ValueError(f"the dataset has only {len(batches)} batches of {cfg.data.batch_size}; lower "
                     f"train.batches_in_memory (asked for {count}) in conf/bench.yaml")


def make_synchronize(device: Any) -> Any:
    import torch

    return torch.cuda.synchronize if device.type == "cuda" else (lambda: None)


def train_worker(channel: Channel, spec: dict[str, Any]) -> None:
    """One runner ("plain" or "lightning") of one variant; reports built, warm, each window, then memory."""
    _report_errors(channel, _train, spec)


def eval_worker(channel: Channel, spec: dict[str, Any]) -> None:
    """One extractor: set-up, throughput windows and one full evaluation, then memory; reports a single "done"."""
    _report_errors(channel, _evaluate, spec)


def _report_errors(channel: Channel, work: Any, spec: dict[str, Any]) -> None:
    try:
        work(channel, spec)
    except BaseException:
        # The parent shows the worker's own traceback: the failure happened here, not in the parent.
        channel.send({"event": "error", "message": traceback.format_exc()})


def _prepare(spec: dict[str, Any]) -> float:
    """Process-wide settings that must precede the heavy imports; returns the RSS after those imports (MiB)."""
    if not spec["inductor_cache"]:
        # A cold compile every time: the figure is what a first run costs, not what a warm cache hides.
        os.environ["TORCHINDUCTOR_FORCE_DISABLE_CACHES"] = "1"
    import lightning  # noqa: F401  (imported here so the RSS floor below includes it for every worker)
    import torch

    from gan.bench.memory import peak_rss_mib, reset_cuda_peak
    from gan.cli.quiet import quiet_known_messages

    quiet_known_messages()
    # Lightning's start-up notices (accelerator found, fit stopped) would interleave with the report.
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    # torch.compile's C++ toolchain probe warns that a CPU-only machine has no CUDA runtime: expected here.
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    if spec["threads"]:
        torch.set_num_threads(spec["threads"])
    reset_cuda_peak()
    return peak_rss_mib()


def _build(spec: dict[str, Any]) -> tuple[Any, Any, Any]:
    """The composed config, the GAN module built from it (seeded) and the device."""
    import lightning as L
    import torch

    from gan.train.builders import build_module

    cfg = compose_train_config(spec["overrides"])
    L.seed_everything(spec["seed"], verbose=False)
    return cfg, build_module(cfg), torch.device(spec["device"])


def _train(channel: Channel, spec: dict[str, Any]) -> None:
    rss_after_imports = _prepare(spec)
    import torch

    from gan.bench.lightning_run import run_lightning
    from gan.bench.memory import memory_summary
    from gan.bench.plain import PlainGANLoop

    if spec["runner"] not in RUNNERS:
        raise ValueError(f"runner must be one of {RUNNERS}, got {spec['runner']!r}")
    cfg, module, device = _build(spec)
    clock = WindowClock(channel, make_synchronize(device), spec["warmup"], spec["window"], spec["repeats"])
    batches = CycledBatches(in_memory_batches(cfg, spec["batches_in_memory"], device), clock.total_batches)
    info = {"batch_size": cfg.data.batch_size, "threads": torch.get_num_threads(), "precision": cfg.trainer.precision}
    if spec["runner"] == "lightning":
        run_lightning(cfg, module, batches, clock, info)
    else:
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = bool(cfg.trainer.get("benchmark", False))  # as Lightning would set it
        loop = PlainGANLoop(module.to(device), cfg.trainer.precision)
        clock.ready(**info)
        for real, labels in batches:
            loop.step(real, labels)
            clock.batch_done()
    expect(channel, "stop")
    channel.send({"event": "done", "memory": memory_summary(rss_after_imports)})


def _evaluate(channel: Channel, spec: dict[str, Any]) -> None:
    rss_after_imports = _prepare(spec)
    from pathlib import Path

    import torch

    from gan.bench.evaluation import measure_evaluation, write_random_inception_weights
    from gan.bench.memory import memory_summary

    overrides = [*spec["overrides"], f"metrics.cache_dir={spec['cache_dir']}"]
    if spec["random_inception_weights"]:
        path = write_random_inception_weights(Path(spec["cache_dir"]), spec["seed"])
        overrides.append(f"metrics.extractor.weights_path={path}")
    cfg, module, device = _build({**spec, "overrides": overrides})
    result = measure_evaluation(cfg, module, device, spec, make_synchronize(device))
    result["threads"] = torch.get_num_threads()
    channel.send({"event": "done", **result, "memory": memory_summary(rss_after_imports)})

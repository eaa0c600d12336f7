"""Helpers for the checkpoint, resume, sampling and fine-tuning tests: tiny real training runs, in process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch
from omegaconf import DictConfig

from gan.train.run import train
from tests.conftest import make_config

# 16x16 digits, 8-channel nets: a global step takes milliseconds. batch 64 -> 22 batches (44 global steps) per epoch.
TINY = (
    "data.resolution=16",
    "data.batch_size=64",
    "model.generator.width=8",
    "model.discriminator.width=8",
    "model.latent_dim=8",
    "logger.tensorboard=false",
    "trainer.enable_progress_bar=false",
    "eval_every_n_steps=1000",
)
STEPS_PER_EPOCH = 44


def tiny_config(*overrides: str) -> DictConfig:
    return make_config(*TINY, *overrides)


def train_tiny(run_dir: Path, *overrides: str) -> float:
    return train(tiny_config(*overrides), run_dir)


def load(path: Path) -> dict[str, Any]:
    return torch.load(path, map_location="cpu", weights_only=True)


def last_ckpt(run_dir: Path) -> Path:
    return run_dir / "checkpoints" / "last.ckpt"


def callback(target: type, **kwargs: Any) -> str:
    """A `callbacks=[...]` override that adds `target(**kwargs)` to the trainer."""
    args = "".join(f", {key}: {value}" for key, value in kwargs.items())
    return f"callbacks=[{{_target_: {target.__module__}.{target.__qualname__}{args}}}]"


class Crash(RuntimeError):
    """Stands for the process dying (pre-emption, OOM kill) at a step boundary."""


class CrashAt(L.Callback):
    """Raises once `step` global steps are done, before the next batch: last.ckpt is whatever was saved by then."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_start(self, trainer: L.Trainer, *args: Any) -> None:
        if trainer.global_step >= self.step:
            raise Crash(f"simulated crash at global step {trainer.global_step}")


class NaNLossAt(L.Callback):
    """From global step `step` on, the discriminator loss is NaN (as when training diverges)."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        if trainer.global_step >= self.step:
            pl_module.d_loss = lambda real, fake: real.mean() * float("nan")


class DrawsFromGlobalRNG(L.Callback):
    """Stands for an evaluation callback that samples with torch's global RNG between training steps."""

    def __init__(self, every: int):
        self.every = every

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        if trainer.global_step % self.every == 0:
            torch.randn(1000)
            torch.rand(3)


class ScriptedScore(L.Callback):
    """Stands for the evaluation callback: every `every` steps and at the last step, `fid` = 100 - global step, so
    the last evaluation is always the best."""

    def __init__(self, every: int):
        self.every = every

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        step = trainer.global_step
        if step % self.every == 0 or step >= trainer.max_steps:
            trainer.callback_metrics["fid"] = torch.tensor(100.0 - step)

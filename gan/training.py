"""Assemble data, module, loggers, callbacks and trainer from a config, train, and report where results are."""

from __future__ import annotations

import math
from pathlib import Path

import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, Logger, TensorBoardLogger
from omegaconf import DictConfig

from gan.builders import build_datamodule, build_module
from gan.callbacks import RunStatus, SampleGrid

CHECKPOINT_DIR = "checkpoints"
SAMPLES_DIR = "samples"


def build_loggers(cfg: DictConfig, run_dir: Path) -> list[Logger]:
    loggers: list[Logger] = []
    if cfg.logger.csv:
        loggers.append(CSVLogger(save_dir=str(run_dir), name="", version=""))
    if cfg.logger.tensorboard:
        loggers.append(
            TensorBoardLogger(save_dir=str(run_dir), name="tensorboard", version="", default_hp_metric=False)
        )
    return loggers


def build_callbacks(cfg: DictConfig, run_dir: Path) -> list[L.Callback]:
    checkpoint_dir = run_dir / CHECKPOINT_DIR
    callbacks: list[L.Callback] = [
        RunStatus(str(run_dir)),
        SampleGrid(out_dir=str(run_dir / SAMPLES_DIR), every_n_steps=cfg.eval_every_n_steps, **cfg.samples),
        ModelCheckpoint(dirpath=checkpoint_dir, filename="last", every_n_train_steps=cfg.checkpoint.every_n_steps,
                        save_top_k=1, enable_version_counter=False),
    ]
    callbacks += [instantiate(extra) for extra in cfg.get("callbacks", [])]
    if cfg.metrics.get("callback"):
        callbacks.append(instantiate(cfg.metrics.callback))
    if cfg.metrics.get("monitor"):
        callbacks.append(ModelCheckpoint(dirpath=checkpoint_dir, filename="best", monitor=cfg.metrics.monitor,
                                         mode=cfg.metrics.monitor_mode, save_top_k=1,
                                         every_n_train_steps=cfg.eval_every_n_steps, enable_version_counter=False))
    return callbacks


def train(cfg: DictConfig, run_dir: Path) -> float:
    """Train as `cfg` says, writing the run directory; returns the best monitored metric (nan without metrics)."""
    L.seed_everything(cfg.seed, workers=True)
    datamodule = build_datamodule(cfg)
    module = build_module(cfg)
    callbacks = build_callbacks(cfg, run_dir)
    trainer: L.Trainer = instantiate(cfg.trainer, logger=build_loggers(cfg, run_dir), callbacks=callbacks,
                                     default_root_dir=str(run_dir))
    trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.resume)
    trainer.save_checkpoint(run_dir / CHECKPOINT_DIR / "last.ckpt")
    best = next((c for c in callbacks if isinstance(c, ModelCheckpoint) and c.monitor), None)
    score = float(best.best_model_score) if best is not None and best.best_model_score is not None else math.nan
    if trainer.is_global_zero:
        _print_summary(cfg, run_dir, trainer, score)
    return score


def _print_summary(cfg: DictConfig, run_dir: Path, trainer: L.Trainer, score: float) -> None:
    lines = [f"Run finished at global step {trainer.global_step}. Results in {run_dir}/"]
    if cfg.metrics.get("monitor"):
        lines.append(f"  best {cfg.metrics.monitor}: {score:.4f}")
        for key, value in sorted(trainer.callback_metrics.items()):
            if not key.startswith(("loss/", "d_", "g_steps")):
                lines.append(f"  last {key}: {float(value):.4f}")
    samples = sorted((run_dir / SAMPLES_DIR).glob("*.png"))
    lines += [
        f"  samples:     {samples[-1] if samples else run_dir / SAMPLES_DIR}",
        f"  checkpoints: {run_dir / CHECKPOINT_DIR}/ (last.ckpt"
        + (", best.ckpt)" if cfg.metrics.get("monitor") else ")"),
        f"  metrics:     {run_dir / 'metrics.csv'}",
        f"  TensorBoard: tensorboard --logdir {run_dir / 'tensorboard'}",
    ]
    print("\n".join(lines))

"""Assemble data, module, loggers, callbacks and trainer from a config, train, and report where results are."""

from __future__ import annotations

import math
from pathlib import Path

import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import Logger, TensorBoardLogger
from omegaconf import DictConfig, OmegaConf

from gan.metrics.callback import EvaluationCallback
from gan.train.builders import build_datamodule, build_module
from gan.train.callbacks import BestCheckpoint, FinalStepCheckpoint, RunStatus, SampleGrid
from gan.train.checkpoints import AtomicCheckpointIO, load_pretrained_weights, read_checkpoint, resolve_checkpoint_path
from gan.train.csv_log import RunCSVLogger
from gan.train.module import GAN, NonFiniteLossError

CHECKPOINT_DIR = "checkpoints"
SAMPLES_DIR = "samples"


def build_loggers(cfg: DictConfig, run_dir: Path) -> list[Logger]:
    loggers: list[Logger] = []
    if cfg.logger.csv:
        # Flushed at every logging step, so a crash keeps the rows logged before it (a resumed run appends to them).
        loggers.append(RunCSVLogger(save_dir=str(run_dir), name="", version="", flush_logs_every_n_steps=1,
                                    append=bool(cfg.get("resume"))))
    if cfg.logger.tensorboard:
        loggers.append(
            TensorBoardLogger(save_dir=str(run_dir), name="tensorboard", version="", default_hp_metric=False)
        )
    return loggers


def build_callbacks(cfg: DictConfig, run_dir: Path) -> list[L.Callback]:
    checkpoint_dir = run_dir / CHECKPOINT_DIR
    callbacks: list[L.Callback] = [
        RunStatus(str(run_dir)),
        FinalStepCheckpoint(str(checkpoint_dir / "last.ckpt")),
        SampleGrid(out_dir=str(run_dir / SAMPLES_DIR), every_n_steps=cfg.eval_every_n_steps, **cfg.samples),
        ModelCheckpoint(dirpath=checkpoint_dir, filename="last", every_n_train_steps=cfg.checkpoint.every_n_steps,
                        save_top_k=1, enable_version_counter=False),
    ]
    callbacks += [instantiate(extra) for extra in cfg.get("callbacks", [])]
    if cfg.metrics.get("kind"):
        callbacks.append(EvaluationCallback(cfg.eval_every_n_steps, cfg.metrics))
    if cfg.metrics.get("monitor"):
        callbacks.append(BestCheckpoint(dirpath=checkpoint_dir, filename="best", monitor=cfg.metrics.monitor,
                                        mode=cfg.metrics.monitor_mode, save_top_k=1,
                                        every_n_train_steps=cfg.eval_every_n_steps, enable_version_counter=False))
    return callbacks


def starting_point(cfg: DictConfig, module: GAN) -> Path | None:
    """The checkpoint to resume from (returned, for trainer.fit), after loading `init_from` weights if asked."""
    resume, init_from = cfg.get("resume"), cfg.get("init_from")
    if resume and init_from:
        raise ValueError(f"resume={resume} and init_from={init_from} are both set: resume continues a run with all its "
                         "state; init_from starts a new run from a checkpoint's weights. Set only one.")
    if init_from:
        load_pretrained_weights(module, resolve_checkpoint_path(init_from, "init_from"), expected_config=module.config)
        return None
    if cfg.model.get("freeze_d_blocks", 0) and not resume:
        raise ValueError(f"model.freeze_d_blocks={cfg.model.freeze_d_blocks} with no init_from: FreezeD keeps "
                         "pretrained D blocks fixed, and these would be random. Pass init_from=<checkpoint or run "
                         "dir> to fine-tune, or set model.freeze_d_blocks=0 to train from scratch.")
    if resume:
        path = resolve_checkpoint_path(resume, "resume")
        module.resume_source = str(path)
        return path
    return None


def train(cfg: DictConfig, run_dir: Path) -> float:
    """Train as `cfg` says, writing the run directory; returns the best monitored metric (nan without metrics)."""
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise ValueError(f"required settings are missing: {', '.join(missing)}; pass them on the command line, e.g. "
                         f"{missing[0]}=...")
    L.seed_everything(cfg.seed, workers=True)
    datamodule = build_datamodule(cfg)
    module = build_module(cfg)
    ckpt_path = starting_point(cfg, module)
    callbacks = build_callbacks(cfg, run_dir)
    # Checkpoints go through a temporary file and an atomic rename: a crash mid-save never leaves a broken last.ckpt.
    trainer: L.Trainer = instantiate(cfg.trainer, logger=build_loggers(cfg, run_dir), callbacks=callbacks,
                                     default_root_dir=str(run_dir), plugins=[AtomicCheckpointIO()])
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
    except NonFiniteLossError as error:
        raise NonFiniteLossError(f"{error}\n{_last_good_checkpoint(run_dir)}") from error
    final = next(c for c in callbacks if isinstance(c, FinalStepCheckpoint))
    if final.saved_step != trainer.global_step:  # the run ended otherwise than by max_steps (max_epochs, a callback)
        trainer.save_checkpoint(final.path, weights_only=False)
    best = next((c for c in callbacks if isinstance(c, ModelCheckpoint) and c.monitor), None)
    score = float(best.best_model_score) if best is not None and best.best_model_score is not None else math.nan
    if trainer.is_global_zero:
        _print_summary(cfg, run_dir, trainer, score)
    return score


def _last_good_checkpoint(run_dir: Path) -> str:
    path = run_dir / CHECKPOINT_DIR / "last.ckpt"
    if not path.is_file():
        return "No checkpoint had been written yet (the first is written after checkpoint.every_n_steps steps)."
    step = read_checkpoint(path).get("global_step")
    return f"Last good checkpoint: {path} (global step {step}); resume from it with resume={path}."


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

"""Assemble data, module, loggers, callbacks and trainer from a config, train, and report where results are."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.core.saving import save_hparams_to_yaml
from lightning.pytorch.loggers import Logger, TensorBoardLogger
from omegaconf import DictConfig

from gan.compat import stop_probing_for_a_gpu_every_step
from gan.config import instantiate_node
from gan.metrics.callback import EvaluationCallback
from gan.train.builders import build_datamodule, build_module, check_data_fits, to_container
from gan.train.callbacks import BestCheckpoint, FinalStepCheckpoint, RunStatus, SampleGrid, StepCheckpoint
from gan.train.checkpoint_io import AtomicCheckpointIO
from gan.train.checkpoints import (
    NotAGANCheckpointError,
    checkpoint_kind,
    load_pretrained_weights,
    read_checkpoint,
    resolve_checkpoint_path,
)
from gan.train.csv_log import RunCSVLogger
from gan.train.module import GAN, NonFiniteLossError
from gan.train.progress import RunProgressBar
from gan.train.resume import check_changes, check_steps_left, resumed_config, setting_changes
from gan.train.rundir import (
    claim,
    continues_run,
    launch_rank,
    recorded_overrides,
    remove_stale_temporaries,
    write_record,
    write_status,
)
from gan.train.signals import GracefulStop
from gan.train.sweep_name import sweep_job_name
from gan.train.tensorboard import SectionedTensorBoardLogger
from gan.train.validate import validate

CHECKPOINT_DIR = "checkpoints"
SAMPLES_DIR = "samples"
HPARAMS_FILE = "hparams.yaml"


def build_loggers(cfg: DictConfig, run_dir: Path, resume_checkpoint: dict[str, Any] | None = None,
                  tensorboard_name: str | None = None) -> list[Logger]:
    """metrics.csv in the run directory; TensorBoard in tensorboard/ (tensorboard/<name>/ for a sweep job, named by
    the swept settings: gan/train/sweep_name.py)."""
    loggers: list[Logger] = []
    if cfg.logger.csv:
        # Flushed at every logging step, so a crash keeps the rows logged before it. A resumed run appends to them,
        # after dropping the rows logged past its checkpoint (the resumed run logs those steps again).
        loggers.append(RunCSVLogger(save_dir=str(run_dir), name="", version="", flush_logs_every_n_steps=1,
                                    resume_from=resume_checkpoint))
    if cfg.logger.tensorboard:
        loggers.append(
            SectionedTensorBoardLogger(save_dir=str(run_dir), name="tensorboard", version=tensorboard_name or "",
                                       default_hp_metric=False)
        )
    return loggers


def build_callbacks(cfg: DictConfig, run_dir: Path) -> list[L.Callback]:
    checkpoint_dir = run_dir / CHECKPOINT_DIR
    callbacks: list[L.Callback] = [
        RunStatus(str(run_dir)),
        FinalStepCheckpoint(str(checkpoint_dir / "last.ckpt")),
        GracefulStop(str(checkpoint_dir / "last.ckpt")),
        SampleGrid(out_dir=str(run_dir / SAMPLES_DIR), every_n_steps=cfg.eval_every_n_steps, **cfg.samples),
        StepCheckpoint(dirpath=checkpoint_dir, filename="last", every_n_train_steps=cfg.checkpoint.every_n_steps,
                       save_top_k=1, enable_version_counter=False),
    ]
    if cfg.trainer.get("enable_progress_bar", True):
        callbacks.append(RunProgressBar(refresh_rate=cfg.get("progress", {}).get("refresh_steps", 1)))
    callbacks += [instantiate(extra) for extra in cfg.get("callbacks", [])]
    if cfg.metrics.get("kind"):
        callbacks.append(EvaluationCallback(cfg.eval_every_n_steps, cfg.metrics))
    if cfg.metrics.get("monitor"):
        callbacks.append(BestCheckpoint(dirpath=checkpoint_dir, filename="best", monitor=cfg.metrics.monitor,
                                        mode=cfg.metrics.monitor_mode, save_top_k=1,
                                        every_n_train_steps=cfg.eval_every_n_steps, enable_version_counter=False))
    return callbacks


def starting_point(cfg: DictConfig, module: GAN, resume_checkpoint: dict[str, Any] | None) -> Path | None:
    """The checkpoint to resume from (returned, for trainer.fit), after loading `init_from` weights if asked.

    A resume checkpoint (read once by `train`) is checked against the module's architecture here, before fit starts,
    so a mismatch is refused before anything of the run is touched.
    """
    resume, init_from = cfg.get("resume"), cfg.get("init_from")
    check_one_starting_point(resume, init_from)
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
        module.check_resume_checkpoint(resume_checkpoint or read_checkpoint(path))
        return path
    return None


def check_one_starting_point(resume: str | None, init_from: str | None) -> None:
    if resume and init_from:
        raise ValueError(f"resume={resume} and init_from={init_from} are both set: resume continues a run with all its "
                         "state; init_from starts a new run from a checkpoint's weights. Set only one.")


def _read_resume_checkpoint(resume: str) -> dict[str, Any]:
    path = resolve_checkpoint_path(resume, "resume")
    checkpoint = read_checkpoint(path)
    if checkpoint_kind(checkpoint, path) != "training":
        raise NotAGANCheckpointError(
            f"resume={resume}: {path} is an exported generator (G_ema only): it has no discriminator, optimiser or "
            "loop state to resume from. Resume from the run's checkpoints/last.ckpt, or fine-tune from a training "
            "checkpoint with init_from=...")
    return checkpoint


def train(cfg: DictConfig, run_dir: Path, overrides: Sequence[str] | None = None) -> float:
    """Train as `cfg` says, writing the run directory; returns the best monitored metric (nan without metrics).

    `overrides` are the command line's (gan-train passes them): with `resume=`, the run's stored settings are used and
    only these are applied on top (see gan/train/resume.py). Without them (a library call) `cfg` is used as given,
    and a resume is still refused if it changes training settings.
    """
    run_dir = Path(run_dir)
    stop_probing_for_a_gpu_every_step()
    resume = cfg.get("resume")
    check_one_starting_point(resume, cfg.get("init_from"))
    checkpoint = _read_resume_checkpoint(resume) if resume else None
    stored = dict(checkpoint.get("gan_config") or {}) if checkpoint else None
    if stored is not None and overrides is not None:
        cfg = resumed_config(cfg, stored, overrides)
    lead = launch_rank() == 0
    continuing = claim(run_dir, resume) if lead else continues_run(run_dir, resume)
    try:
        validate(cfg)
        changes = setting_changes(stored, to_container(cfg)) if stored is not None else []
        check_changes(changes, bool(cfg.get("resume_allow_changes", False)), resume)
        L.seed_everything(cfg.seed, workers=True)
        datamodule = build_datamodule(cfg)
        module = build_module(cfg)
        check_data_fits(cfg, module.num_classes, datamodule.train_dataset)
        ckpt_path = starting_point(cfg, module, checkpoint)  # checks the checkpoint fits the model
        if checkpoint is not None:
            check_steps_left(checkpoint, cfg.trainer.get("max_steps"), resume)
        callbacks = build_callbacks(cfg, run_dir)
        # Checkpoints go through a temporary file and an atomic rename: a crash mid-save never leaves a broken
        # last.ckpt.
        recorded = recorded_overrides(run_dir)  # a resumed sweep job keeps the name it started with
        job_name = sweep_job_name(run_dir, recorded if recorded is not None else (overrides or []))
        trainer: L.Trainer = instantiate_node(cfg.trainer, logger=build_loggers(cfg, run_dir, checkpoint, job_name),
                                              callbacks=callbacks, default_root_dir=str(run_dir),
                                              plugins=[AtomicCheckpointIO()])
    except Exception as error:
        if lead and not continuing:  # a new run's directory says why it never started; a resumed run's is untouched
            write_status(run_dir, "failed", f"{type(error).__name__}: {error}")
        raise
    if lead:
        if continuing:
            remove_stale_temporaries(run_dir)
        write_record(run_dir, module.config, overrides or [], continuing, changes)
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
    except NonFiniteLossError as error:
        raise NonFiniteLossError(f"{error}\n{_last_good_checkpoint(run_dir)}") from error
    finally:
        for callback in callbacks:
            if isinstance(callback, GracefulStop):
                callback.restore()
    final = next(c for c in callbacks if isinstance(c, FinalStepCheckpoint))
    if final.saved_step != trainer.global_step:  # the run ended otherwise than by max_steps (max_epochs, a callback)
        trainer.save_checkpoint(final.path, weights_only=False)
    best = next((c for c in callbacks if isinstance(c, ModelCheckpoint) and c.monitor), None)
    score = float(best.best_model_score) if best is not None and best.best_model_score is not None else math.nan
    if trainer.is_global_zero:
        log_hyperparameters(trainer, module.config, cfg.metrics.get("monitor"), score)
        _print_summary(cfg, run_dir, trainer, score)
    return score


def log_hyperparameters(trainer: L.Trainer, config: dict[str, Any], monitor: str | None, score: float) -> None:
    """The flattened config and the final metrics into TensorBoard's HPARAMS tab (and hparams.yaml), so a sweep can be
    compared there too: `best/<monitor>` and the last value of every evaluated metric."""
    flat = {key: value if isinstance(value, int | float | str | bool) else str(value)
            for key, value in _flatten(config).items() if not key.startswith("module.")}
    metrics = {f"last/{key}": float(value) for key, value in trainer.callback_metrics.items()
               if not key.startswith(("loss/", "d_", "g_steps"))}
    if monitor and not math.isnan(score):
        metrics[f"best/{monitor}"] = score
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.log_hyperparams(flat, metrics=metrics or {"last/global_step": float(trainer.global_step)})
            # Lightning wrote hparams.yaml ({}) when the logger started and never rewrites an existing one.
            save_hparams_to_yaml(Path(logger.log_dir) / HPARAMS_FILE, {**flat, **metrics})


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


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
        if cfg.metrics.get("kind") == "image":
            # FID falls with the sample count: a floor of a few hundred held-out images is comparable only at its size
            # 10 sample sets: at a few hundred samples one set's FID varies by ~20 % (experiments/digits_floor)
            lines.append(f"  against real data's floor, at one sample size: gan-eval ckpt={run_dir} which=best "
                         "floor=true seeds=0-9")
        for key, value in sorted(trainer.callback_metrics.items()):
            if not key.startswith(("loss/", "d_", "g_steps")):
                lines.append(f"  last {key}: {float(value):.4f}")
    # Only what the run wrote: a short run logs no metrics.csv (fewer steps than trainer.log_every_n_steps and no
    # evaluation), a run without metrics has no best.ckpt, logger.tensorboard=false no event files.
    samples = sorted((run_dir / SAMPLES_DIR).glob("*.png"))
    checkpoints = [name for name in ("last.ckpt", "best.ckpt") if (run_dir / CHECKPOINT_DIR / name).is_file()]
    written = [("samples", samples[-1] if samples else None),
               ("checkpoints", f"{run_dir / CHECKPOINT_DIR}/ ({', '.join(checkpoints)})" if checkpoints else None),
               ("metrics", run_dir / "metrics.csv" if (run_dir / "metrics.csv").is_file() else None),
               ("TensorBoard", f"tensorboard --logdir {run_dir / 'tensorboard'}"
                if (run_dir / "tensorboard").is_dir() else None)]
    lines += [f"  {label + ':':<12} {value}" for label, value in written if value is not None]
    print("\n".join(lines))

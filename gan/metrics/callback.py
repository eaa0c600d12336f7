"""The evaluation callback: metrics of G_ema every `every_n_steps` global steps and at the end of training.

Rows go to every logger (`logger.log_metrics(row, step=global_step)`, rank 0); the CSV logger also gets the `protocol`
string, which marks a row as an evaluation row. The monitored value is put into `trainer.callback_metrics` on every
rank, so ModelCheckpoint(monitor=...) keeps `best.ckpt` at the best evaluation. A class-conditional module
(`num_classes` > 0) also gets cond_acc and intra_fid in its rows (gan.metrics.evaluator).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import lightning as L
import torch
from lightning.pytorch.loggers import CSVLogger
from omegaconf import DictConfig, OmegaConf

from gan.metrics.evaluator import Conditioning, Evaluator, build_evaluator, model_conditioning
from gan.train.callbacks import BatchStepSpan, at_max_steps

log = logging.getLogger(__name__)


class EvaluationCallback(BatchStepSpan):
    """Scores G_ema as `settings` (a metrics group, `cfg.metrics`) says; `settings.monitor` goes to callback_metrics."""

    def __init__(self, every_n_steps: int, settings: Mapping[str, Any] | DictConfig):
        if every_n_steps < 1:
            raise ValueError(f"eval_every_n_steps must be >= 1, got {every_n_steps}")
        self.every_n_steps = every_n_steps
        self.settings = OmegaConf.to_container(settings, resolve=True) if isinstance(settings, DictConfig) \
            else dict(settings)
        self.monitor = self.settings.get("monitor")
        self.seed = int(self.settings["seed"])
        self.evaluator: Evaluator | None = None
        self.last_row: dict[str, float] | None = None
        self._last_step = -1
        self._fit_start = time.monotonic()
        # Seconds of training before this process (a resumed run continues the clock, so time-to-best stays right).
        self._elapsed_before = 0.0

    # ------------------------------------------------------------------------------------------------- setup
    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Here, not in setup(): the module is on its device by now, so real features are extracted there.
        self._fit_start = time.monotonic()
        if self.evaluator is None:
            self.build(trainer, pl_module)

    def build(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        datamodule = trainer.datamodule
        if datamodule is None or not hasattr(datamodule, "make_dataset"):
            raise ValueError("the metrics callback needs the project's datamodule (make_dataset(split)) for the "
                             "reference data; train with gan.train.run.train")
        # Rank 0 first: it trains the classifier / extracts real features into the cache; the other ranks then read
        # them instead of all doing (and racing on) the same work.
        conditioning = self.conditioning(pl_module)
        if trainer.is_global_zero:
            self.evaluator = build_evaluator(self.settings, datamodule.make_dataset, pl_module.device,
                                             conditioning=conditioning)
        trainer.strategy.barrier("gan-metrics-setup")
        if not trainer.is_global_zero:
            self.evaluator = build_evaluator(self.settings, datamodule.make_dataset, pl_module.device,
                                             conditioning=conditioning)
        if trainer.is_global_zero:
            log.info("evaluation protocol: %s", self.evaluator.protocol)

    @staticmethod
    def conditioning(pl_module: L.LightningModule) -> Conditioning | None:
        """The labels `pl_module.generate_batched` draws (a conditional GAN: cond_acc and intra_fid); None otherwise."""
        return model_conditioning(pl_module.latent_dim, int(getattr(pl_module, "num_classes", 0) or 0))

    def elapsed_s(self) -> float:
        """Training wall time so far, over every process of the run (resumes included)."""
        return self._elapsed_before + time.monotonic() - self._fit_start

    def state_dict(self) -> dict[str, float]:
        return {"elapsed_s": self.elapsed_s()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._elapsed_before = float(state_dict.get("elapsed_s", 0.0))

    # ------------------------------------------------------------------------------------------------- triggers
    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        step = trainer.global_step
        if step == self._last_step:
            return
        # The final step is evaluated here too (not only in on_train_end) so its row precedes the final checkpoint.
        # Crossing, not landing on, a multiple: with n_critic > 1 the global step skips some (gan/train/callbacks.py).
        if self.passed_multiple(trainer, self.every_n_steps) or at_max_steps(trainer):
            self.evaluate(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.global_step != self._last_step:  # ended otherwise than by max_steps
            self.evaluate(trainer, pl_module)

    # ------------------------------------------------------------------------------------------------- evaluate
    def evaluate(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, float]:
        if self.evaluator is None:
            self.build(trainer, pl_module)
        self._last_step = trainer.global_step
        row = self.evaluator.evaluate(
            lambda n, seed: pl_module.generate_batched(n, seed, n), self.seed,
            rank=trainer.global_rank, world_size=trainer.world_size, device=pl_module.device,
        )
        for key, value in row.items():
            trainer.callback_metrics[key] = torch.tensor(value, dtype=torch.float32)
        if self.monitor and self.monitor not in row:
            raise ValueError(f"metrics.monitor={self.monitor} is not among the evaluated metrics {sorted(row)}")
        row = {"global_step": trainer.global_step, "elapsed_s": self.elapsed_s(), **row}
        self.last_row = row
        if trainer.is_global_zero:
            for logger in trainer.loggers:
                if isinstance(logger, CSVLogger):
                    logger.log_metrics({**row, "protocol": self.evaluator.protocol}, step=trainer.global_step)
                else:  # TensorBoard and other dashboards: one `eval/` section (gan/train/tensorboard.py)
                    logger.log_metrics({f"eval/{key}": value for key, value in row.items()}, step=trainer.global_step)
                logger.save()
            shown = " ".join(f"{k}={v:.4g}" for k, v in row.items() if k not in ("global_step", "elapsed_s"))
            log.info("step %d: %s [%s]", trainer.global_step, shown, self.evaluator.protocol)
        return row

"""A progress bar over the whole run, in global steps (the unit of trainer.max_steps), with an ETA and the latest
evaluation.

Lightning's bar counts batches of the current epoch (`Epoch 27/-2 ... 6/12`, an ETA for that epoch only) and, with
one D and one G update per batch, ends at half of max_steps. Here the total is `trainer.max_steps` global steps (the
same steps as eval_every_n_steps and checkpoint intervals), resumed runs start where they stopped, and the postfix
shows G updates, the losses and the monitored metric of the last evaluation.
"""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.callbacks import TQDMProgressBar

# Metrics shown in the postfix when present (training losses, G updates, the usual monitored metrics).
SHOWN = ("g_steps", "loss/d", "loss/g", "fid", "kl_uniform", "modes_covered")


class RunProgressBar(TQDMProgressBar):
    """TQDM bar whose unit is the global step of the whole run (see the module docstring)."""

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.train_progress_bar = self.init_train_tqdm()
        self.train_progress_bar.total = trainer.max_steps if trainer.max_steps > 0 else None
        self.train_progress_bar.initial = trainer.global_step
        self.train_progress_bar.n = trainer.global_step
        self.train_progress_bar.set_description("global steps")
        self.train_progress_bar.unit = "step"

    def on_train_epoch_start(self, trainer: L.Trainer, *_: Any) -> None:
        pass  # one bar for the run, not one per epoch

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *_: Any) -> None:
        bar = self.train_progress_bar
        if bar is None or not self._should_update(trainer.global_step, bar.total or trainer.global_step):
            return
        bar.n = trainer.global_step
        bar.set_postfix(self.get_metrics(trainer, pl_module), refresh=True)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        pass

    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        metrics = trainer.callback_metrics
        return {key: f"{float(metrics[key]):.4g}" for key in SHOWN if key in metrics}

"""The Lightning side: the module `build_module` made, driven by a real Trainer built from the composed trainer config.

Only what would distort a speed measurement is switched off (logger, checkpointing, progress bar, model summary);
the precision and accelerator come from the same `trainer` config users train with.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import lightning as L
from hydra.utils import instantiate
from omegaconf import DictConfig

from gan.bench.windows import WindowClock
from gan.train.module import GAN


class WindowTimerCallback(L.Callback):
    """Hands Lightning's batch boundaries to the shared WindowClock; adds one hook call per batch, nothing else."""

    def __init__(self, clock: WindowClock, info: dict[str, Any]):
        self.clock, self.info = clock, info

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.clock.ready(**self.info)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        self.clock.batch_done()


def build_trainer(cfg: DictConfig, callbacks: list[L.Callback]) -> L.Trainer:
    # One epoch over a batch source of exactly the benchmark's length: the number of batches sets the run length,
    # whatever n_critic makes of Lightning's global step count.
    return instantiate(cfg.trainer, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                       enable_model_summary=False, max_steps=-1, max_epochs=1, callbacks=callbacks)


def run_lightning(cfg: DictConfig, module: GAN, batches: Iterable, clock: WindowClock, info: dict[str, Any]) -> None:
    trainer = build_trainer(cfg, [WindowTimerCallback(clock, info)])
    trainer.fit(module, train_dataloaders=batches)

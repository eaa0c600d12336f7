"""Training callbacks that are not metrics: sample grids of a fixed latent batch, and the run status file."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from PIL import Image
from torchvision.utils import make_grid, save_image

from gan.compat import checkpoint_interval, set_checkpoint_interval
from gan.data.base import PointsDataset
from gan.sample.scatter import scatter_pixels
from gan.train.interrupted import RunInterrupted
from gan.train.rundir import write_status


class SampleGrid(L.Callback):
    """Saves `samples/step_XXXXXXX.png` from G_ema on one fixed latent batch every `every_n_steps` global steps.

    Image data: a grid. Toy 2D data: a scatter plot of the samples over the mixture's means.
    The same latents every time make the grids a visual record of training progress.
    """

    def __init__(self, out_dir: str, every_n_steps: int, num_samples: int, nrow: int, seed: int,
                 points_to_plot: int = 0):
        self.out_dir = Path(out_dir)
        self.every_n_steps = every_n_steps
        self.num_samples = num_samples
        self.nrow = nrow
        self.seed = seed
        self.points_to_plot = points_to_plot
        self._last_step = -1

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        step = trainer.global_step
        if step != self._last_step and step % self.every_n_steps == 0:
            self.save(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.global_step != self._last_step:
            self.save(trainer, pl_module)

    def save(self, trainer: L.Trainer, pl_module: L.LightningModule) -> Path | None:
        self._last_step = trainer.global_step
        if not trainer.is_global_zero:
            return None
        self.out_dir.mkdir(parents=True, exist_ok=True)
        path = self.out_dir / f"step_{trainer.global_step:07d}.png"
        dataset = trainer.datamodule.train_dataset if trainer.datamodule is not None else None
        if isinstance(dataset, PointsDataset):
            samples = pl_module.generate_batched(self.points_to_plot, self.seed, self.points_to_plot).cpu()
            pixels = scatter_pixels(samples, dataset.means, f"step {trainer.global_step}")
            Image.fromarray(pixels).save(path)
            picture = torch.from_numpy(pixels).permute(2, 0, 1)  # (3, H, W) uint8, as add_image takes it
        else:
            samples = pl_module.generate_batched(self.num_samples, self.seed, self.num_samples).cpu()
            images = (samples.clamp(-1, 1) + 1) / 2
            save_image(images, path, nrow=self.nrow)
            picture = make_grid(images, nrow=self.nrow)
        for logger in trainer.loggers:
            experiment = getattr(logger, "experiment", None)
            if hasattr(experiment, "add_image"):
                experiment.add_image("samples", picture, trainer.global_step)
        return path


def at_max_steps(trainer: L.Trainer) -> bool:
    """Whether this batch is the run's last because it reached `trainer.max_steps` (a D+G batch can overshoot by 1)."""
    return 0 < trainer.max_steps <= trainer.global_step


class FinalStepCheckpoint(L.Callback):
    """Writes `last.ckpt` from inside the last training batch when the run ends by `max_steps`.

    A checkpoint saved after `fit()` returns records the epoch as finished, so a longer run resumed from it would skip
    the rest of that epoch's data and no longer match an uninterrupted run. Saved here, it is a mid-epoch checkpoint
    like the periodic ones. `saved_step` tells the caller whether a final save is still needed.
    """

    def __init__(self, path: str):
        self.path = Path(path)
        self.saved_step = -1

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        if at_max_steps(trainer) and self.saved_step != trainer.global_step:
            trainer.save_checkpoint(self.path, weights_only=False)
            self.saved_step = trainer.global_step


class BestCheckpoint(ModelCheckpoint):
    """ModelCheckpoint for best.ckpt that also weighs the evaluation of the run's last step.

    The evaluation callback scores every `every_n_train_steps` steps and at `max_steps`; a plain ModelCheckpoint looks
    only at the multiples, so a best score at a last step that is not one would be logged but never saved.
    """

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        every = checkpoint_interval(self)
        if not at_max_steps(trainer) or every < 1 or trainer.global_step % every == 0:
            super().on_train_batch_end(trainer, pl_module, *args)
            return
        set_checkpoint_interval(self, trainer.global_step)  # this one step counts as a save step
        try:
            super().on_train_batch_end(trainer, pl_module, *args)
        finally:
            set_checkpoint_interval(self, every)


class RunStatus(L.Callback):
    """Keeps `status.json` current: running, finished, interrupted (a signal; with the resume command) or failed.

    Only once fit has started: an error before that (a refused resume, say) must leave a finished run's record as it
    was.
    """

    def __init__(self, run_dir: str):
        self.run_dir = Path(run_dir)
        self.start = time.monotonic()
        self.started = False

    def _write(self, trainer: L.Trainer, state: str, message: str = "", **extra: Any) -> None:
        if trainer.is_global_zero:
            write_status(self.run_dir, state, message, step=trainer.global_step,
                         elapsed_s=round(time.monotonic() - self.start, 3), **extra)

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.start = time.monotonic()
        self.started = True
        self._write(trainer, "running")

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._write(trainer, "finished")

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        if not self.started:
            return
        if isinstance(exception, RunInterrupted):
            self._write(trainer, "interrupted", str(exception), resume_command=f"gan-train resume={self.run_dir}")
        else:
            self._write(trainer, "failed", f"{type(exception).__name__}: {exception}")

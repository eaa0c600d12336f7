"""Training callbacks that are not metrics: sample grids of a fixed latent batch, and the run status file."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from PIL import Image
from torchvision.utils import make_grid

import gan
from gan.compat import checkpoint_interval, set_checkpoint_interval
from gan.data.base import PointsDataset
from gan.data.pixels import to_uint8
from gan.sample.render import grid_pixels, provenance_info, with_caption
from gan.sample.scatter import scatter_pixels
from gan.train.interrupted import RunInterrupted
from gan.train.rundir import write_status

# torchvision's save_image default, kept so training grids look as they always did
GRID_PADDING = 2


class BatchStepSpan(L.Callback):
    """Remembers the global step at the start of each batch, so a subclass can tell whether the batch passed a
    multiple of its interval (`crossed_multiple`); shared by the sample grids, the evaluations and the checkpoints."""

    _batch_start_step = 0

    def on_train_batch_start(self, trainer: L.Trainer, *args: Any) -> None:
        self._batch_start_step = trainer.global_step

    def passed_multiple(self, trainer: L.Trainer, every: int) -> bool:
        return every >= 1 and crossed_multiple(self._batch_start_step, trainer.global_step, every)


class SampleGrid(BatchStepSpan):
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
        if trainer.global_step != self._last_step and self.passed_multiple(trainer, self.every_n_steps):
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
            num = self.points_to_plot
            samples = pl_module.generate_batched(num, self.seed, num).cpu()
            pixels = scatter_pixels(samples, dataset.means, f"step {trainer.global_step}")
            # (3, H, W) uint8, as add_image takes it; a copy, as the canvas's buffer is read-only (torch warns)
            picture = torch.from_numpy(pixels.copy()).permute(2, 0, 1)
        else:
            num = self.num_samples
            samples = pl_module.generate_batched(num, self.seed, num).cpu()
            pixels = grid_pixels(to_uint8(samples).permute(0, 2, 3, 1).numpy(), self.nrow, GRID_PADDING, 0.0, 1)
            # the step on the image itself (TensorBoard shows it beside the picture, a PNG viewer does not)
            pixels = with_caption(pixels, f"step {trainer.global_step}")
            picture = make_grid((samples.clamp(-1, 1) + 1) / 2, nrow=self.nrow)
        Image.fromarray(pixels.squeeze(-1) if pixels.shape[-1] == 1 else pixels).save(
            path, pnginfo=self._provenance(trainer, pl_module, num))
        for logger in trainer.loggers:
            experiment = getattr(logger, "experiment", None)
            if hasattr(experiment, "add_image"):
                experiment.add_image("samples", picture, trainer.global_step)
        return path

    def _provenance(self, trainer: L.Trainer, pl_module: L.LightningModule, num: int) -> Any:
        """Training grids carry provenance like gan-sample's images: the run, the step and the latent draw. No
        regenerate command: these latents are one seeded batch (module.sample_inputs), not gan-sample's per-seed
        recipe; the run's checkpoint of the same step with gan-sample gives images of the same G_ema."""
        step, g_steps = trainer.global_step, int(getattr(pl_module, "g_steps", -1))
        record = {"generated": True, "generator": "G_ema", "written_by": "gan-train", "run_dir":
                  str(self.out_dir.parent.resolve()), "global_step": step, "g_steps": g_steps,
                  "latent_sampling": f"module.sample_inputs(n={num}, seed={self.seed})", "num_samples": num,
                  "checkpoint_path": None, "gan_version": gan.__version__, "torch_version": torch.__version__}
        return provenance_info(f"gan {gan.__version__} (gan-train)",
                               f"Synthetic images generated by a GAN during training (G_ema at global step {step} "
                               f"of the run in {record['run_dir']}, latent seed {self.seed}); not photographs.",
                               record, None, getattr(pl_module, "config", None))


def crossed_multiple(start: int, end: int, every: int) -> bool:
    """Whether a batch that moved the global step from `start` to `end` passed a multiple of `every`.

    `end % every == 0` is not enough: one batch is one D update plus, every n_critic-th batch, a G update, so with
    n_critic > 1 the global step advances by 1 and 2 in turn (1, 3, 4, 6, 7, 9, ...) and never lands on some multiples
    (measured: a run with n_critic=2 and evaluations every 400 steps skipped step 800).
    """
    return end // every > start // every


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


class StepCheckpoint(BatchStepSpan, ModelCheckpoint):
    """ModelCheckpoint whose `every_n_train_steps` saves when a batch passes a multiple, not only when the global step
    lands on one: with n_critic > 1 the step skips values (1, 3, 4, 6, ...), and Lightning's landing rule then never
    saved last.ckpt at some intervals (with n_critic=2 and every 8 steps, nothing until step 16). With
    `at_max_steps`, the run's last step also counts as a save step (best.ckpt: the evaluation callback scores it)."""

    def __init__(self, *args: Any, at_max_steps: bool = False, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.at_max_steps = at_max_steps

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        every, step = checkpoint_interval(self), trainer.global_step
        due = self.passed_multiple(trainer, every) or (self.at_max_steps and at_max_steps(trainer))
        if every < 1 or step % every == 0 or not due:
            super().on_train_batch_end(trainer, pl_module, *args)  # Lightning's own rule: lands on a multiple
            return
        set_checkpoint_interval(self, step)  # this one step counts as a save step
        try:
            super().on_train_batch_end(trainer, pl_module, *args)
        finally:
            set_checkpoint_interval(self, every)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """A run directory that was moved or copied whole (off a cluster, say) resumes as the same run: its stored
        paths are re-rooted to where it is now. Lightning would instead drop the best score when the directory
        differs, and the next evaluation, however much worse, would overwrite best.ckpt. Only when the re-rooted
        best checkpoint is there: a resume that branches into a new directory has no best.ckpt yet, so it starts
        its own best (Lightning's behaviour)."""
        old, new = state_dict.get("dirpath"), self.dirpath
        if old and new and old != new:
            def moved(path: Any) -> Any:
                inside = isinstance(path, str) and path.startswith(old + os.sep)
                return new + path[len(old):] if inside else path

            best = moved(state_dict.get("best_model_path"))
            if best and isinstance(best, str) and os.path.isfile(best):
                paths = ("best_model_path", "kth_best_model_path", "last_model_path")
                top_k = state_dict.get("best_k_models") or {}
                state_dict = {**state_dict, "dirpath": new,
                              **{key: moved(state_dict.get(key)) for key in paths if key in state_dict},
                              "best_k_models": {moved(path): value for path, value in top_k.items()}}
        super().load_state_dict(state_dict)


class BestCheckpoint(StepCheckpoint):
    """best.ckpt: saved at each evaluation (the last step's included) whose monitored value is the best so far. Its
    own class so Lightning's callback-state key (the class name) stays that of earlier checkpoints: a resumed run
    keeps its best score."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, at_max_steps=True, **kwargs)


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

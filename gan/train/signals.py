"""Stopping on a signal without losing work: SIGTERM, SIGINT and SIGUSR1 save a checkpoint and exit non-zero.

Schedulers (SLURM, Kubernetes) send SIGTERM before they kill a job, SLURM sends SIGUSR1 ahead of a time limit when
asked to (`#SBATCH --signal=USR1@90`), and a person presses Ctrl-C (SIGINT). Left to Lightning, SIGTERM ends the run
with exit code 0 and no checkpoint at that step, so a scheduler reads success and a sweep carries on; SIGINT is
turned into a graceful stop, again without a checkpoint. Here the handler only records the signal; the current batch
finishes, `last.ckpt` is written at that step (mid-epoch, resumable exactly like the periodic ones), `status.json`
says `interrupted` with the resume command, and the process exits with 128 + the signal number (143, 130, 138), the
shell convention every scheduler understands. Under DDP every rank stops at the same step: the flag is reduced
across ranks after each batch.
"""

from __future__ import annotations

import signal
from pathlib import Path
from types import FrameType
from typing import Any

import lightning as L

from gan.compat import clear_lightning_sigterm
from gan.train.interrupted import SIGNAL_EXIT_BASE, RunInterrupted

__all__ = ["SIGNAL_EXIT_BASE", "GracefulStop", "RunInterrupted"]

STOP_SIGNALS = ("SIGTERM", "SIGINT", "SIGUSR1")


class GracefulStop(L.Callback):
    """Records a stop signal and ends training after the current batch with a checkpoint (see the module docstring)."""

    def __init__(self, checkpoint_path: str, signals: tuple[str, ...] = STOP_SIGNALS):
        self.checkpoint_path = Path(checkpoint_path)
        self.signals = [getattr(signal, name) for name in signals if hasattr(signal, name)]
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def _record(self, signum: int, frame: FrameType | None) -> None:
        self.received = signum

    def _install(self) -> None:
        for signum in self.signals:
            try:
                previous = signal.signal(signum, self._record)
            except ValueError:  # not the main thread (e.g. a notebook's worker thread): signals stay as they were
                return
            self._previous.setdefault(signum, previous)

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        # Early, so a signal during set-up is recorded too (and Lightning's SLURM handler does not take SIGUSR1).
        self.received = None
        self._previous = {}
        self._install()

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Again after Lightning registered its own SIGTERM handler at the start of fit: ours replaces it. A SIGTERM
        # Lightning already noted becomes ours, so that Lightning does not end the run without a checkpoint.
        self._install()
        if clear_lightning_sigterm(trainer):
            self.received = self.received or signal.SIGTERM

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        stop = self.received is not None
        if trainer.world_size > 1:
            stop = trainer.strategy.reduce_boolean_decision(stop, all=False)
        if not stop:
            return
        trainer.save_checkpoint(self.checkpoint_path, weights_only=False)
        raise RunInterrupted(self.received or signal.SIGTERM, trainer.global_step, self.checkpoint_path)

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self.restore()

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.restore()

    def restore(self) -> None:
        """Give the signals back to the handlers they had before fit. Idempotent: after an exception Lightning's own
        teardown puts back the handlers it found at the start of fit (ours), so `train` calls this once more after
        fit returns or raises."""
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

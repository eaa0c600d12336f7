"""The exception of a run stopped by a signal (see gan/train/signals.py), importable without Lightning."""

from __future__ import annotations

import signal
from pathlib import Path

# Exit status of a process ended by a signal, as shells and schedulers report it.
SIGNAL_EXIT_BASE = 128


class RunInterrupted(SystemExit):
    """Training stopped on a signal after saving a checkpoint; the exit code is 128 + the signal number.

    A SystemExit, so Hydra and the CLIs let it through as the process's exit status instead of reporting a crash.
    """

    def __init__(self, signum: int, step: int, checkpoint: Path):
        super().__init__(SIGNAL_EXIT_BASE + signum)
        self.signum, self.step, self.checkpoint = signum, step, checkpoint

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signum).name

    def __str__(self) -> str:
        return (f"stopped by {self.signal_name} at global step {self.step}; checkpoint saved to {self.checkpoint}")

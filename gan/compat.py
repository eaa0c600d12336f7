"""The only place that touches private attributes of the libraries we build on.

Each function here relies on something Lightning or torchmetrics does not promise to keep. Keeping them together
means an upgrade that moves one fails in one place, and `tests/test_compat.py` pins each to the installed versions:
it checks the attribute is still there and still means what we use it for.
"""

from __future__ import annotations

import csv
import os
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

if TYPE_CHECKING:  # Lightning is imported where it is used: evaluation and sampling run without it
    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint


def logger_should_update(trainer: L.Trainer | None) -> bool:
    """Whether Lightning writes this step's logged values to the loggers (every `trainer.log_every_n_steps`).

    Lightning's own rule lives on its private logger connector. Outside a Trainer (a test calling training_step
    directly) every step counts.
    """
    if trainer is None:
        return True
    return bool(trainer._logger_connector.should_update_logs)


def checkpoint_interval(callback: ModelCheckpoint) -> int:
    """`ModelCheckpoint(every_n_train_steps=...)` as the callback keeps it (no public getter)."""
    return int(callback._every_n_train_steps)


def set_checkpoint_interval(callback: ModelCheckpoint, every_n_train_steps: int) -> None:
    callback._every_n_train_steps = every_n_train_steps


def use_appending_writer(logger: Any) -> None:
    """Give a `CSVLogger` a writer that keeps an existing metrics.csv (and its header) before it creates its own (its
    private `_experiment`): Lightning's writer deletes the file in its private `_check_log_dir_exists`."""
    from lightning.pytorch.loggers.csv_logs import ExperimentWriter

    class AppendingExperimentWriter(ExperimentWriter):
        def _check_log_dir_exists(self) -> None:
            # Keep the file; take its header so new rows line up with the old ones (new keys rewrite the header).
            if self._fs.isfile(self.metrics_file_path):
                with self._fs.open(self.metrics_file_path, "r", newline="") as file:
                    self.metrics_keys = list(csv.DictReader(file).fieldnames or [])

    if logger._experiment is None:
        logger._fs.makedirs(logger.root_dir, exist_ok=True)
        logger._experiment = AppendingExperimentWriter(log_dir=logger.log_dir)


def clear_lightning_sigterm(trainer: L.Trainer) -> bool:
    """Take back a SIGTERM Lightning's signal connector recorded (it would end fit without a checkpoint at that step);
    returns whether there was one."""
    connector = trainer._signal_connector
    received = bool(connector.received_sigterm)
    connector.received_sigterm = False
    return received


def set_fid_real_sums(fid: Any, total: Tensor, cov_sum: Tensor, count: Tensor) -> None:
    """Load precomputed real-feature sums into a torchmetrics `FrechetInceptionDistance` (what update(real=True) would
    have accumulated), so cached real statistics are not re-fed image by image."""
    fid.real_features_sum = total
    fid.real_features_cov_sum = cov_sum
    fid.real_features_num_samples = count


def set_kid_real_features(kid: Any, features: Tensor) -> None:
    """Load precomputed real features into a torchmetrics `KernelInceptionDistance` (its list state)."""
    kid.real_features = [features]


def lerp_all_(targets: list[Tensor], ends: list[Tensor], weight: float) -> None:
    """`t.lerp_(e, weight)` for every pair, as one foreach kernel (torch._foreach_lerp_, not a promised API): the same
    arithmetic as the loop, bit for bit, with one Python call instead of one per tensor (G_ema's update)."""
    if targets:
        torch._foreach_lerp_(targets, ends, weight)


def stop_probing_for_a_gpu_every_step() -> None:
    """On a machine with no visible GPU, let torch answer "is CUDA available?" from its cached runtime count.

    Lightning sets PYTORCH_NVML_BASED_CUDA_CHECK=1 when imported (fork safety on GPU machines). torch's Adam asks
    whether an accelerator is available on every step (a graph-capture check), and under that setting, with no GPU,
    torch re-tries loading NVML each time and falls back to the runtime count anyway: 0.13 ms an update on an idle
    2-core machine, ~1 ms under load, as much as the fused Adam update of the toy networks. With no GPU visible there
    is nothing for the NVML check to protect, so it is switched off; with one it is left as Lightning set it.
    """
    if os.environ.get("PYTORCH_NVML_BASED_CUDA_CHECK") == "1" and not torch.cuda.is_available():
        os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"] = "0"

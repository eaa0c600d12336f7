"""TensorBoard with its scalars in two sections: `train/` (losses, logits, g_steps) and `eval/` (evaluation rows).

TensorBoard groups scalars by the tag's first path component; Lightning's own tags (`loss/d`, `d_real`, `fid`) would
otherwise scatter over a `loss` section and a flat list. Evaluation rows arrive already tagged `eval/` (the metrics
callback names them so for every non-CSV logger); the HPARAMS tab's `best/` and `last/` metrics keep their names, which
the hparams session refers to. metrics.csv keeps the plain column names gan-compare reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lightning.pytorch.loggers import TensorBoardLogger

EVAL_PREFIX = "eval/"
TRAIN_PREFIX = "train/"
# tags that keep their name: already sectioned, or named by the hparams session
KEPT_PREFIXES = (EVAL_PREFIX, TRAIN_PREFIX, "best/", "last/", "hp_metric")


def sectioned(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """Training tags get `train/` in front; evaluation, best/ and last/ tags are left as they are."""
    return {key if key.startswith(KEPT_PREFIXES) else f"{TRAIN_PREFIX}{key}": value for key, value in metrics.items()}


class SectionedTensorBoardLogger(TensorBoardLogger):
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        super().log_metrics(sectioned(metrics), step)

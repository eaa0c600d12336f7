"""A CSV logger that appends to the run's metrics.csv when a run is resumed, instead of deleting it.

Lightning's CSV writer removes an existing metrics.csv when it starts, which on resume would throw away every row
logged before the interruption, i.e. finished results.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter

from gan.compat import use_appending_writer
from gan.io import write_text_atomic

METRICS_FILE = "metrics.csv"


class RunCSVLogger(CSVLogger):
    """CSVLogger writing `metrics.csv`; resuming from a checkpoint (`resume_from`), earlier rows are kept, except
    those logged after that checkpoint was written: the resumed run trains those steps again and logs them anew, and
    keeping both would count them twice (gan-compare, time-to-best)."""

    def __init__(self, *args: Any, resume_from: Mapping[str, Any] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.resume_from = resume_from

    @property
    def experiment(self) -> ExperimentWriter:
        if self.resume_from is not None:
            if self._experiment is None:
                drop_rows_after(Path(self.log_dir) / METRICS_FILE, int(self.resume_from.get("global_step", 0)))
            use_appending_writer(self)
        return super().experiment


def drop_rows_after(path: Path, global_step: int) -> int:
    """Rewrite `path` without rows logged past `global_step` (a checkpoint's position); returns how many were dropped.

    Every row is on the global-step axis: evaluation rows carry `global_step`, training rows log it as their `step`
    (gan/train/module.py logs Lightning's `step` key).
    """
    if not path.is_file():
        return 0
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        fields, rows = reader.fieldnames or [], list(reader)
    kept = [row for row in rows if not _after(row, global_step)]
    if len(kept) < len(rows):
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=fields)
        writer.writeheader()
        writer.writerows(kept)
        write_text_atomic(path, buffer.getvalue())
    return len(rows) - len(kept)


def _after(row: Mapping[str, str], global_step: int) -> bool:
    try:
        return float(row.get("global_step") or row["step"]) > global_step
    except (KeyError, ValueError):
        return False

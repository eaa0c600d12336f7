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

from gan.compat import LoggedSteps, logged_steps, use_appending_writer
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
                drop_rows_after(Path(self.log_dir) / METRICS_FILE, logged_steps(self.resume_from))
            use_appending_writer(self)
        return super().experiment


def drop_rows_after(path: Path, steps: LoggedSteps) -> int:
    """Rewrite `path` without rows logged past `steps` (a checkpoint's position); returns how many were dropped.

    Evaluation rows (a `protocol` value) are logged at the global step; training rows at Lightning's logging step.
    """
    if not path.is_file():
        return 0
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        fields, rows = reader.fieldnames or [], list(reader)
    kept = [row for row in rows if not _after(row, steps)]
    if len(kept) < len(rows):
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=fields)
        writer.writeheader()
        writer.writerows(kept)
        write_text_atomic(path, buffer.getvalue())
    return len(rows) - len(kept)


def _after(row: Mapping[str, str], steps: LoggedSteps) -> bool:
    try:
        if row.get("protocol"):
            return float(row.get("global_step") or row["step"]) > steps.global_step
        return float(row["step"]) > steps.logging_step
    except (KeyError, ValueError):
        return False

"""A CSV logger that appends to the run's metrics.csv when a run is resumed, instead of deleting it.

Lightning's CSV writer removes an existing metrics.csv when it starts, which on resume would throw away every row
logged before the interruption, i.e. finished results.
"""

from __future__ import annotations

import csv

from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter


class _AppendingWriter(ExperimentWriter):
    def _check_log_dir_exists(self) -> None:
        # Keep the file; take its header so new rows line up with the old ones (new keys rewrite the header).
        if self._fs.isfile(self.metrics_file_path):
            with self._fs.open(self.metrics_file_path, "r", newline="") as file:
                self.metrics_keys = list(csv.DictReader(file).fieldnames or [])


class RunCSVLogger(CSVLogger):
    """CSVLogger writing `metrics.csv`; with `append=True` (resume) earlier rows are kept."""

    def __init__(self, *args, append: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.append = append

    @property
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None and self.append:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return super().experiment

"""A CSV logger that appends to the run's metrics.csv when a run is resumed, instead of deleting it.

Lightning's CSV writer removes an existing metrics.csv when it starts, which on resume would throw away every row
logged before the interruption, i.e. finished results.
"""

from __future__ import annotations

from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter

from gan.compat import use_appending_writer


class RunCSVLogger(CSVLogger):
    """CSVLogger writing `metrics.csv`; with `append=True` (resume) earlier rows are kept."""

    def __init__(self, *args, append: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.append = append

    @property
    def experiment(self) -> ExperimentWriter:
        if self.append:
            use_appending_writer(self)
        return super().experiment

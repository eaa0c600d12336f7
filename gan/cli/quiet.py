"""Silence library messages that are expected in this codebase and would only bury the ones that matter."""

from __future__ import annotations

import logging
import warnings

# Each is harmless here, for the reason given.
KNOWN_HARMLESS_WARNINGS = (
    # G_ema is kept in eval mode on purpose.
    r".*module\(s\) in eval mode at the start of training.*",
    # We checkpoint after the optimiser steps of a batch, which is what resuming needs.
    r".*Using ModelCheckpoint with manual optimization and every_n_train_steps.*",
    # Lightning-internal deprecation, nothing to act on in user code.
    r".*isinstance\(treespec, LeafSpec\).*",
    # status.json is written before the CSV logger starts; the logger does not delete it.
    r".*Experiment logs directory .* exists and is not empty.*",
    # Small datasets have fewer batches per epoch than the logging interval; we log across epochs anyway.
    r".*is smaller than the logging interval.*",
)


class _DropAdverts(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "💡 Tip" not in record.getMessage()


def quiet_known_messages() -> None:
    for pattern in KNOWN_HARMLESS_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_DropAdverts())

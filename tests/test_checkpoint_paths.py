"""A run directory stands for one of its checkpoints: last.ckpt by default, best.ckpt on request."""

from __future__ import annotations

import pytest

from gan.train.checkpoints import resolve_checkpoint_path


def _run_dir(tmp_path, *names):
    (tmp_path / "checkpoints").mkdir()
    for name in names:
        (tmp_path / "checkpoints" / name).write_bytes(name.encode())
    return tmp_path


def test_run_directory_resolves_to_last_or_best(tmp_path):
    run = _run_dir(tmp_path, "last.ckpt", "best.ckpt")
    assert resolve_checkpoint_path(run, "ckpt") == run / "checkpoints" / "last.ckpt"
    assert resolve_checkpoint_path(run, "ckpt", "best") == run / "checkpoints" / "best.ckpt"
    # a file is taken as given, whatever `which` says
    assert resolve_checkpoint_path(run / "checkpoints" / "last.ckpt", "ckpt", "best").name == "last.ckpt"


def test_best_of_a_run_without_metrics_says_what_to_do(tmp_path):
    run = _run_dir(tmp_path, "last.ckpt")
    with pytest.raises(FileNotFoundError, match="best.ckpt is written only by runs with metrics"):
        resolve_checkpoint_path(run, "ckpt", "best")
    with pytest.raises(ValueError, match="choose last or best"):
        resolve_checkpoint_path(run, "ckpt", "newest")

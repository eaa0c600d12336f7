"""Evaluations and sample grids fire every eval_every_n_steps global steps, also when n_critic makes the step skip."""

from __future__ import annotations

import csv

import pytest

from gan.train.run import train
from tests.conftest import make_config
from tests.training_helpers import Crash, CrashAt, callback, last_ckpt, load, train_tiny


def test_crossed_multiple_catches_steps_that_n_critic_skips():
    from gan.train.callbacks import crossed_multiple

    # n_critic=2: the global step runs 1, 3, 4, 6, 7, 9, ... and never lands on 8
    assert crossed_multiple(7, 9, 4) and crossed_multiple(3, 4, 4) and not crossed_multiple(4, 6, 4)


def test_evaluations_and_grids_are_not_skipped_with_n_critic_2(tmp_path):
    train(make_config("data=grid25", "model=mlp", "metrics=toy", "data.dataset.num_samples=500",
                      "model.generator.hidden_dim=8", "model.discriminator.hidden_dim=8", "trainer.max_steps=12",
                      "optim.n_critic=2", "eval_every_n_steps=4", "metrics.num_fake_samples=200",
                      "metrics.batch_size=200", "samples.points_to_plot=200"), tmp_path)
    with open(tmp_path / "metrics.csv", newline="") as handle:
        steps = [int(float(row["global_step"])) for row in csv.DictReader(handle) if row.get("protocol")]
    # global steps 1, 3, 4, 6, 7, 9, 10, 12: multiples 4, 8, 12 are passed at 4, 9 and 12 (8 was skipped before)
    assert steps == [4, 9, 12]
    assert sorted(p.name for p in (tmp_path / "samples").glob("*.png")) == [
        "step_0000004.png", "step_0000009.png", "step_0000012.png"]


def test_periodic_last_checkpoint_is_not_skipped_with_n_critic_2(tmp_path):
    """checkpoint.every_n_steps=8 with n_critic=2: the step passes 8 at 9 (1, 3, 4, 6, 7, 9, 10, 12). Lightning's
    landing rule wrote nothing before step 16, so a crash at 12 lost every step; the crossing rule saves at 9."""
    with pytest.raises(Crash):
        train_tiny(tmp_path, "optim.n_critic=2", "trainer.max_steps=40", "checkpoint.every_n_steps=8",
                   callback(CrashAt, step=12))
    assert load(last_ckpt(tmp_path))["global_step"] == 9

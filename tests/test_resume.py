"""Exact resume: stopping at step N and resuming gives the weights of an uninterrupted run, bit for bit (CPU)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from gan.data.resumable import EpochShuffleSampler, ResumableDataLoader
from gan.train.builders import build_datamodule
from tests.training_helpers import (
    STEPS_PER_EPOCH,
    Crash,
    CrashAt,
    DrawsFromGlobalRNG,
    callback,
    last_ckpt,
    load,
    tiny_config,
    train_tiny,
)

TOTAL = 100  # global steps: 50 D+G iterations, 2.3 epochs of 22 batches
MID_EPOCH = 50  # epoch 1, batch 3
EPOCH_END = STEPS_PER_EPOCH  # the last batch of epoch 0


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict:
    run_dir = tmp_path_factory.mktemp("uninterrupted")
    train_tiny(run_dir, f"trainer.max_steps={TOTAL}", f"checkpoint.every_n_steps={MID_EPOCH}")
    return load(last_ckpt(run_dir))


def assert_same_training_state(a: dict, b: dict) -> None:
    assert a["global_step"] == b["global_step"] == TOTAL
    assert a["state_dict"].keys() == b["state_dict"].keys()
    different = [k for k in a["state_dict"] if not torch.equal(a["state_dict"][k], b["state_dict"][k])]
    assert not different, f"differ after resume: {different}"
    assert int(b["state_dict"]["g_steps"]) == int(b["state_dict"]["d_steps"]) == TOTAL // 2
    for opt_a, opt_b in zip(a["optimizer_states"], b["optimizer_states"], strict=True):
        for slot_a, slot_b in zip(opt_a["state"].values(), opt_b["state"].values(), strict=True):
            assert all(torch.equal(slot_a[k], slot_b[k]) for k in slot_a)
    assert torch.equal(a["gan_training_rng"]["cpu"], b["gan_training_rng"]["cpu"])


@pytest.mark.parametrize("stop", [MID_EPOCH, EPOCH_END], ids=["mid-epoch", "epoch-end"])
def test_crash_and_resume_equals_uninterrupted_run(tmp_path, uninterrupted, stop):
    run_dir = tmp_path / "run"
    common = (f"trainer.max_steps={TOTAL}", f"checkpoint.every_n_steps={stop}")
    with pytest.raises(Crash):
        train_tiny(run_dir, *common, callback(CrashAt, step=stop))
    assert load(last_ckpt(run_dir))["global_step"] == stop
    train_tiny(run_dir, *common, f"resume={run_dir}")  # a run directory resumes from its last.ckpt
    assert_same_training_state(uninterrupted, load(last_ckpt(run_dir)))
    # Resuming into the same run directory appends to metrics.csv: the rows before the crash are kept, none twice.
    # The CSV step is the global step (one batch is a D and a G update, two global steps); Lightning logs every 25
    # batches (trainer.log_every_n_steps), after the batch's two updates.
    steps = [int(row["step"]) for row in csv.DictReader((run_dir / "metrics.csv").open()) if row.get("step")]
    log_every = 25
    assert steps == list(range(2 * log_every, TOTAL + 1, 2 * log_every))


def test_clean_stop_then_longer_run_equals_uninterrupted_run(tmp_path, uninterrupted):
    first = tmp_path / "first"
    train_tiny(first, f"trainer.max_steps={MID_EPOCH}", f"checkpoint.every_n_steps={MID_EPOCH}")
    second = tmp_path / "second"
    train_tiny(second, f"trainer.max_steps={TOTAL}", f"checkpoint.every_n_steps={MID_EPOCH}",
               f"resume={last_ckpt(first)}")
    assert_same_training_state(uninterrupted, load(last_ckpt(second)))


def test_callbacks_drawing_random_numbers_do_not_change_training(tmp_path, uninterrupted):
    # An evaluation callback sampling with torch's global RNG between steps must not shift the training stream.
    train_tiny(tmp_path, f"trainer.max_steps={TOTAL}", f"checkpoint.every_n_steps={MID_EPOCH}",
               callback(DrawsFromGlobalRNG, every=3))
    assert_same_training_state(uninterrupted, load(last_ckpt(tmp_path)))


def test_data_order_is_a_function_of_seed_and_epoch():
    sampler = EpochShuffleSampler(10, seed=0)
    first = list(sampler)
    again = list(EpochShuffleSampler(10, seed=0))
    sampler.set_epoch(1)
    assert first == again and sorted(first) == list(range(10))
    assert list(sampler) != first  # a new order every epoch
    assert list(EpochShuffleSampler(10, seed=1)) != first


def test_loader_resumes_mid_epoch_without_repeating_or_skipping_items():
    dm = build_datamodule(tiny_config("data.batch_size=16"))
    loader = dm.train_dataloader()
    assert isinstance(loader, ResumableDataLoader)
    loader.sampler.set_epoch(2)
    full = [labels for _, labels in loader]
    loader.sampler.set_epoch(2)
    iterator = iter(loader)
    head = [next(iterator)[1] for _ in range(5)]
    state = loader.state_dict()
    assert state == {"epoch": 2, "batches_served": 5}

    fresh = build_datamodule(tiny_config("data.batch_size=16")).train_dataloader()
    fresh.load_state_dict(state)
    fresh.sampler.set_epoch(2)
    tail = [labels for _, labels in fresh]
    assert len(head) + len(tail) == len(full) == len(loader)
    assert all(torch.equal(a, b) for a, b in zip(head + tail, full, strict=True))
    # The next epoch starts at its beginning again.
    fresh.sampler.set_epoch(3)
    assert len(list(fresh)) == len(full)


def test_loader_does_not_touch_the_global_rng():
    loader = build_datamodule(tiny_config()).train_dataloader()
    torch.manual_seed(0)
    before = torch.get_rng_state()
    for _ in loader:
        pass
    assert torch.equal(before, torch.get_rng_state())


def test_resume_needs_an_existing_checkpoint(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="resume=.*no such file"):
        train_tiny(tmp_path / "run", "trainer.max_steps=2", f"resume={tmp_path / 'nope.ckpt'}")
    with pytest.raises(FileNotFoundError, match="directory without checkpoints/last.ckpt"):
        train_tiny(tmp_path / "run", "trainer.max_steps=2", f"resume={tmp_path}")


def test_resuming_a_finished_run_without_more_steps_is_refused_and_leaves_it_untouched(tmp_path: Path):
    run_dir = tmp_path / "run"
    train_tiny(run_dir, "trainer.max_steps=4")
    files = {path: path.read_bytes() for path in sorted(run_dir.rglob("*")) if path.is_file()}
    for steps in (4, 2):
        with pytest.raises(ValueError, match="already at global step 4 and trainer.max_steps=" + str(steps)):
            train_tiny(run_dir, f"trainer.max_steps={steps}", f"resume={run_dir}")
    assert {path: path.read_bytes() for path in sorted(run_dir.rglob("*")) if path.is_file()} == files
    train_tiny(run_dir, "trainer.max_steps=6", f"resume={run_dir}")  # more steps: extended as before
    assert load(last_ckpt(run_dir))["global_step"] == 6


def test_a_moved_run_directory_keeps_its_best_score_and_paths(tmp_path: Path):
    from gan.train.callbacks import BestCheckpoint

    old, new = tmp_path / "cluster" / "run" / "checkpoints", tmp_path / "laptop" / "run" / "checkpoints"
    stored = {"monitor": "fid", "best_model_score": torch.tensor(1.5), "dirpath": str(old),
              "best_model_path": str(old / "best.ckpt"), "best_k_models": {str(old / "best.ckpt"): 1.5},
              "kth_best_model_path": str(old / "best.ckpt"), "kth_value": torch.tensor(1.5),
              "last_model_path": "", "current_score": torch.tensor(1.7)}
    # a branch into a new directory (no best.ckpt there): its own best from scratch, as Lightning does it
    branch = BestCheckpoint(dirpath=new, filename="best", monitor="fid", mode="min")
    branch.load_state_dict(stored)
    assert branch.best_model_score is None and branch.best_k_models == {}
    # the whole directory moved: the same run, its best carried over
    new.mkdir(parents=True)
    (new / "best.ckpt").write_bytes(b"moved")
    best = BestCheckpoint(dirpath=new, filename="best", monitor="fid", mode="min")
    best.load_state_dict(stored)
    assert float(best.best_model_score) == 1.5  # a worse evaluation after the move will not replace best.ckpt
    assert best.best_model_path == best.kth_best_model_path == str(new / "best.ckpt")
    assert best.best_k_models == {str(new / "best.ckpt"): 1.5}


def test_resuming_a_copied_run_directory_continues_it_as_in_place(tmp_path: Path, recwarn):
    import shutil

    here, there = tmp_path / "here", tmp_path / "copied" / "run"
    from tests.test_metrics_train import FAST_METRICS

    metrics = (*FAST_METRICS, f"metrics.cache_dir={tmp_path / 'cache'}", "eval_every_n_steps=2")
    train_tiny(here, *metrics, "trainer.max_steps=4")
    shutil.copytree(here, there)
    in_place = train_tiny(here, *metrics, "trainer.max_steps=6", f"resume={here}")
    copied = train_tiny(there, *metrics, "trainer.max_steps=6", f"resume={there}")
    assert copied == in_place
    assert not [w for w in recwarn if "dirpath has changed" in str(w.message)]


def test_a_run_saved_before_lr_decay_end_existed_resumes_with_its_own_ramp(compose_config):
    """Checkpoints store their config; one written before `optim.lr_decay.end` was added has no such key. Its resume
    must resolve the module's ramp end to 1.0 (the ramp it trained with) and count no setting as changed."""
    from omegaconf import OmegaConf

    from gan.train.builders import to_container
    from gan.train.resume import resumed_config, setting_changes

    composed = compose_config("experiment=digits_dcgan", "resume=runs/old")
    stored = to_container(composed)
    del stored["optim"]["lr_decay"]["end"]
    del stored["module"]["lr_decay_end"]
    cfg = resumed_config(composed, stored, ["resume=runs/old"])
    assert OmegaConf.select(cfg, "optim.lr_decay.end") is None
    assert cfg.module.lr_decay_end == 1.0
    assert setting_changes(stored, to_container(cfg)) == []

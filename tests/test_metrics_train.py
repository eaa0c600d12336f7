"""Metrics during training: evaluation rows with a protocol id in metrics.csv (and TensorBoard), best.ckpt at the
lowest FID, toy metrics for 2D data; and gan-eval reproducing a run's last evaluation row."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from gan.cli.evaluate import run as evaluate
from tests.conftest import make_config
from tests.training_helpers import train_tiny

NUM_FAKE = 256
# A classifier that trains in about a second, and KID over subsets that fit 256 samples.
FAST_METRICS = ("metrics=classifier", f"metrics.num_fake_samples={NUM_FAKE}", "metrics.batch_size=128",
                "metrics.extractor.epochs=1", "metrics.extractor.width=4", "metrics.extractor.feature_dim=16",
                "metrics.kid.subsets=2", "metrics.kid.subset_size=100")


def evaluation_rows(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "metrics.csv", newline="") as handle:
        return [row for row in csv.DictReader(handle) if row.get("protocol")]


@pytest.fixture(scope="module")
def classifier_run(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("metrics_run")
    run_dir, cache = root / "run", root / "cache"
    train_tiny(run_dir, *FAST_METRICS, f"metrics.cache_dir={cache}", "trainer.max_steps=20", "eval_every_n_steps=10",
               "logger.tensorboard=true")
    return run_dir, cache


def test_training_writes_evaluation_rows_with_protocol_and_best_checkpoint(classifier_run):
    run_dir, cache = classifier_run
    rows = evaluation_rows(run_dir)
    assert [int(float(r["global_step"])) for r in rows] == [10, 20]
    for row in rows:
        assert row["protocol"].startswith("classifier:digits-r16-train-tf0.2-s0@sha256:")
        assert f"/fake{NUM_FAKE}/ref:digits-r16-train-tf0.2-s0" in row["protocol"]
        for key in ("fid", "kid_mean", "kid_std", "is_mean", "is_std", "eval_s", "elapsed_s"):
            assert math.isfinite(float(row[key])), key
    assert float(rows[1]["elapsed_s"]) > float(rows[0]["elapsed_s"])
    assert (run_dir / "checkpoints" / "best.ckpt").is_file()
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    # the classifier and the real features were cached once, under the configured directory
    assert len(list((cache / "classifiers").glob("*.pt"))) == 1
    # the reference (train) and the held-out split (memorisation)
    assert len(list((cache / "real_features").glob("*.pt"))) == 2


def test_gan_eval_reproduces_the_last_evaluation_and_repeats_over_seeds(classifier_run, tmp_path):
    run_dir, cache = classifier_run
    last = evaluation_rows(run_dir)[-1]
    cfg = make_config(f"ckpt={run_dir}", f"n={NUM_FAKE}", "seeds=[0,1]", config_name="eval")
    result = evaluate(cfg, tmp_path / "eval")  # the run's own metrics group, read from the checkpoint
    assert result["protocol"] == last["protocol"]
    # seed 0 = metrics.seed of the run: the same samples, so the same FID as the training-time evaluation
    assert result["rows"][0]["fid"] == pytest.approx(float(last["fid"]), rel=1e-5)
    assert result["rows"][1]["fid"] != result["rows"][0]["fid"]
    summary = result["summary"]["fid"]
    assert summary["mean"] == pytest.approx((result["rows"][0]["fid"] + result["rows"][1]["fid"]) / 2)
    assert summary["std"] > 0
    assert (tmp_path / "eval" / "results.json").is_file() and (tmp_path / "eval" / "results.csv").is_file()


def test_toy_metrics_during_training_and_default_group_in_gan_eval(tmp_path):
    run_dir = tmp_path / "toy"
    toy = ("data=grid25", "model=mlp", "data.dataset.num_samples=1000", "logger.tensorboard=false",
           "trainer.enable_progress_bar=false", "trainer.max_steps=6", "eval_every_n_steps=6")
    from gan.train.run import train

    score = train(make_config(*toy, "metrics=toy", "metrics.num_fake_samples=500"), run_dir)
    rows = evaluation_rows(run_dir)
    assert len(rows) == 1 and rows[0]["protocol"] == "toy:grid25-n1000-train-s0/n500/hq3.0std"
    assert 0 <= int(float(rows[0]["modes_covered"])) <= 25 and 0 <= float(rows[0]["hq_fraction"]) <= 1
    assert score == pytest.approx(float(rows[0]["kl_uniform"])) or math.isinf(score)
    # a run trained without metrics: gan-eval picks the toy group for 2D data
    plain = tmp_path / "plain"
    train(make_config(*toy), plain)
    result = evaluate(make_config(f"ckpt={plain}", "n=300", "seeds=[0]", config_name="eval"), tmp_path / "eval")
    assert result["protocol"] == "toy:grid25-n1000-train-s0/n300/hq3.0std"
    assert "default for data.kind=points" in result["metrics_source"]

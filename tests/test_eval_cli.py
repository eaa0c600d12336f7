"""`gan-eval` as a user runs it: the Hydra entry point in a subprocess, the metrics group chosen on the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from gan.cli.evaluate import run as evaluate
from gan.paths import REPO_ROOT
from gan.train.run import train
from tests.conftest import make_config

REPO = REPO_ROOT


def test_gan_eval_command_line_prints_mean_std_and_protocol(tmp_path):
    run_dir, out = tmp_path / "run", tmp_path / "eval"
    train(make_config("data=ring8", "model=mlp", "data.dataset.num_samples=1000", "logger.tensorboard=false",
                      "trainer.enable_progress_bar=false", "trainer.max_steps=4", "eval_every_n_steps=4"), run_dir)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "gan.cli.evaluate", f"ckpt={run_dir / 'checkpoints' / 'last.ckpt'}", "n=400",
           "seeds=[0,1,2]", "metrics=toy", "metrics.hq_threshold_std=4.0", f"out={out}"]
    result = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "protocol: toy:ring8-n1000-train-s0/n400/hq4.0std" in result.stdout
    # stdout is the table alone, its first line the checkpoint (README): log lines, e.g. the domain classifier's,
    # go to stderr with Hydra's job logging
    assert result.stdout.startswith(f"{run_dir / 'checkpoints' / 'last.ckpt'} (global step 4)")
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        logging = compose("eval", return_hydra_config=True).hydra.job_logging
    assert logging.handlers.console.stream == "ext://sys.stderr"
    assert "metrics=toy (command line)" in result.stdout
    assert "modes_covered" in result.stdout and "±" in result.stdout
    saved = json.loads((out / "results.json").read_text())
    assert saved["seeds"] == [0, 1, 2] and len(saved["rows"]) == 3
    assert set(saved["summary"]) == {"modes_covered", "hq_fraction", "kl_uniform", "hq_spread", "eval_s"}


def test_gan_eval_names_a_missing_checkpoint(tmp_path):
    cfg = make_config(f"ckpt={tmp_path / 'nope.ckpt'}", config_name="eval")
    with pytest.raises(FileNotFoundError, match="nope.ckpt"):
        evaluate(cfg, tmp_path / "out")


def test_gan_eval_scores_a_checkpoint_against_another_dataset(tmp_path):
    """data=<name> in checkpoint mode: the reference (and so the protocol id and the mode count) is that dataset's;
    a dataset of another shape is refused by name."""
    run_dir = tmp_path / "run"
    train(make_config("data=ring8", "model=mlp", "data.dataset.num_samples=1000", "logger.tensorboard=false",
                      "trainer.enable_progress_bar=false", "trainer.max_steps=4", "eval_every_n_steps=4"), run_dir)
    common = (f"ckpt={run_dir}", "n=400", "seeds=[0]", "metrics=toy")
    own = evaluate(make_config(*common, config_name="eval"), tmp_path / "own")
    other = evaluate(make_config(*common, "data=grid25", "data.dataset.num_samples=1000", config_name="eval"),
                     tmp_path / "other")
    assert own["protocol"].startswith("toy:ring8-") and other["protocol"].startswith("toy:grid25-")
    # the whole shape named at once (one key at a time sent users from one refusal to the next), and no advice to
    # override data.kind: a points checkpoint cannot be scored against images whatever the config says
    with pytest.raises(ValueError, match=r"has kind=image, channels=1, resolution=32 but the checkpoint's generator "
                                         r"draws kind=points") as refused:
        evaluate(make_config(*common, "data=digits", config_name="eval"), tmp_path / "bad")
    assert "data.kind" not in str(refused.value)


def test_gan_eval_refuses_to_write_over_results_and_too_few_samples(tmp_path):
    run_dir, out = tmp_path / "run", tmp_path / "eval"
    train(make_config("data=ring8", "model=mlp", "data.dataset.num_samples=1000", "logger.tensorboard=false",
                      "trainer.enable_progress_bar=false", "trainer.max_steps=4", "eval_every_n_steps=4"), run_dir)
    common = (f"ckpt={run_dir}", "seeds=[0]", "metrics=toy")
    for n in (0, 1):
        with pytest.raises(ValueError, match=f"n={n}: an evaluation needs at least 2 samples"):
            evaluate(make_config(*common, f"n={n}", config_name="eval"), out)
    first = evaluate(make_config(*common, "n=400", config_name="eval"), out)
    saved = (out / "results.json").read_text()
    with pytest.raises(FileExistsError, match="already holds results.json, results.csv"):
        evaluate(make_config(*common, "n=500", config_name="eval"), out)
    assert (out / "results.json").read_text() == saved and first["num_fake_samples"] == 400
    with pytest.raises(ValueError, match="seed 0 appears twice"):
        evaluate(make_config(f"ckpt={run_dir}", "metrics=toy", "n=400", "seeds=[0,0]", config_name="eval"),
                 tmp_path / "twice")
    ranged = evaluate(make_config(f"ckpt={run_dir}", "metrics=toy", "n=400", "seeds=0-2", config_name="eval"),
                      tmp_path / "ranged")  # gan-sample's range form
    assert ranged["seeds"] == [0, 1, 2] and ranged["rows"][0]["hq_fraction"] == first["rows"][0]["hq_fraction"]

"""The studies' scripts: every experiments/*/run_study.sh builds jobs whose overrides compose with today's config
groups (a renamed preset or key fails here, not an hour into a study), and experiments/run_jobs.sh runs them as
documented: a run stopped at RUN_TIMEOUT counts as finished, any other failed run stops the study before the next
one starts. gan-train itself is replaced through GAN_TRAIN (echo, or a stub script)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from gan.config import compose_config
from gan.paths import REPO_ROOT

EXPERIMENTS = REPO_ROOT / "experiments"
pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="the study scripts are bash")


def run_script(script: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(script), *args], env={**os.environ, **(env or {})}, capture_output=True,
                          text=True, timeout=120, check=False)


def echoed_jobs(out: Path) -> dict[str, list[str]]:
    """name -> the overrides the job passed to gan-train (GAN_TRAIN=echo writes them to <name>.log.txt)."""
    return {log.name.removesuffix(".log.txt"): log.read_text().split() for log in sorted(out.glob("*.log.txt"))}


# script, its arguments, number of jobs it must start
STUDIES = [
    ("toy_pacgan", (), 12),
    ("digits_floor", (), 6),
    ("digits_losses", (), 9),
    ("stacked_digits", ("300",), 6),
    ("architectures", (), 12),
]


@pytest.mark.parametrize(("study", "args", "jobs"), STUDIES, ids=[s[0] for s in STUDIES])
def test_every_study_job_composes(tmp_path: Path, study: str, args: tuple[str, ...], jobs: int) -> None:
    out = tmp_path / "out"
    result = run_script(EXPERIMENTS / study / "run_study.sh", str(out), *args, env={"GAN_TRAIN": "echo", "JOBS": "4"})
    assert result.returncode == 0, result.stderr
    found = echoed_jobs(out)
    assert len(found) == jobs, sorted(found)
    for name, words in found.items():
        assert f"hydra.run.dir={out / name}" in words
        overrides = [w for w in words if not w.startswith("hydra.")]
        # each job names its seed once, and the seed is the one its name says
        seeds = [w for w in overrides if w.startswith("seed=")]
        assert seeds == [f"seed={name.rsplit('_s', 1)[1]}"], (name, overrides)
        compose_config("train", overrides)


def test_architecture_study_pins_the_stop20_dcgan_recipe(tmp_path: Path) -> None:
    """RESULTS.md's DCGAN arms ran the non-saturating loss at batch 64; make train's preset has moved on (hinge,
    batch 32), so the script must pin them or a rerun measures something else."""
    out = tmp_path / "out"
    result = run_script(EXPERIMENTS / "architectures" / "run_study.sh", str(out), env={"GAN_TRAIN": "echo"})
    assert result.returncode == 0, result.stderr
    for name, words in echoed_jobs(out).items():
        cfg = compose_config("train", [w for w in words if not w.startswith("hydra.")])
        if name.startswith("arch_dcgan"):
            assert (cfg.loss.name, cfg.data.batch_size, cfg.optim.lr_decay.final) == ("ns", 64, 0.0), name
        else:
            assert cfg.model.name == "resnet_sn", name


@pytest.fixture
def stub_trainer(tmp_path: Path) -> Path:
    """A gan-train stand-in: sleeps for its first argument's seconds (a word: exits 3), records that it started
    (<name>.ran) and that it finished (<name>.done)."""
    stub = tmp_path / "stub.sh"
    stub.write_text('#!/bin/sh\ncase "$1" in *[!0-9.]*) exit 3;; esac\ntouch "${3#hydra.run.dir=}.ran"\n'
                    'sleep "$1"\ntouch "${3#hydra.run.dir=}.done"\n')
    stub.chmod(0o755)
    return stub


def test_run_jobs_timeout_is_finished_failure_stops(tmp_path: Path, stub_trainer: Path) -> None:
    # run_jobs.sh appends trainer.enable_progress_bar=false and hydra.run.dir=<out>/<name>: the stub's $2 and $3
    runner = EXPERIMENTS / "run_jobs.sh"
    out = tmp_path / "a"
    result = run_script(runner, str(out), "slow1 30", "slow2 30", "quick 0",
                        env={"GAN_TRAIN": str(stub_trainer), "RUN_TIMEOUT": "1", "JOBS": "2"})
    assert result.returncode == 0, result.stderr
    assert {p.name for p in out.glob("*.ran")} == {"slow1.ran", "slow2.ran", "quick.ran"}

    out = tmp_path / "b"
    result = run_script(runner, str(out), "broken word", "after 0", env={"GAN_TRAIN": str(stub_trainer)})
    assert result.returncode == 3
    assert (out / "broken.log.txt").is_file() and not (out / "after.log.txt").exists()
    assert "broken failed (exit 3" in result.stderr


def test_run_jobs_fills_a_free_slot_and_keeps_running_results(tmp_path: Path, stub_trainer: Path) -> None:
    """A new run starts when any run ends (not only the oldest), and a failure lets the runs in flight finish."""
    runner = EXPERIMENTS / "run_jobs.sh"
    out = tmp_path / "a"
    result = run_script(runner, str(out), "long 3", "short 0", "next 0",
                        env={"GAN_TRAIN": str(stub_trainer), "JOBS": "2"})
    assert result.returncode == 0, result.stderr
    # next started after short ended, before long ended: ordering by the stub's own files, not by a clock budget
    assert (out / "next.ran").stat().st_mtime_ns < (out / "long.done").stat().st_mtime_ns

    out = tmp_path / "b"
    result = run_script(runner, str(out), "running 2", "broken word", "never 0",
                        env={"GAN_TRAIN": str(stub_trainer), "JOBS": "2"})
    assert result.returncode == 3
    assert (out / "running.done").is_file(), "the run in flight was not allowed to finish"
    assert not (out / "never.log.txt").exists()


def test_run_jobs_preset_seed_shorthand(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_script(EXPERIMENTS / "run_jobs.sh", str(out), "grid25_mlp:4", "ring8_mlp:2 x=1", "named x=1",
                        env={"GAN_TRAIN": "echo"})
    assert result.returncode == 0, result.stderr
    jobs = echoed_jobs(out)
    assert jobs["grid25_mlp_s4"][:3] == ["experiment=grid25_mlp", "seed=4", "trainer.enable_progress_bar=false"]
    assert jobs["ring8_mlp_s2"][:3] == ["experiment=ring8_mlp", "seed=2", "x=1"]
    assert jobs["named"][0] == "x=1"

    # a word that is not <preset>:<seed> would train the default config: refused before any job starts
    out = tmp_path / "bad"
    result = run_script(EXPERIMENTS / "run_jobs.sh", str(out), "grid25_mlp:0", "grid25_mlp:x",
                        env={"GAN_TRAIN": "echo"})
    assert result.returncode == 2 and "grid25_mlp:x" in result.stderr
    assert not out.exists()

"""Sweeps: Hydra multirun end to end into gan-compare, the Optuna sweeper, the SLURM launcher config, the DDP rule."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from hydra.types import RunMode
from omegaconf import OmegaConf

from gan.cli.compare import main as compare_main
from gan.config import compose_config
from gan.paths import REPO_ROOT
from gan.train.multirun import DDPMultirunError, check_ddp_multirun, relaunches_script
from tests.conftest import make_config

REPO = REPO_ROOT
# toy data, small MLPs, a handful of steps: each run takes seconds
TINY_TOY = ["data=grid25", "model=mlp", "metrics=toy", "model.generator.hidden_dim=32",
            "model.discriminator.hidden_dim=32", "data.dataset.num_samples=2000", "metrics.num_fake_samples=500",
            "trainer.max_steps=40", "eval_every_n_steps=20", "logger.tensorboard=false",
            "trainer.enable_progress_bar=false"]


def gan_train(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    # one intra-op thread: on a busy machine torch's default (a thread per core) is many times slower
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "gan.cli.train", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)


def eval_column(run_dir: Path, column: str) -> list[float]:
    with (run_dir / "metrics.csv").open() as file:
        return [float(row[column]) for row in csv.DictReader(file) if row.get("protocol")]


@pytest.mark.slow
def test_two_run_sweep_end_to_end_through_gan_compare(tmp_path):
    sweep = tmp_path / "sweep"
    result = gan_train("-m", *TINY_TOY, "loss=ns,hinge", f"hydra.sweep.dir={sweep}")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == ["0", "1"]

    out = tmp_path / "cmp"
    assert compare_main([str(sweep), "--out", str(out), "--metric", "hq_fraction"]) == 0
    with (out / "results.csv").open() as file:
        rows = {row["loss.name"]: row for row in csv.DictReader(file)}
    assert set(rows) == {"ns", "hinge"}
    for job, loss in ((0, "ns"), (1, "hinge")):
        # independent of gan-compare: the run's own metrics.csv, read here
        hq = eval_column(sweep / str(job), "hq_fraction")
        steps = eval_column(sweep / str(job), "global_step")
        assert steps == [20.0, 40.0]
        assert float(rows[loss]["best_hq_fraction_mean"]) == pytest.approx(max(hq))
        assert float(rows[loss]["last_hq_fraction_mean"]) == pytest.approx(hq[-1])
        assert rows[loss]["runs_included"] == "1" and math.isnan(float(rows[loss]["best_hq_fraction_std"]))
    assert (out / "hq_fraction_vs_step.png").is_file()
    assert "toy:grid25" in (out / "results.md").read_text()


def test_a_failed_job_does_not_stop_the_sweep(tmp_path):
    """A project error in one job of `-m` is that job's clean message; the next job still runs, and Hydra reports
    the failure at the end without a traceback."""
    sweep = tmp_path / "sweep"
    result = gan_train("-m", *TINY_TOY, "trainer.max_steps=4", "eval_every_n_steps=4", "optim.n_critic=0,1",
                       f"hydra.sweep.dir={sweep}")
    assert result.returncode != 0  # the sweep as a whole failed
    assert "gan-train: error: optim.n_critic=0: must be a positive integer" in result.stderr
    assert "Traceback" not in result.stderr
    assert json.loads((sweep / "1" / "status.json").read_text())["state"] == "finished"


@pytest.mark.slow
def test_optuna_sweeper_minimises_the_returned_best_score(tmp_path):
    sweep = tmp_path / "optuna"
    result = gan_train("-m", *TINY_TOY, "hydra/sweeper=optuna_fid", "hydra.sweeper.n_trials=2",
                       "hydra.sweeper.sampler.n_startup_trials=2", f"hydra.sweep.dir={sweep}")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert set(best["best_params"]) == {"optim.generator.lr", "optim.discriminator.lr", "loss"}
    # each trial returned its best monitored value (toy: kl_uniform, minimised); Optuna keeps the smallest
    scores = [min(eval_column(sweep / str(job), "kl_uniform")) for job in (0, 1)]
    assert best["best_value"] == pytest.approx(min(scores))


def _hydra_config(*overrides: str):
    return compose_config("train", overrides, return_hydra_config=True).hydra


def test_slurm_launcher_configs_compose():
    slurm = _hydra_config("hydra/launcher=slurm").launcher
    assert slurm._target_.endswith("submitit_launcher.SlurmLauncher")
    assert (slurm.tasks_per_node, slurm.gpus_per_node, slurm.timeout_min) == (1, 1, 240)
    ddp = _hydra_config("hydra/launcher=slurm_ddp").launcher
    assert ddp.tasks_per_node == ddp.gpus_per_node == 4


def test_optuna_sweeper_config_composes():
    sweeper = _hydra_config("hydra/sweeper=optuna_fid").sweeper
    assert sweeper._target_.endswith("OptunaSweeper")
    assert sweeper.direction == "minimize"
    assert "loss" in sweeper.params


@pytest.mark.parametrize(("preset", "data", "pack", "metrics"), [
    ("grid25_mlp", "grid25", 1, "toy"), ("ring8_mlp", "ring8", 1, "toy"), ("grid25_pacgan4", "grid25", 4, "toy"),
    ("ring8_pacgan2", "ring8", 2, "toy"), ("study_toy", "grid25", 1, "toy"),
])
def test_toy_presets_follow_the_pacgan_protocol(preset, data, pack, metrics):
    cfg = make_config(f"experiment={preset}")
    assert (cfg.data.name, cfg.model.discriminator.pack, cfg.metrics.name) == (data, pack, metrics)
    # batch 50 per GAN batch; PacGAN m draws m batches (the paper's packing of whole batches: 50 packs)
    assert cfg.data.batch_size == 50 * pack and cfg.model.latent_dim == 2
    assert cfg.metrics.num_fake_samples == 2500 and cfg.metrics.hq_threshold_std == 3.0
    assert cfg.data.batch_size % cfg.model.discriminator.pack == 0


def test_digits_study_preset_uses_the_classifier_fid():
    cfg = make_config("experiment=study_digits", "loss=hinge")
    assert (cfg.data.name, cfg.model.name, cfg.loss.name, cfg.metrics.monitor) == ("digits", "dcgan", "hinge", "fid")


# ------------------------------------------------------------------------------------ Hydra multirun + DDP rule
def _trainer(**kwargs):
    return OmegaConf.create({"accelerator": "cpu", "devices": 1, "strategy": "auto", "num_nodes": 1, **kwargs})


@pytest.mark.parametrize(("trainer", "relaunches"), [
    (dict(devices=2, strategy="ddp_find_unused_parameters_true"), True),
    (dict(devices=2, strategy="auto"), True),  # Lightning picks script-relaunching DDP for several devices
    (dict(devices=[0, 1], strategy="ddp", accelerator="gpu"), True),
    (dict(devices="0,1", strategy="ddp", accelerator="gpu"), True),
    (dict(devices=1, num_nodes=2, strategy="ddp"), True),
    (dict(devices=1, strategy="ddp"), False),
    (dict(devices=2, strategy="ddp_spawn_find_unused_parameters_true"), False),
    (dict(devices=2, strategy="ddp_fork"), False),
    (dict(devices=4, strategy="deepspeed"), False),
    (dict(devices=2, strategy={"_target_": "lightning.pytorch.strategies.DDPStrategy", "start_method": "spawn"}),
     False),
])
def test_which_trainers_relaunch_the_script(trainer, relaunches):
    assert relaunches_script(_trainer(**trainer)) is relaunches


def _hydra(mode: RunMode, launcher: str = "hydra._internal.core_plugins.basic_launcher.BasicLauncher"):
    return SimpleNamespace(mode=mode, launcher=OmegaConf.create({"_target_": launcher}))


def test_multirun_with_script_relaunching_ddp_is_refused(monkeypatch):
    for variable in ("SLURM_NTASKS", "SLURM_JOB_NAME", "TORCHELASTIC_RUN_ID", "LOCAL_RANK"):
        monkeypatch.delenv(variable, raising=False)
    cfg = make_config("trainer=ddp_cpu")
    with pytest.raises(DDPMultirunError, match="hydra/launcher=slurm_ddp") as error:
        check_ddp_multirun(cfg, _hydra(RunMode.MULTIRUN))
    assert "trainer.devices=1" in str(error.value) and "without -m" in str(error.value)
    check_ddp_multirun(cfg, _hydra(RunMode.RUN))  # a single run: Lightning handles it
    check_ddp_multirun(cfg, _hydra(RunMode.MULTIRUN, "hydra_plugins.hydra_submitit_launcher.submitit_launcher."
                                                     "SlurmLauncher"))
    check_ddp_multirun(make_config(), _hydra(RunMode.MULTIRUN))  # one device


@pytest.mark.slow
def test_multirun_with_ddp_is_refused_before_training(tmp_path):
    sweep = tmp_path / "sweep"
    result = gan_train("-m", *TINY_TOY, "trainer=ddp_cpu", "seed=0,1", f"hydra.sweep.dir={sweep}", timeout=120)
    # the sweep's own refusal: a usage error (exit 2), said once, and the sweep ends there (each job used to fail
    # with it in turn, exit 1, the message printed three times per job)
    assert result.returncode == 2, result.stderr
    assert (result.stdout + result.stderr).count("hydra/launcher=slurm_ddp") == 1
    assert not (sweep / "0" / "status.json").exists()  # refused before training started
    assert not (sweep / "1").exists()
    # a sweep that varies the trainer: the DDP job fails alone, the others train
    mixed = tmp_path / "mixed"
    result = gan_train("-m", *TINY_TOY, "trainer=cpu,ddp_cpu,cpu", "seed=0", f"hydra.sweep.dir={mixed}", timeout=300)
    assert result.returncode == 1, result.stderr
    assert [json.loads((mixed / job / "status.json").read_text())["state"] for job in ("0", "2")] == ["finished"] * 2
    assert not (mixed / "1" / "status.json").exists() and "hydra/launcher=slurm_ddp" in result.stderr

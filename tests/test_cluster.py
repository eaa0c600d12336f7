"""The cluster path, run here: a sweep through Hydra's submitit launcher (local executor: the same code path as
SLURM up to the `sbatch` call), and a 2-process DDP job under a simulated SLURM allocation that is stopped by SIGUSR1
(SLURM's warning before the time limit) and resumed to the same weights as an uninterrupted job."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from gan.paths import REPO_ROOT
from gan.train.rundir import read_status

TOY = ["data=grid25", "model=mlp", "metrics=toy", "model.generator.hidden_dim=16", "model.discriminator.hidden_dim=16",
       "data.dataset.num_samples=2000", "metrics.num_fake_samples=400", "logger.tensorboard=false",
       "trainer.enable_progress_bar=false"]


def env_with(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SLURM_", "HYDRA_"))}
    return {**env, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1", **extra}


@pytest.mark.slow
def test_sweep_through_the_submitit_launcher(tmp_path):
    sweep = tmp_path / "sweep"
    result = subprocess.run(
        [sys.executable, "-m", "gan.cli.train", "-m", "hydra/launcher=submitit_local", *TOY, "trainer.max_steps=20",
         "eval_every_n_steps=10", "seed=0,1", f"hydra.sweep.dir={sweep}", "hydra.launcher.timeout_min=10"],
        cwd=REPO_ROOT, env=env_with(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for job in ("0", "1"):
        status = json.loads((sweep / job / "status.json").read_text())
        assert status["state"] == "finished" and status["step"] == 20
        assert (sweep / job / "checkpoints" / "last.ckpt").is_file()
    assert list((sweep / ".submitit").glob("*")), "submitit wrote its job logs"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def slurm_job(run_dir: Path, overrides: list[str], job_id: str) -> list[subprocess.Popen]:
    """Two tasks of one simulated SLURM job (what `srun` starts: one process per task, SLURM_* set per task)."""
    port = str(_free_port())
    processes = []
    for rank in (0, 1):
        env = env_with(SLURM_JOB_ID=job_id, SLURM_JOB_NAME="gan", SLURM_NTASKS="2", SLURM_NTASKS_PER_NODE="2",
                       SLURM_PROCID=str(rank), SLURM_LOCALID=str(rank), SLURM_NODEID="0", SLURM_NNODES="1",
                       SLURM_NODELIST="127.0.0.1", SLURM_JOB_NUM_NODES="1", MASTER_ADDR="127.0.0.1", MASTER_PORT=port)
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "gan.cli.train", *TOY, "trainer=ddp_cpu", f"hydra.run.dir={run_dir}", *overrides],
            cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    return processes


def wait(processes: list[subprocess.Popen], timeout: float = 400) -> list[int]:
    codes = []
    for process in processes:
        out, _ = process.communicate(timeout=timeout)
        codes.append(process.returncode)
        if process.returncode not in (0, 128 + signal.SIGUSR1):
            print(out[-4000:])
    return codes


@pytest.mark.slow
def test_slurm_ddp_job_stops_on_sigusr1_and_resumes_to_the_same_weights(tmp_path):
    total = 300
    common = [f"trainer.max_steps={total}", "eval_every_n_steps=150", "checkpoint.every_n_steps=1000"]
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    assert wait(slurm_job(straight, common, "101")) == [0, 0]
    assert read_status(straight)["state"] == "finished"

    processes = slurm_job(stopped, common, "102")
    deadline = time.monotonic() + 300
    while (read_status(stopped) or {}).get("state") != "running" and time.monotonic() < deadline:
        time.sleep(0.2)
    for process in processes:  # SLURM signals every task of the job
        process.send_signal(signal.SIGUSR1)
    assert wait(processes) == [138, 138]
    status = read_status(stopped)
    assert status["state"] == "interrupted" and "SIGUSR1" in status["message"]
    stop_step = torch.load(stopped / "checkpoints" / "last.ckpt", weights_only=True)["global_step"]
    assert stop_step == status["step"] < total

    # what the requeued job runs: the same command with resume=<run dir>
    assert wait(slurm_job(stopped, [*common, f"resume={stopped}"], "102")) == [0, 0]
    assert read_status(stopped)["state"] == "finished"
    a = torch.load(straight / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    b = torch.load(stopped / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    assert all(a[key].equal(b[key]) for key in a), [key for key in a if not a[key].equal(b[key])]
    # every rank evaluated (torchmetrics syncs across ranks): the last evaluation row exists once, at max_steps
    rows = (stopped / "metrics.csv").read_text().splitlines()
    assert sum(1 for row in rows if "toy:" in row) == 2

"""`gan-train` as a user runs it: a subprocess, a real Hydra run directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gan.paths import REPO_ROOT
from gan.sample.render import CAPTION_HEIGHT, read_provenance

REPO = REPO_ROOT
TINY = ["data.resolution=16", "data.batch_size=16", "model.generator.width=8", "model.discriminator.width=8",
        "model.latent_dim=8"]


def run_train(run_dir: Path, *overrides: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "gan.cli.train", f"hydra.run.dir={run_dir}", *overrides]
    result = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.mark.slow
def test_short_run_writes_the_run_directory(tmp_path):
    run_dir = tmp_path / "run"
    result = run_train(run_dir, *TINY, "trainer.max_steps=20", "eval_every_n_steps=10", "trainer.log_every_n_steps=2")
    assert (run_dir / ".hydra" / "config.yaml").is_file()
    assert json.loads((run_dir / "status.json").read_text())["state"] == "finished"
    header = (run_dir / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"loss/d", "loss/g", "d_real", "d_fake", "step"} <= set(header)
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    assert sorted(p.name for p in (run_dir / "samples").glob("*.png")) == ["step_0000010.png", "step_0000020.png"]
    with Image.open(run_dir / "samples" / "step_0000020.png") as png:  # 8x8 grid of 16 px + 2 px padding, captioned
        pixels = np.asarray(png)
    assert pixels.shape[:2] == (CAPTION_HEIGHT + 8 * 18 + 2, 8 * 18 + 2)
    assert len(set(pixels[:CAPTION_HEIGHT].ravel().tolist())) > 1  # the step label is drawn in the strip
    grid = read_provenance(run_dir / "samples" / "step_0000020.png")
    assert grid["generated"] and grid["global_step"] == 20 and grid["run_dir"] == str(run_dir.resolve())
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False, map_location="cpu")
    assert ckpt["global_step"] == 20
    assert {"generator_ema.net.0.weight", "g_steps", "d_steps"} <= set(ckpt["state_dict"])
    assert len(ckpt["optimizer_states"]) == 2
    assert ckpt["gan_config"]["model"]["name"] == "dcgan"
    assert str(run_dir) in result.stdout  # the user is told where results are


@pytest.mark.slow
def test_ddp_two_cpu_processes_keep_weights_in_sync(tmp_path):
    """Also in channels_last with R1 on every D step: R1's double backward hands D's one-channel input weight a
    gradient whose strides differ from DDP's bucket; the values must still be all-reduced, and the user is not warned
    about a copy of a few hundred numbers."""
    run_dir, probe = tmp_path / "run", tmp_path / "probe"
    result = run_train(run_dir, *TINY, "trainer=ddp_cpu", "trainer.max_steps=6", "eval_every_n_steps=6",
                       "speed.channels_last=true", "loss.r1_weight=1.0", "loss.r1_every=1",
                       f"callbacks=[{{_target_: tests.ddp_probe.WeightDigest, out_dir: '{probe}'}}]")
    assert "Grad strides do not match" not in result.stdout + result.stderr
    ranks = [json.loads((probe / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert all(r["world_size"] == 2 and r["sampler"] == "DistributedSampler" for r in ranks)
    # Each rank saw different batches: equal weights after training prove gradients were all-reduced.
    assert ranks[0]["digest"].keys() == ranks[1]["digest"].keys()
    for name, value in ranks[0]["digest"].items():
        assert value == pytest.approx(ranks[1]["digest"][name], rel=1e-6, abs=1e-6), name
    assert json.loads((run_dir / "status.json").read_text())["state"] == "finished"

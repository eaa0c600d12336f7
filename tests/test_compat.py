"""gan.compat against the installed Lightning and torchmetrics: each private attribute still exists and still means
what we use it for. An upgrade that moves one fails here, by name, instead of somewhere in a training run."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
from importlib.metadata import version

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance

from gan import compat
from gan.metrics.extractors import Passthrough

# The versions these shims were checked against; a different one must be re-checked by running this file.
CHECKED = {"lightning": "2.", "torchmetrics": "1."}


def test_installed_versions_are_the_checked_major_versions():
    for package, prefix in CHECKED.items():
        assert version(package).startswith(prefix), f"{package} {version(package)}: re-check gan/compat.py"


class _Recorder(L.LightningModule):
    """Records, at each training step, whether compat says Lightning will write the logs of this step."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.flags: list[bool] = []

    def training_step(self, batch, batch_idx):
        self.flags.append(compat.logger_should_update(self.trainer))
        return (self.weight - batch[0]).pow(2).mean()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_logger_connector_rule(tmp_path):
    steps, every = 7, 3
    module = _Recorder()
    trainer = L.Trainer(logger=CSVLogger(tmp_path), log_every_n_steps=every, max_steps=steps, enable_progress_bar=False,
                        enable_model_summary=False, enable_checkpointing=False)
    trainer.fit(module, torch.utils.data.DataLoader(torch.zeros(steps, 1), batch_size=1))
    assert compat.logger_should_update(None) is True
    # Lightning writes logs when (optimizer steps so far + 1) is a multiple of log_every_n_steps.
    assert module.flags == [(step + 1) % every == 0 for step in range(steps)]


def test_checkpoint_interval_roundtrip(tmp_path):
    callback = ModelCheckpoint(dirpath=tmp_path, every_n_train_steps=7)
    assert compat.checkpoint_interval(callback) == 7
    compat.set_checkpoint_interval(callback, 11)
    assert compat.checkpoint_interval(callback) == 11


def test_appending_writer_keeps_rows(tmp_path):
    first = CSVLogger(tmp_path, name="", version="")
    first.log_metrics({"a": 1.0}, step=0)
    first.save()
    second = CSVLogger(tmp_path, name="", version="")
    compat.use_appending_writer(second)
    second.log_metrics({"a": 2.0}, step=1)
    second.save()
    with open(tmp_path / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [float(row["a"]) for row in rows] == [1.0, 2.0]


def test_fid_and_kid_states_loaded_directly_give_the_fed_result():
    generator = torch.Generator().manual_seed(0)
    real, fake = torch.randn(64, 4, generator=generator), torch.randn(64, 4, generator=generator) + 0.5
    fed = FrechetInceptionDistance(feature=Passthrough(4))
    fed.update(real, real=True)
    fed.update(fake, real=False)
    loaded = FrechetInceptionDistance(feature=Passthrough(4))
    double = real.double()
    compat.set_fid_real_sums(loaded, double.sum(0), double.t().mm(double), torch.tensor(len(real)))
    loaded.update(fake, real=False)
    assert torch.allclose(fed.compute(), loaded.compute(), rtol=1e-6)

    kid_fed = KernelInceptionDistance(feature=Passthrough(4), subsets=2, subset_size=32)
    kid_fed.update(real, real=True)
    kid_fed.update(fake, real=False)
    kid_loaded = KernelInceptionDistance(feature=Passthrough(4), subsets=2, subset_size=32)
    compat.set_kid_real_features(kid_loaded, real)
    kid_loaded.update(fake, real=False)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        expected = kid_fed.compute()[0]
        torch.manual_seed(0)
        assert torch.allclose(kid_loaded.compute()[0], expected)


def test_lightning_sigterm_flag_can_be_taken_back():
    trainer = L.Trainer(logger=False, enable_progress_bar=False, enable_checkpointing=False)
    assert compat.clear_lightning_sigterm(trainer) is False
    trainer._signal_connector._sigterm_notifier_fn(signal.SIGTERM, None)  # what Lightning's SIGTERM handler does
    assert trainer.received_sigterm
    assert compat.clear_lightning_sigterm(trainer) is True
    assert not trainer.received_sigterm


def test_lightning_still_sets_the_nvml_gpu_check_on_import():
    """compat.stop_probing_for_a_gpu_every_step undoes a setting Lightning makes on import; if Lightning stops making
    it, the function has nothing left to do, and this test says so."""
    env = {k: v for k, v in os.environ.items() if k != "PYTORCH_NVML_BASED_CUDA_CHECK"}
    code = "import os, lightning; print(os.environ.get('PYTORCH_NVML_BASED_CUDA_CHECK'))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "1"


@pytest.mark.parametrize("gpu,expected", [(False, "0"), (True, "1")])
def test_the_per_step_nvml_probe_is_switched_off_only_without_a_gpu(monkeypatch, gpu, expected):
    monkeypatch.setenv("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpu)
    compat.stop_probing_for_a_gpu_every_step()
    assert os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"] == expected


def test_lerp_all_is_a_lerp_per_tensor_bit_for_bit():
    torch.manual_seed(0)
    targets = [torch.randn(5, 3), torch.randn(7), torch.randn(2, 4, 3, 3)]
    ends = [torch.randn(5, 3), torch.randn(7), torch.randn(2, 4, 3, 3).contiguous(memory_format=torch.channels_last)]
    expected = [t.lerp(e, 0.3) for t, e in zip(targets, ends, strict=True)]
    compat.lerp_all_(targets, ends, 0.3)
    assert all(torch.equal(t, x) for t, x in zip(targets, expected, strict=True))
    compat.lerp_all_([], [], 0.3)  # nothing to average (a generator without buffers)

"""Same shipped extractor under different CPU kernels -> same protocol id and the same FID to 4 significant digits.

Kernel dispatch is fixed when a process starts, so the limited setting runs in a subprocess: ATen's scalar `default`
kernels together with oneDNN and MKL limited to SSE4.1/4.2, against this process's own (the CPU's best, e.g. AVX2 or
AVX-512). These are the differences between machines that changed the old retrained classifier's hash.
experiments/metric_protocol/cross_kernel.py runs each setting on its own and prints the figures.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests import kernel_probe

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {
    "native": {},
    "aten-default": {"ATEN_CPU_CAPABILITY": "default"},
    "sse4": {"ONEDNN_MAX_CPU_ISA": "SSE41", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2"},
}
# What the test runs in its one subprocess: every limitation at once.
LIMITED = {**SETTINGS["aten-default"], **SETTINGS["sse4"]}
KERNEL_VARIABLES = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS", "MKL_CBWR")
SIGNIFICANT_DIGITS = 4


def probe(name: str, out_dir: Path, train: bool = False, setting: dict[str, str] | None = None) -> dict:
    """What tests/kernel_probe.py computes in a fresh process under SETTINGS[name] (or `setting`)."""
    env = {k: v for k, v in os.environ.items() if k not in KERNEL_VARIABLES}
    env.update(SETTINGS[name] if setting is None else setting, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    out = out_dir / f"{name}.pt"
    command = [sys.executable, "-m", "tests.kernel_probe", str(out), *(["--train"] if train else [])]
    subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True, timeout=300)
    return torch.load(out, weights_only=True)


def agree(a: float, b: float, digits: int = SIGNIFICANT_DIGITS) -> bool:
    """`a` and `b` differ by at most half a unit in the `digits`-th significant digit of `b`."""
    return abs(a - b) <= 0.5 * 10 ** (math.floor(math.log10(abs(b))) - digits + 1)


def test_same_protocol_and_fid_to_4_significant_digits_under_other_kernels(tmp_path):
    other = probe("limited", tmp_path, setting=LIMITED)
    threads = torch.get_num_threads()
    try:
        kernel_probe.main(str(tmp_path / "native.pt"), train=False)  # this process: the native kernels
    finally:
        torch.set_num_threads(threads)
    base = torch.load(tmp_path / "native.pt", weights_only=True)
    assert other["capability"] == "DEFAULT"  # the setting took effect
    if base["capability"] == "DEFAULT":
        pytest.skip("this process already runs ATen's default kernels (ATEN_CPU_CAPABILITY set): nothing to compare")
    assert other["protocol"] == base["protocol"]
    scale = base["real"].abs().max()
    for key in ("real", "fake"):
        assert (other[key] - base[key]).abs().max() <= 1e-5 * scale, key  # float rounding, nothing more
    assert math.isfinite(base["fid"]) and base["fid"] > 1.0
    assert agree(other["fid"], base["fid"]) and agree(other["kid_mean"], base["kid_mean"])

"""Each command's --help shows its own options, not the training config groups Hydra finds in conf/."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gan.paths import REPO_ROOT


@pytest.mark.parametrize(("module", "own_option"), [("gan.cli.sample", "which: last"),
                                                    ("gan.cli.evaluate", "heldout_split: test"),
                                                    ("gan.cli.project", "style_from:"),
                                                    ("gan.cli.blend", "--swap-resolution")])
def test_help_lists_the_commands_own_options(module, own_option):
    out = subprocess.run([sys.executable, "-m", module, "--help"], cwd=REPO_ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert own_option in out.stdout
    assert "optim: adam" not in out.stdout and "== Configuration groups ==" not in out.stdout


def test_gan_train_help_says_how_to_run_it_then_lists_groups_and_keys():
    out = subprocess.run([sys.executable, "-m", "gan.cli.train", "--help"], cwd=REPO_ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith("gan-train: train a GAN")
    for usage in ("gan-train experiment=digits_dcgan", "gan-train -m", "resume=<run dir>", "init_from=<run dir>"):
        assert usage in out.stdout
    groups = out.stdout.split("== Configuration groups (group=option) ==")[1].split("== Config (key=value) ==")
    assert "experiment: " in groups[0] and "digits_dcgan" in groups[0]  # the presets are listed
    assert "max_steps:" in groups[1] and "powered by Hydra" not in out.stdout


"""gan-blend: layer swapping and alpha blending of two generators, checked against the parents' own tensors and pixels.

The level of every tensor is read here from its name (`synthesis.const` at side 4, `synthesis.blocks.bNN.*` at side
NN, anything else before the synthesis), not from the generator's `resolution_of_parameter`.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import gan
from gan.cli.blend import main as blend_main
from gan.io import file_sha256
from gan.nets.stylegan import StyleGANGenerator
from gan.paths import REPO_ROOT
from gan.sample.blend import BlendSettings, blend_generators, blend_state_dicts, blend_weights
from gan.sample.export import export_generator
from gan.sample.render import Render, read_provenance, render, save_png
from gan.train.checkpoints import ArchitectureMismatchError, read_checkpoint

SEEDS = range(4)


def tiny_config(width: int = 4, channel_max: int = 8) -> dict:
    generator = {"_target_": "gan.nets.stylegan.StyleGANGenerator", "latent_dim": 8, "channels": 1,
                 "resolution": 16, "w_dim": 16, "mapping_layers": 2, "width": width, "channel_max": channel_max,
                 "num_classes": 0}
    return {"model": {"name": "stylegan", "latent_dim": 8, "num_classes": 0, "generator": generator},
            "data": {"name": "digits", "kind": "image", "resolution": 16, "channels": 1}}


def save_training_checkpoint(path: Path, state: dict, config: dict) -> Path:
    """The parts of a gan-train checkpoint the loaders read: G and G_ema weights, the config, the step."""
    payload = {"state_dict": {**{f"generator.{k}": v for k, v in state.items()},
                              **{f"generator_ema.{k}": v for k, v in state.items()}},
               "gan_config": config, "global_step": 10}
    torch.save(payload, path)
    return path


def random_state(config: dict, seed: int) -> dict:
    """A StyleGAN-lite state with every floating tensor randomised (biases, noise strengths and w_avg start at 0)."""
    torch.manual_seed(seed)
    generator = StyleGANGenerator(**{k: v for k, v in config["model"]["generator"].items() if k != "_target_"})
    return {k: v + 0.5 * torch.randn_like(v) if v.is_floating_point() else v
            for k, v in generator.state_dict().items()}


@pytest.fixture(scope="module")
def parents(tmp_path_factory) -> tuple[Path, Path]:
    """A: a training checkpoint; B: an export of its "fine-tune" (A's weights moved), the usual pair."""
    root = tmp_path_factory.mktemp("parents")
    config = tiny_config()
    state_a = random_state(config, 0)
    torch.manual_seed(1)
    state_b = {k: v + 0.3 * torch.randn_like(v) if v.is_floating_point() else v for k, v in state_a.items()}
    a = save_training_checkpoint(root / "a.ckpt", state_a, config)
    b_ckpt = save_training_checkpoint(root / "b.ckpt", state_b, {**config, "data": {**config["data"],
                                                                                   "name": "textures"}})
    return a, export_generator(b_ckpt, root / "b.generator.pt")


def weights(path: Path) -> dict:
    return gan.load(path).loaded.generator.state_dict()


def images(path: Path) -> torch.Tensor:
    return gan.load(path).generate(seeds=SEEDS, batch_size=len(SEEDS))


def side_from_name(name: str) -> int | None:
    if name == "synthesis.const":
        return 4
    match = re.match(r"synthesis\.blocks\.b(\d+)\.", name)
    return int(match.group(1)) if match else None


def test_alpha_zero_gives_a_and_alpha_one_gives_b_pixel_for_pixel(parents, tmp_path):
    a, b = parents
    pixels_a, pixels_b = images(a), images(b)
    assert not torch.equal(pixels_a, pixels_b)
    assert torch.equal(images(blend_generators(a, b, tmp_path / "a0.pt", BlendSettings(alpha=0.0))), pixels_a)
    for mapping in ("b", "alpha"):
        blended = blend_generators(a, b, tmp_path / f"a1{mapping}.pt", BlendSettings(alpha=1.0, mapping=mapping))
        assert torch.equal(images(blended), pixels_b), mapping
    # the default keeps A's mapping and w_avg: B's synthesis drawn from A's w space is neither parent
    default = images(blend_generators(a, b, tmp_path / "a1.pt", BlendSettings(alpha=1.0)))
    assert not torch.equal(default, pixels_b) and not torch.equal(default, pixels_a)


@pytest.mark.parametrize("swap", [4, 8])
def test_hard_swap_takes_sides_up_to_r_and_the_mapping_from_a_and_the_rest_from_b(parents, tmp_path, swap):
    a, b = parents
    out = blend_generators(a, b, tmp_path / "swap.pt", BlendSettings(swap_resolution=swap))
    blended, wa, wb = weights(out), weights(a), weights(b)
    counts = {"a": 0, "b": 0}
    for name, value in blended.items():
        side = side_from_name(name)
        parent = "a" if side is None or side <= swap else "b"
        assert torch.equal(value, (wa if parent == "a" else wb)[name]), (name, side, parent)
        assert not torch.equal(wa[name], wb[name]), name  # the parents differ, so the check above can fail
        counts[parent] += 1
    assert counts["a"] > 0 and counts["b"] > 0


def test_alpha_half_is_the_elementwise_mean_and_the_ramp_is_linear_in_levels(parents, tmp_path):
    a, b = parents
    wa, wb = weights(a), weights(b)
    half = weights(blend_generators(a, b, tmp_path / "half.pt", BlendSettings(alpha=0.5, mapping="alpha")))
    for name in wa:
        assert torch.equal(half[name], (wa[name] + wb[name]) / 2), name
    # swap at 4, ramp over one level: side 4 and the mapping from A, side 8 halfway, side 16 from B
    ramp = weights(blend_generators(a, b, tmp_path / "ramp.pt", BlendSettings(swap_resolution=4, ramp_width=1)))
    expected = {None: wa, 4: wa, 8: half, 16: wb}
    for name, value in ramp.items():
        assert torch.equal(value, expected[side_from_name(name)][name]), name


def test_blend_names_both_parents_in_the_export_and_in_the_pngs_drawn_from_it(parents, tmp_path):
    a, b = parents
    out = blend_generators(a, b, tmp_path / "blend.pt", BlendSettings(swap_resolution=8))
    export = read_checkpoint(out)
    hashes = {"a": file_sha256(a), "b": file_sha256(b)}
    assert {k: export["blend"]["parents"][k]["sha256"] for k in hashes} == hashes
    assert str(a.resolve()) in export["blend"]["command"] and "--swap-resolution 8" in export["blend"]["command"]
    model = gan.load(out)
    assert model.loaded.kind == "export"
    spec = Render(layout="single", seeds=[3])
    png = save_png(render(model.loaded, spec), tmp_path / "seed.png", model.loaded, spec)
    record = read_provenance(png)
    assert record["checkpoint_sha256"] == file_sha256(out)
    parents_in_png = record["model_config"]["blend"]["parents"]
    assert {k: parents_in_png[k]["sha256"] for k in hashes} == hashes
    assert parents_in_png["a"]["path"] == str(a.resolve())


def test_different_architectures_are_refused_naming_the_mismatch(parents, tmp_path, capsys):
    a, _ = parents
    config = tiny_config(width=8, channel_max=16)
    other = save_training_checkpoint(tmp_path / "wide.ckpt", random_state(config, 2), config)
    with pytest.raises(ArchitectureMismatchError, match="shape mismatches"):
        blend_generators(a, other, tmp_path / "x.pt", BlendSettings(alpha=0.5))
    with pytest.raises(SystemExit) as stop:
        blend_main([str(a), str(other), "-o", str(tmp_path / "x.pt"), "--alpha", "0.5"])
    assert stop.value.code == 2
    assert "gan-blend: error:" in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--alpha", "1.5"], "alpha=1.5: must be in"),
    (["--alpha", "nan"], "must be in"),
    ([], "say how to blend"),
    (["--swap-resolution", "5"], "levels are 4, 8, 16"),
    (["--alpha", "0.5", "--ramp-width", "1"], "needs swap_resolution"),
])
def test_bad_settings_exit_2_with_one_message(parents, tmp_path, capsys, args, message):
    a, b = parents
    with pytest.raises(SystemExit) as stop:
        blend_main([str(a), str(b), "-o", str(tmp_path / "x.pt"), *args])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "x.pt").exists()


def test_overwriting_a_parent_or_a_training_checkpoint_is_refused(parents, tmp_path, capsys):
    a, b = parents
    before = {p: file_sha256(p) for p in (a, b)}
    for target in (a, b):
        with pytest.raises(SystemExit) as stop:
            blend_main([str(a), str(b), "-o", str(target), "--alpha", "0.5"])
        assert stop.value.code == 2
        assert "would destroy an input" in capsys.readouterr().err
    bystander = save_training_checkpoint(tmp_path / "other.ckpt", random_state(tiny_config(), 3), tiny_config())
    with pytest.raises(SystemExit):
        blend_main([str(a), str(b), "-o", str(bystander), "--alpha", "0.5"])
    assert "is a training checkpoint" in capsys.readouterr().err
    assert {p: file_sha256(p) for p in (a, b)} == before


def test_generators_without_levels_blend_by_alpha_only_and_copy_integer_buffers_from_a():
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    with pytest.raises(ValueError, match="not style-based"):
        blend_weights(net, net.state_dict(), BlendSettings(swap_resolution=8))
    torch.manual_seed(0)
    state_a = {k: (torch.randn_like(v) if v.is_floating_point() else v + 3) for k, v in net.state_dict().items()}
    state_b = {k: (torch.randn_like(v) if v.is_floating_point() else v + 7) for k, v in net.state_dict().items()}
    blended = blend_state_dicts(state_a, state_b, blend_weights(net, state_a, BlendSettings(alpha=0.25)))
    for name, value in blended.items():
        if value.is_floating_point():  # BN running statistics included
            assert torch.allclose(value, 0.75 * state_a[name] + 0.25 * state_b[name], rtol=0, atol=1e-6), name
        else:
            assert torch.equal(value, state_a[name]), name
    assert "1.num_batches_tracked" in blended


def test_cli_end_to_end_and_a_missing_file_exits_2(parents, tmp_path):
    a, b = parents
    out = tmp_path / "cli.pt"
    command = [sys.executable, "-m", "gan.cli.blend"]
    done = subprocess.run([*command, str(a), str(b), "-o", str(out), "--swap-resolution", "8"], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"gan-sample ckpt={out}" in done.stdout
    assert torch.equal(images(out), images(blend_generators(a, b, tmp_path / "api.pt",
                                                            BlendSettings(swap_resolution=8))))
    missing = subprocess.run([*command, str(tmp_path / "nope.ckpt"), str(b), "-o", str(tmp_path / "m.pt"),
                              "--alpha", "0.5"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=180)
    assert missing.returncode == 2
    assert "gan-blend: error:" in missing.stderr and "nope.ckpt" in missing.stderr
    assert "Traceback" not in missing.stderr

"""gan-sample: per-seed determinism, truncation, classes, interpolation, provenance metadata and regeneration."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gan.sample.export import export_generator
from gan.sample.render import (
    KEY_GENERATED,
    Render,
    interpolation_path,
    latents_for_seeds,
    parse_seeds,
    read_provenance,
    regenerate,
    render,
    render_frames,
    sample_to_dir,
    slerp,
    truncate,
)
from gan.train.checkpoints import load_generator
from tests.training_helpers import last_ckpt, train_tiny

GRID = {"save": True, "nrow": 4, "padding": 2, "pad_value": 1.0}
INTERPOLATION = {"steps": 4, "method": "slerp", "loop": True, "gif": True, "frame_ms": 50}


@pytest.fixture(scope="module")
def conditional_run(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("cond")
    train_tiny(run_dir, "model.num_classes=10", "trainer.max_steps=6")
    return run_dir


@pytest.fixture(scope="module")
def loaded(conditional_run):
    return load_generator(last_ckpt(conditional_run))


def png_pixels(path: Path) -> np.ndarray:
    """(H, W, C) uint8, as `regenerate` returns them (grayscale PNGs read as (H, W))."""
    pixels = np.asarray(Image.open(path))
    return pixels[..., None] if pixels.ndim == 2 else pixels


def test_parse_seeds():
    assert parse_seeds("0-3,10") == [0, 1, 2, 3, 10]
    assert parse_seeds([5, "7-8"]) == [5, 7, 8]
    assert parse_seeds(7) == [7]
    with pytest.raises(ValueError, match="runs backwards"):
        parse_seeds("5-2")
    with pytest.raises(ValueError, match="not a seed"):
        parse_seeds("a")


def test_a_seed_gives_the_same_image_whatever_else_is_drawn(loaded):
    grid = render_frames(loaded, Render(layout="grid", seeds=list(range(8)), batch_size=8))
    again = render_frames(loaded, Render(layout="grid", seeds=list(range(8)), batch_size=8))
    alone = render_frames(loaded, Render(layout="grid", seeds=[5], batch_size=1))
    assert np.array_equal(grid, again)
    # Batch size may move the last float bit, so compare image 5 drawn alone with at most one intensity level.
    assert np.abs(alone[0].astype(int) - grid[5].astype(int)).max() <= 1
    assert not np.array_equal(grid[0], grid[1])


def test_latents_depend_only_on_their_seed():
    z, _ = latents_for_seeds([3, 4], latent_dim=6, num_classes=0)
    expected = torch.randn(1, 6, generator=torch.Generator().manual_seed(4))
    assert torch.equal(z[1:], expected)


def test_truncation_bounds_every_component_and_keeps_the_rest():
    generator = torch.Generator().manual_seed(0)
    z = torch.tensor([[0.1, 3.0, -0.4, -2.5]])
    out = truncate(z, 1.0, generator)
    assert out.abs().max() <= 1.0
    assert out[0, 0] == 0.1 and out[0, 2] == -0.4  # components inside the threshold are untouched
    with pytest.raises(ValueError, match="must be > 0"):
        truncate(z, 0.0, generator)


def test_class_labels_are_checked_and_used(loaded):
    _, y = latents_for_seeds([0, 1, 2], loaded.latent_dim, loaded.num_classes, class_label=7)
    assert y.tolist() == [7, 7, 7]
    seven = render_frames(loaded, Render(layout="grid", seeds=[0], class_label=7))
    three = render_frames(loaded, Render(layout="grid", seeds=[0], class_label=3))
    assert not np.array_equal(seven, three)
    with pytest.raises(ValueError, match="outside 0..9"):
        latents_for_seeds([0], loaded.latent_dim, loaded.num_classes, class_label=10)
    with pytest.raises(ValueError, match="unconditional"):
        latents_for_seeds([0], 4, 0, class_label=1)


def test_slerp_keeps_endpoints_and_norm():
    a, b = torch.tensor([2.0, 0.0]), torch.tensor([0.0, 2.0])
    path = slerp(a, b, torch.tensor([0.0, 0.5, 1.0]))
    assert torch.allclose(path[0], a) and torch.allclose(path[2], b, atol=1e-6)
    # halfway along the great circle: 45 degrees, at the endpoints' norm (a straight line would cut inside, norm 1.41)
    assert torch.allclose(path[1], torch.tensor([2.0, 2.0]) / 2**0.5, atol=1e-6)
    frames = interpolation_path(torch.stack([a, b, a]), steps=4, method="lerp", loop=True)
    assert len(frames) == 12 and torch.equal(frames[0], a) and torch.equal(frames[4], b)


def test_grid_and_singles_carry_provenance_and_regenerate(loaded, tmp_path):
    written = sample_to_dir(loaded, tmp_path, [0, 1, 2, 3, 9], mode="grid", truncation=1.5, class_label=None,
                            batch_size=1, upscale=2, grid=GRID, individual=True, interpolation=INTERPOLATION)
    names = sorted(p.name for p in written)
    assert names == ["grid.png", *[f"seed_{s:06d}.png" for s in (0, 1, 2, 3, 9)]]
    grid = np.asarray(Image.open(tmp_path / "grid.png"))
    # 4 per row, 2 rows of images upscaled x2, 2 px padding
    cell = 2 * loaded.config["data"]["resolution"] + GRID["padding"]
    assert grid.shape == (2 * cell + 2, 4 * cell + 2)
    record = read_provenance(tmp_path / "seed_000009.png")
    assert record["checkpoint_sha256"] == loaded.sha256 and record["generated"] is True
    assert record["render"]["seeds"] == [9] and record["render"]["truncation"] == 1.5
    assert record["model_config"]["model"]["num_classes"] == 10
    with Image.open(tmp_path / "seed_000009.png") as image:
        assert image.text[KEY_GENERATED] == "true" and "not a photograph" in image.text["Description"]
    # The record alone rebuilds the exact pixels.
    for name in ("grid.png", "seed_000009.png"):
        assert np.array_equal(regenerate(tmp_path / name), png_pixels(tmp_path / name))


def test_a_grid_that_cannot_be_drawn_or_opened_is_refused_before_generating(loaded, tmp_path):
    common = dict(mode="grid", truncation=None, class_label=None, batch_size=64, upscale=1, individual=False,
                  interpolation=INTERPOLATION)
    with pytest.raises(ValueError, match="grid.nrow=0"):
        sample_to_dir(loaded, tmp_path / "a", [0, 1], grid={**GRID, "nrow": 0}, **common)
    with pytest.raises(ValueError, match="megapixels.*individual=true grid.save=false"):
        sample_to_dir(loaded, tmp_path / "b", list(range(2_000_000)), grid=GRID, **common)  # refused at once
    assert not list(tmp_path.rglob("*.png"))


def test_regenerate_refuses_another_checkpoint(loaded, tmp_path, conditional_run):
    sample_to_dir(loaded, tmp_path, [0], mode="grid", truncation=None, class_label=None, batch_size=1, upscale=1,
                  grid=GRID, individual=False, interpolation=INTERPOLATION)
    other = export_generator(conditional_run, tmp_path / "g.pt")
    with pytest.raises(Exception, match="sha256"):
        regenerate(tmp_path / "grid.png", checkpoint=other)


def test_interpolation_writes_grid_and_gif(loaded, tmp_path):
    written = sample_to_dir(loaded, tmp_path, [0, 1, 2], mode="interpolate", truncation=None, class_label=2,
                            batch_size=4, upscale=1, grid=GRID, individual=False, interpolation=INTERPOLATION)
    assert [p.name for p in written] == ["interpolation.png", "interpolation.gif"]
    with Image.open(tmp_path / "interpolation.gif") as gif:
        assert gif.n_frames == 3 * INTERPOLATION["steps"]
        assert gif.size == (loaded.config["data"]["resolution"],) * 2  # no gif_min_size: the generator's size
    resolution = loaded.config["data"]["resolution"]
    sample_to_dir(loaded, tmp_path / "big", [0, 1], mode="interpolate", truncation=None, class_label=2, batch_size=4,
                  upscale=1, grid=GRID, individual=False, interpolation={**INTERPOLATION, "gif_min_size": 100})
    with Image.open(tmp_path / "big" / "interpolation.gif") as gif:  # enlarged by the smallest factor reaching 100
        assert gif.size == (resolution * -(-100 // resolution),) * 2 and gif.size[0] >= 100
    frames = render_frames(loaded, Render(layout="interpolation", seeds=[0, 1, 2], class_label=2, batch_size=4,
                                          interpolation={k: INTERPOLATION[k] for k in ("steps", "method", "loop")}))
    keyframes = render_frames(loaded, Render(layout="grid", seeds=[0, 1, 2], class_label=2, batch_size=4))
    assert np.array_equal(frames[0], keyframes[0])  # the path starts at the first seed's image
    assert np.array_equal(regenerate(tmp_path / "interpolation.png"), png_pixels(tmp_path / "interpolation.png"))


def test_export_samples_like_its_checkpoint(loaded, conditional_run, tmp_path):
    exported = load_generator(export_generator(conditional_run, tmp_path / "g.pt"))
    spec = Render(layout="grid", seeds=[0, 1, 2, 3], nrow=2, batch_size=4)
    assert np.array_equal(render(exported, spec), render(loaded, spec))


@pytest.mark.slow
def test_gan_sample_cli_is_repeatable(conditional_run, tmp_path):
    def sample(out: Path) -> np.ndarray:
        subprocess.run([sys.executable, "-m", "gan.cli.sample", f"ckpt={conditional_run}", "seeds=0-7",
                        "truncation=2.0", "class=4", f"out={out}"], check=True, capture_output=True)
        return np.asarray(Image.open(out / "grid.png"))

    first, second = sample(tmp_path / "a"), sample(tmp_path / "b")
    assert np.array_equal(first, second)
    assert read_provenance(tmp_path / "a" / "grid.png")["render"]["class_label"] == 4
    bad = subprocess.run([sys.executable, "-m", "gan.cli.sample", f"ckpt={tmp_path / 'missing.ckpt'}",
                          f"out={tmp_path / 'c'}"], capture_output=True, text=True)
    assert bad.returncode != 0 and "no such file" in bad.stderr


def test_gan_sample_on_a_toy_checkpoint_writes_points_and_a_scatter(tmp_path):
    from gan.sample.render import read_provenance, sample_to_dir
    from gan.train.run import train
    from tests.conftest import make_config

    run_dir = tmp_path / "toy"
    train(make_config("data=grid25", "model=mlp", "data.dataset.num_samples=500", "model.generator.hidden_dim=8",
                      "model.discriminator.hidden_dim=8", "trainer.max_steps=4", "logger.tensorboard=false"), run_dir)
    loaded = load_generator(last_ckpt(run_dir))
    written = sample_to_dir(loaded, tmp_path / "out", [0, 1, 2], mode="grid", truncation=None, class_label=None,
                            batch_size=8, upscale=1, grid={"save": True, "nrow": 8, "padding": 2, "pad_value": 0.0},
                            individual=False, interpolation={})
    assert sorted(path.name for path in written) == ["points.csv", "points.npy", "scatter.png"]
    points = np.load(tmp_path / "out" / "points.npy")
    assert points.shape == (3, 2)
    rows = (tmp_path / "out" / "points.csv").read_text().splitlines()
    assert rows[0] == "seed,x,y" and [int(row.split(",")[0]) for row in rows[1:]] == [0, 1, 2]
    assert np.allclose([[float(v) for v in row.split(",")[1:]] for row in rows[1:]], points, atol=1e-5)
    assert read_provenance(tmp_path / "out" / "scatter.png")["render"]["layout"] == "scatter"

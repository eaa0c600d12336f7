"""gan-sample mode=classes: one row per class, one column per seed, provenance and regeneration."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gan.nets.dcgan import latent_code
from gan.sample.render import (
    KEY_REGENERATE,
    Render,
    code_grid_inputs,
    latents_for_seeds,
    read_provenance,
    regenerate,
    render_frames,
    sample_to_dir,
)
from gan.train.checkpoints import load_generator
from tests.training_helpers import last_ckpt, train_tiny

NUM_CLASSES = 10
PADDING = 2
GRID = {"save": True, "nrow": 4, "padding": PADDING, "pad_value": 1.0}
INTERPOLATION = {"steps": 4, "method": "slerp", "loop": True, "gif": True, "frame_ms": 50}
SEEDS = [0, 1, 2, 5]


@pytest.fixture(scope="module")
def conditional(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("cond")
    train_tiny(run_dir, f"model.num_classes={NUM_CLASSES}", "trainer.max_steps=6")
    return load_generator(last_ckpt(run_dir))


@pytest.fixture(scope="module")
def unconditional(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("uncond")
    train_tiny(run_dir, "trainer.max_steps=2")
    return load_generator(last_ckpt(run_dir))


@pytest.fixture(scope="module")
def with_codes(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("codes")
    train_tiny(run_dir, f"model.latent_codes={CODES}", "trainer.max_steps=6")
    return load_generator(last_ckpt(run_dir))


CODES = 4


def write_classes(loaded, out_dir: Path, **kwargs) -> list[Path]:
    settings = {"truncation": None, "class_label": None, "batch_size": 4, "upscale": 1, "grid": GRID,
                "individual": False, "interpolation": INTERPOLATION, **kwargs}
    return sample_to_dir(loaded, out_dir, SEEDS, mode="classes", **settings)


def cell(grid: np.ndarray, row: int, col: int, side: int) -> np.ndarray:
    top, left = PADDING + row * (side + PADDING), PADDING + col * (side + PADDING)
    return grid[top:top + side, left:left + side]


def test_row_k_is_class_k_and_column_j_is_seed_j(conditional, tmp_path):
    written = write_classes(conditional, tmp_path)
    assert [p.name for p in written] == ["classes.png"]
    grid = np.asarray(Image.open(tmp_path / "classes.png"))
    side = conditional.config["data"]["resolution"]
    # one row per class, one column per seed, whatever grid.nrow says
    assert grid.shape == (NUM_CLASSES * (side + PADDING) + PADDING, len(SEEDS) * (side + PADDING) + PADDING)
    for k in (0, 3, 9):
        # the same image gan-sample draws for that seed alone with class=k
        alone = render_frames(conditional, Render(layout="grid", seeds=SEEDS, class_label=k, batch_size=4))
        for j in range(len(SEEDS)):
            assert np.array_equal(cell(grid, k, j, side), alone[j, ..., 0]), (k, j)
    assert not np.array_equal(cell(grid, 0, 0, side), cell(grid, 1, 0, side))  # classes differ down a column


def test_the_latent_is_shared_down_a_column():
    z3, y3 = latents_for_seeds(SEEDS, 8, NUM_CLASSES, class_label=3)
    z7, y7 = latents_for_seeds(SEEDS, 8, NUM_CLASSES, class_label=7)
    assert (z3 == z7).all() and y3.tolist() == [3] * len(SEEDS) and y7.tolist() == [7] * len(SEEDS)


def test_provenance_and_regeneration(conditional, tmp_path):
    write_classes(conditional, tmp_path, truncation=1.5)
    path = tmp_path / "classes.png"
    record = read_provenance(path)
    assert record["render"]["layout"] == "classes" and record["render"]["seeds"] == SEEDS
    assert record["checkpoint_sha256"] == conditional.sha256
    command = Image.open(path).text[KEY_REGENERATE]
    assert "mode=classes" in command and "seeds=[0-2,5]" in command and "truncation=1.5" in command
    pixels = np.asarray(Image.open(path))
    assert np.array_equal(regenerate(path)[..., 0], pixels)


def test_refused_for_unconditional_generators_and_with_a_class(unconditional, conditional, tmp_path):
    with pytest.raises(ValueError, match="needs a class-conditional generator .* or one with latent codes"):
        write_classes(unconditional, tmp_path / "u")
    assert not (tmp_path / "u").exists()  # refused before anything is written
    with pytest.raises(ValueError, match="leave class=null"):
        write_classes(conditional, tmp_path / "c", class_label=2)
    assert not (tmp_path / "c").exists()


def test_code_grid_row_k_has_code_k_and_keeps_each_seed_values():
    z = code_grid_inputs(SEEDS, 8, CODES).reshape(CODES, len(SEEDS), 8)
    plain, _ = latents_for_seeds(SEEDS, 8, 0)
    for k in range(CODES):
        assert latent_code(z[k], CODES).tolist() == [k] * len(SEEDS)
        # a permutation of the seed's own first CODES entries; the rest untouched
        assert (z[k, :, :CODES].sort(dim=1).values == plain[:, :CODES].sort(dim=1).values).all()
        assert (z[k, :, CODES:] == plain[:, CODES:]).all()
    # a seed whose code already is k keeps its latent in row k
    own = latent_code(plain, CODES)
    for j, k in enumerate(own.tolist()):
        assert (z[k, j] == plain[j]).all()


def test_classes_grid_of_a_generator_with_latent_codes_has_a_row_per_code(with_codes, tmp_path):
    assert with_codes.num_classes == 0 and with_codes.latent_codes == CODES
    write_classes(with_codes, tmp_path)
    grid = np.asarray(Image.open(tmp_path / "classes.png"))
    side = with_codes.config["data"]["resolution"]
    assert grid.shape == (CODES * (side + PADDING) + PADDING, len(SEEDS) * (side + PADDING) + PADDING)
    assert np.array_equal(regenerate(tmp_path / "classes.png")[..., 0], grid)
    # cell (k, j) is G_ema's image of seed j's latent with code k, and rows differ down a column
    z = code_grid_inputs(SEEDS, with_codes.latent_dim, CODES)
    with torch.no_grad():
        images = with_codes.generator(z)
    pixels = ((images + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)[:, 0].numpy()
    for k in range(CODES):
        for j in range(len(SEEDS)):
            assert np.abs(cell(grid, k, j, side).astype(int) - pixels[k * len(SEEDS) + j]).max() <= 1, (k, j)
    assert not np.array_equal(cell(grid, 0, 0, side), cell(grid, 1, 0, side))
    with pytest.raises(ValueError, match="truncation_psi=0 with mode=classes"):
        write_classes(with_codes, tmp_path / "psi0", truncation_psi=0.0)
    with pytest.raises(ValueError, match="leave class=null$"):  # no class=K hint: a code model takes no class
        write_classes(with_codes, tmp_path / "k", class_label=1)

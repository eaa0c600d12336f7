"""gan-sample's w-space tools (gan/sample/style_mix.py): the style-mixing grid (which w reaches which layer, layout,
crossover names), truncation and interpolation in w space, refusals, provenance, regeneration and the CLI."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gan.data.pixels import to_uint8
from gan.nets.dcgan import DCGANGenerator
from gan.nets.stylegan import StyleGANGenerator
from gan.sample import style_mix as mixing
from gan.sample.export import export_generator
from gan.sample.render import (
    KEY_REGENERATE,
    Render,
    latents_for_seeds,
    read_provenance,
    regenerate,
    render_frames,
    sample_to_dir,
    seed_images,
)
from gan.train.checkpoints import LoadedGenerator, load_generator, read_checkpoint
from tests.training_helpers import last_ckpt, train_tiny

SIDE = 16
PAD = 2
GRID = {"save": True, "nrow": 4, "padding": PAD, "pad_value": 1.0}
INTERPOLATION = {"steps": 2, "method": "slerp", "loop": False, "gif": False, "frame_ms": 50, "space": "z"}
# model=stylegan at 16x16, as small as it goes (ws_resolutions [4, 8, 8, 16, 16, 16])
TINY_STYLEGAN = ("model=stylegan", "model.generator.width=4", "model.generator.channel_max=8",
                 "model.generator.w_dim=16", "model.generator.mapping_layers=2", "trainer.max_steps=2")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("stylegan")
    train_tiny(run, *TINY_STYLEGAN)
    return run


@pytest.fixture(scope="module")
def loaded(run_dir, tmp_path_factory) -> LoadedGenerator:
    """An export of the tiny run with a far-from-zero mean w (two training steps barely move it, and truncation
    towards w_avg ~ 0 would look like truncation of z towards 0) and noise that shows (its strength starts at 0)."""
    path = export_generator(run_dir, tmp_path_factory.mktemp("export") / "g.pt")
    payload = read_checkpoint(path)
    state = payload["state_dict"]
    generator = torch.Generator().manual_seed(0)
    state["w_avg"] = torch.randn(state["w_avg"].shape, generator=generator)
    for key in [k for k in state if k.endswith("noise_strength")]:
        state[key] = torch.tensor(0.5)
    torch.save(payload, path)
    return load_generator(path)


@pytest.fixture
def dcgan() -> LoadedGenerator:
    torch.manual_seed(0)
    generator = DCGANGenerator(latent_dim=8, channels=1, resolution=SIDE, width=4).eval()
    return LoadedGenerator(generator=generator, config={"data": {"kind": "image"}}, path=Path("dcgan.pt"),
                           sha256="0" * 64, kind="export", global_step=None, g_steps=None)


def write(loaded, out_dir: Path, seeds, mode: str = "style_mix", **kwargs) -> list[Path]:
    settings = {"truncation": None, "class_label": None, "batch_size": 1, "upscale": 1, "grid": GRID,
                "individual": False, "interpolation": INTERPOLATION, "style_mix": {"crossover": "coarse"}, **kwargs}
    return sample_to_dir(loaded, out_dir, list(seeds), mode=mode, **settings)


def png(path: Path) -> np.ndarray:
    pixels = np.asarray(Image.open(path))
    return pixels[..., None] if pixels.ndim == 2 else pixels


def cell(grid: np.ndarray, row: int, col: int, side: int = SIDE) -> np.ndarray:
    top, left = PAD + row * (side + PAD), PAD + col * (side + PAD)
    return grid[top:top + side, left:left + side]


def plain(loaded, seed: int, **kwargs) -> np.ndarray:
    """The seed's image as mode=grid draws it, (H, W, C) uint8."""
    return render_frames(loaded, Render(layout="grid", seeds=[seed], **kwargs))[0]


def own_w(loaded, seed: int) -> torch.Tensor:
    """The seed's w from the mapping network itself (no truncation), (w_dim,)."""
    z, _ = latents_for_seeds([seed], loaded.latent_dim, 0)
    with torch.no_grad():
        return loaded.generator.mapping(z, None)[0]


def image_of(loaded, ws: torch.Tensor) -> np.ndarray:
    """(num_ws, w_dim) per-layer ws -> the synthesised (H, W, C) uint8 image."""
    with torch.no_grad():
        return to_uint8(loaded.generator.synthesis(ws[None], "const")).permute(0, 2, 3, 1)[0].numpy()


def affine_ws_index(synthesis) -> dict[torch.nn.Module, int]:
    """Which ws index feeds each `affine` (StyleLayer and ToRGB): found by feeding a distinct w per index."""
    num_ws, w_dim = synthesis.num_ws, synthesis.blocks["b4"].conv1.affine.weight.shape[1]
    probe = torch.randn(1, num_ws, w_dim)
    index, hooks = {}, []
    for module in synthesis.modules():
        if hasattr(module, "affine"):
            def hook(affine, inputs, _output):
                index[affine] = next(i for i in range(num_ws) if torch.equal(inputs[0][0], probe[0, i]))
            hooks.append(module.affine.register_forward_hook(hook))
    with torch.no_grad():
        synthesis(probe, "const")
    for handle in hooks:
        handle.remove()
    assert sorted(set(index.values())) == list(range(num_ws))
    return index


# ---------------------------------------------------------------------------------------------------- (a) which w
@pytest.mark.parametrize(("crossover", "k"), [("coarse", 3), (1, 1), (5, 5)])
def test_each_layer_gets_the_row_seeds_w_before_the_crossover_and_the_column_seeds_after(loaded, crossover, k):
    rows, cols = [0, 3], [1, 2, 7]
    synthesis = loaded.generator.synthesis
    index = affine_ws_index(synthesis)
    seen: dict[torch.nn.Module, torch.Tensor] = {}
    hooks = []
    for affine in index:
        def hook(module, inputs, _output):
            if inputs[0].shape[0] == len(rows) * len(cols):  # the mixed cells (the headers are batches of 2 and 3)
                seen[module] = inputs[0].clone()
        hooks.append(affine.register_forward_hook(hook))
    spec = Render(layout="style_mix", seeds=rows, batch_size=64,
                  style_mix=mixing.style_mix_settings(loaded.generator, cols, crossover))
    try:
        row_images, col_images, cells = mixing.style_mix_images(loaded, spec)
    finally:
        for handle in hooks:
            handle.remove()
    assert cells.shape == (len(rows), len(cols), 1, SIDE, SIDE)
    assert row_images.shape[0] == len(rows) and col_images.shape[0] == len(cols)
    assert set(seen) == set(index)
    row_w, col_w = [own_w(loaded, s) for s in rows], [own_w(loaded, s) for s in cols]
    assert not any(torch.allclose(a, b, atol=1e-3) for a in row_w for b in col_w)  # the sources can be told apart
    assert {i < k for i in index.values()} == {True, False}  # layers from both sides
    for affine, i in index.items():
        for r in range(len(rows)):
            for c in range(len(cols)):
                expected = row_w[r] if i < k else col_w[c]
                torch.testing.assert_close(seen[affine][r * len(cols) + c], expected, rtol=0, atol=1e-5)


# ---------------------------------------------------------------------------------------------------- (b) the grid
def test_the_grid_has_column_images_on_top_row_images_on_the_left_and_mixes_inside(loaded, tmp_path):
    rows, cols = [0, 3], [1, 3, 7]
    written = write(loaded, tmp_path, rows, col_seeds=cols)
    assert [p.name for p in written] == ["style_mix.png"]
    grid = png(tmp_path / "style_mix.png")
    assert grid.shape == ((len(rows) + 1) * (SIDE + PAD) + PAD, (len(cols) + 1) * (SIDE + PAD) + PAD, 1)
    assert (cell(grid, 0, 0) == 255).all()  # blank corner in pad_value (1.0: white)
    for c, seed in enumerate(cols):
        assert np.array_equal(cell(grid, 0, c + 1), plain(loaded, seed)), f"column header {seed}"
    for r, seed in enumerate(rows):
        assert np.array_equal(cell(grid, r + 1, 0), plain(loaded, seed)), f"row header {seed}"
    # cell (r, c): ws[:3] (coarse at 16x16) from row seed r, ws[3:] from column seed c, by hand
    num_ws = loaded.generator.num_ws
    for r, row_seed in enumerate(rows):
        for c, col_seed in enumerate(cols):
            ws = torch.cat([own_w(loaded, row_seed).expand(3, -1), own_w(loaded, col_seed).expand(num_ws - 3, -1)])
            assert np.abs(cell(grid, r + 1, c + 1).astype(int) - image_of(loaded, ws).astype(int)).max() <= 1
    assert np.array_equal(cell(grid, 2, 2), plain(loaded, 3))  # seed 3 mixed with itself is seed 3
    mixed = cell(grid, 1, 1)  # row seed 0, column seed 1: neither image
    assert not np.array_equal(mixed, plain(loaded, 0)) and not np.array_equal(mixed, plain(loaded, 1))


def test_without_col_seeds_the_columns_are_the_row_seeds_and_upscale_enlarges_cells(loaded, tmp_path):
    write(loaded, tmp_path, [4, 5, 6], upscale=2)
    grid = png(tmp_path / "style_mix.png")
    side = 2 * SIDE
    assert grid.shape == (4 * (side + PAD) + PAD, 4 * (side + PAD) + PAD, 1)
    assert read_provenance(tmp_path / "style_mix.png")["render"]["style_mix"]["col_seeds"] == [4, 5, 6]
    for i in range(3):
        assert np.array_equal(cell(grid, 0, i + 1, side), cell(grid, i + 1, 0, side))
        assert np.array_equal(cell(grid, i + 1, i + 1, side), cell(grid, i + 1, 0, side))  # the diagonal: unmixed


# ---------------------------------------------------------------------------------------------------- (c) names
@pytest.mark.parametrize(("resolution", "sides", "expected"), [
    (16, [4, 8, 8, 16, 16, 16], {"coarse": 3, "middle": None, "fine": 3}),
    (32, [4, 8, 8, 16, 16, 32, 32, 32], {"coarse": 3, "middle": 5, "fine": 5}),
    (64, [4, 8, 8, 16, 16, 32, 32, 64, 64, 64], {"coarse": 3, "middle": 5, "fine": 7}),
])
def test_crossover_names_map_to_the_documented_indices(resolution, sides, expected):
    generator = StyleGANGenerator(latent_dim=8, channels=1, resolution=resolution, w_dim=16, width=4, channel_max=8)
    assert generator.ws_resolutions == sides
    for name, index in expected.items():
        if index is None:  # 16x16 has no styles above 16: the column seed would give nothing
            with pytest.raises(ValueError, match="middle"):
                mixing.crossover_index(name, sides)
        else:
            assert mixing.crossover_index(name, sides) == index
            assert sides[index - 1] < sides[index] or name == "fine" and sides[index - 1] < resolution
    num_ws = len(sides)
    assert mixing.crossover_index(1, sides) == 1 and mixing.crossover_index(num_ws - 1, sides) == num_ws - 1
    assert mixing.crossover_index("4", sides) == 4
    for bad in (0, num_ws, -1):
        with pytest.raises(ValueError, match=f"1..{num_ws - 1}"):
            mixing.crossover_index(bad, sides)
    for bad in ("banana", True, None, 2.5):
        with pytest.raises(ValueError, match="coarse, middle or fine"):
            mixing.crossover_index(bad, sides)


# ---------------------------------------------------------------------------------------------------- (d) refusals
def test_refuses_generators_without_w_and_bad_settings_before_writing(loaded, dcgan, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="mode=style_mix.*model=stylegan.*DCGANGenerator"):
        write(dcgan, out, [0, 1])
    with pytest.raises(ValueError, match="interpolation.space=w.*DCGANGenerator"):
        write(dcgan, out, [0, 1], mode="interpolate", interpolation={**INTERPOLATION, "space": "w"})
    with pytest.raises(ValueError, match="interpolation.space='x'"):
        write(loaded, out, [0, 1], mode="interpolate", interpolation={**INTERPOLATION, "space": "x"})
    for crossover, message in (("banana", "not a crossover name"), (0, "out of range"), (6, "out of range"),
                               ("middle", "no such styles")):
        with pytest.raises(ValueError, match=message):
            write(loaded, out, [0, 1], style_mix={"crossover": crossover})
    with pytest.raises(ValueError, match="col_seeds.*mode=style_mix"):
        write(loaded, out, [0, 1], mode="grid", col_seeds=[2, 3])
    assert not out.exists()


# ---------------------------------------------------------------------------------------------------- (e) truncation
def test_truncation_psi_acts_in_w_space_for_stylegan(loaded, tmp_path):
    seeds = [0, 1, 2, 3]
    g = loaded.generator
    at_mean = image_of(loaded, g.w_avg.expand(g.num_ws, -1))
    frames = render_frames(loaded, Render(layout="grid", seeds=seeds, truncation_psi=0.0))
    assert all(np.array_equal(frame, at_mean) for frame in frames)  # psi 0: the mean w's image for every seed
    assert all(np.array_equal(frame, at_mean) for frame in to_uint8(seed_images(loaded, seeds, truncation_psi=0.0))
               .permute(0, 2, 3, 1).numpy())  # the notebook-facing helper draws the same
    untruncated = render_frames(loaded, Render(layout="grid", seeds=seeds, truncation_psi=1.0))
    assert not np.array_equal(untruncated[0], at_mean) and not np.array_equal(untruncated[0], untruncated[1])
    with torch.no_grad():  # z-space psi 0 (z = 0) would give G(0), a different image
        at_zero_z = to_uint8(g(torch.zeros(1, loaded.latent_dim))).permute(0, 2, 3, 1)[0].numpy()
    assert not np.array_equal(at_mean, at_zero_z)
    halfway = render_frames(loaded, Render(layout="grid", seeds=seeds, truncation_psi=0.5))
    for seed, frame in zip(seeds, halfway, strict=True):
        w = g.w_avg + 0.5 * (own_w(loaded, seed) - g.w_avg)
        assert np.abs(frame.astype(int) - image_of(loaded, w.expand(g.num_ws, -1)).astype(int)).max() <= 1
    # gan-sample records the space; the style-mixing grid truncates too: every cell is the mean image
    write(loaded, tmp_path, [0, 1], mode="grid", truncation_psi=0.0)
    assert read_provenance(tmp_path / "grid.png")["render"]["truncation_space"] == "w"
    write(loaded, tmp_path, [0, 1], col_seeds=[2, 3], truncation_psi=0.0)
    grid = png(tmp_path / "style_mix.png")
    assert all(np.array_equal(cell(grid, r, c), at_mean) for r in range(3) for c in range(3) if (r, c) != (0, 0))


def test_truncation_psi_stays_in_z_space_for_generators_without_w(dcgan):
    assert mixing.truncation_space(dcgan.generator, 0.5) == "z"
    assert mixing.truncation_space(dcgan.generator, None) is None
    z, _ = latents_for_seeds([3], dcgan.latent_dim, 0)
    with torch.no_grad():
        expected = to_uint8(dcgan.generator(0.5 * z)).permute(0, 2, 3, 1)[0].numpy()
    assert np.array_equal(plain(dcgan, 3, truncation_psi=0.5), expected)


def test_interpolation_in_w_space_walks_straight_between_the_keyframes_w(loaded, tmp_path):
    written = write(loaded, tmp_path, [0, 1], mode="interpolate", interpolation={**INTERPOLATION, "space": "w"})
    assert [p.name for p in written] == ["interpolation.png"]
    strip = png(tmp_path / "interpolation.png")
    # steps=2, no loop: w0, (w0 + w1) / 2, w1, tiled `steps` per row
    frames = [cell(strip, i // 2, i % 2) for i in range(3)]
    assert np.array_equal(frames[0], plain(loaded, 0)) and np.array_equal(frames[2], plain(loaded, 1))
    middle = image_of(loaded, ((own_w(loaded, 0) + own_w(loaded, 1)) / 2).expand(loaded.generator.num_ws, -1))
    assert np.abs(frames[1].astype(int) - middle.astype(int)).max() <= 1
    z_strip = render_frames(loaded, Render(layout="interpolation", seeds=[0, 1], interpolation={
        "steps": 2, "method": "lerp", "loop": False}))
    assert not np.array_equal(z_strip[1], frames[1])  # the z-space midpoint is another image
    record = read_provenance(tmp_path / "interpolation.png")["render"]["interpolation"]
    assert record["space"] == "w" and record["method"] == "lerp"
    assert np.array_equal(regenerate(tmp_path / "interpolation.png"), strip)


# ---------------------------------------------------------------------------------------------------- (f) provenance
def test_style_mix_png_records_its_settings_and_regenerates_bit_for_bit(loaded, tmp_path):
    write(loaded, tmp_path, [0, 1, 2], col_seeds=[5, 9], truncation_psi=0.7, truncation=1.5, batch_size=3,
          upscale=2, style_mix={"crossover": 4})
    path = tmp_path / "style_mix.png"
    record = read_provenance(path)
    spec = record["render"]
    assert spec["layout"] == "style_mix" and spec["seeds"] == [0, 1, 2]
    assert spec["style_mix"] == {"col_seeds": [5, 9], "crossover": 4, "crossover_index": 4}
    assert spec["truncation_psi"] == 0.7 and spec["truncation_space"] == "w" and spec["truncation"] == 1.5
    assert record["checkpoint_sha256"] == loaded.sha256
    with Image.open(path) as image:
        command = image.text[KEY_REGENERATE]
        assert "column seeds 5,9" in image.text["Description"]
    for part in ("mode=style_mix", "seeds=[0-2]", "col_seeds=[5,9]", "style_mix.crossover=4", "truncation_psi=0.7",
                 "upscale=2", "batch_size=3"):
        assert part in command.split(), part
    assert np.array_equal(regenerate(path), png(path))


# ---------------------------------------------------------------------------------------------------- (g) the CLI
def gan_sample(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gan.cli.sample", *args], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})


def test_gan_sample_style_mix_end_to_end(run_dir, tmp_path):
    out = tmp_path / "a"
    done = gan_sample(f"ckpt={run_dir}", "mode=style_mix", "seeds=[0,1]", "col_seeds=[2,3,4]",
                      "style_mix.crossover=fine", "truncation_psi=0.5", f"out={out}")
    assert done.returncode == 0, done.stderr
    grid = png(out / "style_mix.png")
    assert grid.shape == (3 * (SIDE + PAD) + PAD, 4 * (SIDE + PAD) + PAD, 1)
    spec = read_provenance(out / "style_mix.png")["render"]
    assert spec["style_mix"] == {"col_seeds": [2, 3, 4], "crossover": "fine", "crossover_index": 3}
    assert spec["truncation_space"] == "w"
    assert np.array_equal(regenerate(out / "style_mix.png"), grid)
    loaded = load_generator(last_ckpt(run_dir))
    assert np.array_equal(cell(grid, 0, 1), plain(loaded, 2, truncation_psi=0.5))
    # the recorded command remakes the same file
    with Image.open(out / "style_mix.png") as image:
        command = shlex.split(image.text[KEY_REGENERATE])
    assert command[0] == "gan-sample"
    again = gan_sample(*command[1:], f"out={tmp_path / 'b'}")
    assert again.returncode == 0, again.stderr
    assert np.array_equal(png(tmp_path / "b" / "style_mix.png"), grid)
    bad = gan_sample(f"ckpt={run_dir}", "mode=style_mix", "seeds=[0,1]", "style_mix.crossover=middle",
                     f"out={tmp_path / 'c'}")
    assert bad.returncode == 2 and "style_mix.crossover=middle" in bad.stderr and "Traceback" not in bad.stderr

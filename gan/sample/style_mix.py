"""Style mixing and the other w-space tools of gan-sample, for style-based generators (model=stylegan).

A style-based G draws an image in two steps: `G.map(z, y, psi)` -> ws (N, num_ws, w_dim), one intermediate latent w
per layer (the same w for all of them), then `G.synthesis(ws, noise_mode)` -> images. Layer i acts at the side
`G.ws_resolutions[i]` (coarse 4 ... fine R), so giving the early layers one seed's w and the later ones another's mixes
the two images' styles: the coarse layers set pose and shape, the fine ones texture and colour (Karras et al. 2019,
Fig. 3).

The style-mixing grid (`gan-sample mode=style_mix`, style_mix.png), the classic figure:

    [blank]  col_0      col_1      ...        first row: the column seeds' own images
    row_0    (0, 0)     (0, 1)     ...        first column: the row seeds' own images
    row_1    (1, 0)     ...                   cell (r, c): ws[:k] from row seed r, ws[k:] from column seed c

The crossover index k comes from `style_mix.crossover`, a name or an index into ws (CROSSOVER_RULES):
- coarse: the first index whose side is > 8: the row seed gives only the 4x4 and 8x8 styles, the column the rest;
- middle: the first index whose side is > 16: the row seed gives the styles up to 16x16, the column 32x32 and up;
- fine: the first index whose side is the output resolution: the column seed gives only the finest styles;
- an integer k in 1 .. num_ws - 1.
Truncation (psi) applies in w space, towards the tracked mean `G.w_avg`, before mixing. Noise is the fixed per-layer
buffers (noise_mode="const", G's eval mode), so a cell is a pure function of its two seeds.

The other w-space tools: truncation in w space for the grid, per-class and interpolation layouts (`WTruncated` makes
G(z, y) truncate its w, so those layouts keep the one generation recipe of gan.sample.generate), and interpolation
between keyframes' ws (`map_in_batches`, `synthesize_in_batches`). Generators without a w space (DCGAN, ResNet) are
refused with a message that names the fix.

render.py calls this module for the "style_mix" layout and the w-space routes (imported inside its functions: this
module builds on render's latents and grids).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from gan.data.pixels import UINT8_MAX
from gan.sample import render as _render
from gan.sample.generate import evaluating
from gan.train.checkpoints import LoadedGenerator

STYLE_MIX_NAME = "style_mix.png"
# Noise of every layer in gan-sample's w-space images: the fixed buffers, as G(z) in eval mode uses.
NOISE_MODE = "const"
# crossover name -> (what the column seed gives, the rule on the side s of ws index i; the crossover is the first i
# where it holds). None as the bound means "the output resolution" (the last entry of ws_resolutions).
CROSSOVER_RULES: dict[str, tuple[str, str, int | None]] = {
    "coarse": ("everything above 8x8 (the row seed gives the 4x4 and 8x8 styles)", ">", 8),
    "middle": ("32x32 and finer (the row seed gives the styles up to 16x16)", ">", 16),
    "fine": ("only the styles at the output resolution", "==", None),
}
SPACES = ("z", "w")


# ---------------------------------------------------------------------------------------------------- w space
def has_w_space(generator: nn.Module) -> bool:
    """Whether G is style-based: `map` (z -> ws), `synthesis` (ws -> images), `num_ws` and `ws_resolutions`."""
    return all(hasattr(generator, name) for name in ("map", "synthesis", "num_ws", "ws_resolutions"))


def require_w_space(generator: nn.Module, what: str) -> None:
    if not has_w_space(generator):
        raise ValueError(f"{what} works in the intermediate latent space w of a style-based generator (model=stylegan: "
                         f"G.map and G.synthesis); this checkpoint's generator is {type(generator).__name__}, which "
                         "draws images from z directly. Use a StyleGAN checkpoint, or for this one mode=grid or "
                         "mode=interpolate with interpolation.space=z")


def truncation_space(generator: nn.Module, truncation_psi: float | None) -> str | None:
    """Where truncation_psi acts: "w" (towards G.w_avg) for style-based G, "z" (towards 0) for the others; None
    without psi."""
    if truncation_psi is None:
        return None
    return "w" if has_w_space(generator) else "z"


def check_space(space: str, generator: nn.Module, what: str) -> None:
    if space not in SPACES:
        raise ValueError(f"{what}={space!r}: choose z (the Gaussian latent) or w (a style-based G's mapped latent)")
    if space == "w":
        require_w_space(generator, f"{what}=w")


class WTruncated(nn.Module):
    """G(z, y) with `truncation_psi` applied in w space (G's own argument): lets generate_in_batches, which calls
    G(z, y), draw w-truncated images. Takes G's train/eval mode, so restoring the wrapper's mode restores G's."""

    def __init__(self, generator: nn.Module, truncation_psi: float):
        super().__init__()
        self.generator = generator
        self.truncation_psi = truncation_psi
        self.train(generator.training)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        return self.generator(z, y, truncation_psi=self.truncation_psi)


def map_in_batches(generator: nn.Module, z: Tensor, y: Tensor | None, truncation_psi: float | None,
                   batch_size: int) -> Tensor:
    """ws = G.map(z, y, psi) in chunks of `batch_size`, (N, num_ws, w_dim) on the CPU (psi None: no truncation)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    psi = 1.0 if truncation_psi is None else truncation_psi
    with evaluating(generator) as device:
        chunks = [generator.map(z[i:i + batch_size].to(device), None if y is None else y[i:i + batch_size].to(device),
                                truncation_psi=psi).cpu() for i in range(0, len(z), batch_size)]
    return torch.cat(chunks)


def synthesize_in_batches(generator: nn.Module, ws: Tensor, batch_size: int) -> Tensor:
    """Images G.synthesis(ws, "const") in chunks of `batch_size`, float on the CPU in G's output range."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    with evaluating(generator) as device:
        chunks = [generator.synthesis(ws[i:i + batch_size].to(device), NOISE_MODE).float().cpu()
                  for i in range(0, len(ws), batch_size)]
    return torch.cat(chunks)


# ---------------------------------------------------------------------------------------------------- crossover
def crossover_index(crossover: str | int, ws_resolutions: Sequence[int], key: str = "style_mix.crossover") -> int:
    """The ws index from which the column seed's w is used: a name of CROSSOVER_RULES (by the sides in
    `ws_resolutions`, the generator's) or an integer in 1 .. num_ws - 1. Also gan-project's restyling crossover
    (`key` names the setting in errors)."""
    num_ws = len(ws_resolutions)
    valid = (f"choose coarse, middle or fine, or an index 1..{num_ws - 1} into this generator's {num_ws} styles "
             f"(their sides: {list(ws_resolutions)})")
    if isinstance(crossover, str) and crossover.strip().isdigit():
        crossover = int(crossover)
    if isinstance(crossover, bool) or not isinstance(crossover, int | str):
        raise ValueError(f"{key}={crossover!r}: {valid}")
    if isinstance(crossover, int):
        if not 1 <= crossover <= num_ws - 1:
            raise ValueError(f"{key}={crossover} is out of range: each image needs at least one style "
                             f"from each seed, so {valid}")
        return crossover
    if crossover not in CROSSOVER_RULES:
        raise ValueError(f"{key}={crossover!r} is not a crossover name: {valid}")
    gives, relation, bound = CROSSOVER_RULES[crossover]
    side = ws_resolutions[-1] if bound is None else bound
    for index, resolution in enumerate(ws_resolutions):
        if (resolution > side) if relation == ">" else (resolution == side):
            if 1 <= index <= num_ws - 1:
                return index
            break
    raise ValueError(f"{key}={crossover}: the column seed would give {gives}, but this generator "
                     f"(output {ws_resolutions[-1]}x{ws_resolutions[-1]}) has no such styles; {valid}")


def mix_ws(row_ws: Tensor, col_ws: Tensor, index: int) -> Tensor:
    """Every (row, column) pair mixed: (R, num_ws, D) and (C, num_ws, D) -> (R, C, num_ws, D) with the row's ws before
    `index` and the column's from `index` on."""
    rows, cols = len(row_ws), len(col_ws)
    head = row_ws[:, None, :index].expand(rows, cols, -1, -1)
    tail = col_ws[None, :, index:].expand(rows, cols, -1, -1)
    return torch.cat([head, tail], dim=2)


# ---------------------------------------------------------------------------------------------------- the grid
def style_mix_settings(generator: nn.Module, col_seeds: Sequence[int], crossover: str | int) -> dict[str, Any]:
    """The `style_mix` entry of a Render (what the PNG records): column seeds, crossover name and its index; refuses
    generators without a w space and bad crossovers."""
    require_w_space(generator, "mode=style_mix")
    index = crossover_index(crossover, generator.ws_resolutions)
    return {"col_seeds": [int(seed) for seed in col_seeds], "crossover": crossover, "crossover_index": index}


def style_mix_images(loaded: LoadedGenerator, spec: Any) -> tuple[Tensor, Tensor, Tensor]:
    """(row images (R, ...), column images (C, ...), cells (R, C, ...)) of a "style_mix" Render, float in G's range.

    Each seed's latent comes from the per-seed recipe (render.latents_for_seeds, with the BigGAN threshold and class
    if set); z-space psi scales z, w-space psi truncates in G.map. The recorded crossover index must be the one the
    generator gives now."""
    generator = loaded.generator
    require_w_space(generator, "mode=style_mix")
    settings = spec.style_mix
    index = crossover_index(settings["crossover"], generator.ws_resolutions)
    if settings.get("crossover_index", index) != index:
        raise ValueError(f"style_mix.crossover={settings['crossover']} gives index {index} on this generator, but the "
                         f"image was made with index {settings['crossover_index']}")
    z_psi, w_psi = _render.split_truncation(loaded, spec)

    def ws_of(seeds: Sequence[int]) -> Tensor:
        z, y = _render.latents_for_seeds(seeds, loaded.latent_dim, loaded.num_classes, spec.truncation,
                                         spec.class_label, truncation_psi=z_psi)
        return map_in_batches(generator, z, y, w_psi, spec.batch_size)

    row_ws, col_ws = ws_of(spec.seeds), ws_of(settings["col_seeds"])
    mixed = mix_ws(row_ws, col_ws, index)
    cells = synthesize_in_batches(generator, mixed.flatten(0, 1), spec.batch_size)
    return (synthesize_in_batches(generator, row_ws, spec.batch_size),
            synthesize_in_batches(generator, col_ws, spec.batch_size),
            cells.unflatten(0, mixed.shape[:2]))


def style_mix_frames(loaded: LoadedGenerator, spec: Any) -> np.ndarray:
    """The grid's (R + 1) x (C + 1) cells, row-major, (N, H, W, C) uint8: a blank (pad_value) cell, the column images,
    then per row seed its image and its mixes. Tiled with nrow = C + 1 they make style_mix.png."""
    rows, cols, cells = style_mix_images(loaded, spec)
    rows, cols = _render.to_uint8_hwc(rows).numpy(), _render.to_uint8_hwc(cols).numpy()
    cells = _render.to_uint8_hwc(cells.flatten(0, 1)).numpy().reshape(len(rows), len(cols), *rows.shape[1:])
    blank = np.full_like(rows[:1], round(spec.pad_value * UINT8_MAX))
    frames = [blank, cols] + [np.concatenate([rows[r:r + 1], cells[r]]) for r in range(len(rows))]
    return np.concatenate(frames)


# ---------------------------------------------------------------------------------------------------- w interpolation
def interpolation_ws(loaded: LoadedGenerator, z: Tensor, y: Tensor | None, w_psi: float | None, steps: int,
                     loop: bool, batch_size: int) -> Tensor:
    """The ws (frames, num_ws, D) of an interpolation in w space: the keyframes' w (truncated if w_psi), joined by
    straight lines (w is not Gaussian: no great circle to keep to)."""
    generator = loaded.generator
    require_w_space(generator, "interpolation.space=w")
    keyframes = map_in_batches(generator, z, y, w_psi, batch_size)[:, 0]
    path = _render.interpolation_path(keyframes, steps, "lerp", loop)
    return path[:, None].expand(-1, generator.num_ws, -1)

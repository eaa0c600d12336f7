"""Images from a trained generator: seeds, truncation, class labels, grids, per-class grids, latent interpolation,
style-mixing grids, provenance.

One image per seed: image i comes from seed i alone (its own `torch.Generator` on the CPU), so a seed gives the same
latent on any machine and the same image whatever else is in the batch. Every PNG records in its text chunks what
made it (checkpoint hash, seeds, truncation, class, layout, the model config) and that it is generated; `regenerate`
rebuilds the pixels from that record alone.

Style-based generators (model=stylegan, gan.sample.style_mix) have an intermediate latent w: their truncation_psi acts
in w space (towards G.w_avg) rather than on z, interpolation can run in w (interpolation.space=w), and mode=style_mix
draws the style-mixing grid. The record says which space truncation used (render.truncation_space).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from torch import Tensor

import gan
from gan.data.pixels import UINT8_MAX, to_uint8
from gan.sample.generate import generate_in_batches
from gan.sample.progress import with_progress
from gan.sample.scatter import scatter_pixels
from gan.train.checkpoints import CheckpointError, LoadedGenerator, load_generator

# The recipe seed -> (z, y) below; bump it if the recipe ever changes, so old images say how they were made.
LATENT_RECIPE = "per-seed torch.Generator(cpu).manual_seed(seed): z = randn(1, latent_dim), y = randint(num_classes) " \
                "if conditional, then truncation by resampling |z_i| > t from the same generator"
LATENT_RECIPE_VERSION = 1
# PNG text keys. "Software" and "Description" are registered PNG keywords; the rest are this project's.
KEY_PROVENANCE = "gan:provenance"
KEY_MODEL_CONFIG = "gan:model_config"
KEY_GENERATED = "gan:generated"
KEY_REGENERATE = "gan:regenerate"
# IPTC's term for media made by a trained model (what content-credential tools look for).
KEY_SOURCE_TYPE = "DigitalSourceType"
IPTC_TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
SINGLE_NAME = "seed_{seed:06d}.png"
GRID_NAME = "grid.png"
SCATTER_NAME, POINTS_NAME = "scatter.png", "points.{suffix}"
INTERPOLATION_NAME = "interpolation"
CLASSES_NAME = "classes.png"
MODES = ("grid", "classes", "interpolate", "style_mix")
# The human-readable Description names this many seeds and hash characters (the full record is in gan:provenance).
DESCRIPTION_SEEDS = 8
DESCRIPTION_HASH_CHARS = 16
# gan-sample shows a progress line from this many images on, updated about PROGRESS_UPDATES times
PROGRESS_MIN_IMAGES = 2000
PROGRESS_UPDATES = 20
# pixels of the caption strip above a training grid (PIL's built-in font is 11 pixels high)
CAPTION_HEIGHT = 12


# ---------------------------------------------------------------------------------------------------- seeds
def parse_seeds(spec: str | int | Sequence[int | str]) -> list[int]:
    """`"0-63"` -> 0..63, `"1,5,9"` or `[1, 5, 9]` -> those, `7` -> [7]; ranges and lists mix (`"0-3,10"`)."""
    if isinstance(spec, bool):
        raise ValueError(f"seeds={spec!r}: expected seeds like 0-63, [1,5,9] or 7")
    if isinstance(spec, int):
        parts: list[str] = [str(spec)]
    elif isinstance(spec, str):
        parts = [p.strip() for p in spec.split(",")]
    else:
        parts = [str(p).strip() for p in spec]
    seeds: list[int] = []
    for part in parts:
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not match:
            raise ValueError(f"seeds={spec!r}: {part!r} is not a seed (a non-negative integer) or a range a-b; "
                             "write e.g. seeds=0-63, seeds=[1,5,9] or seeds=7")
        first, last = int(match.group(1)), int(match.group(2) or match.group(1))
        if last < first:
            raise ValueError(f"seeds={spec!r}: range {part} runs backwards; write {last}-{first}")
        seeds.extend(range(first, last + 1))
    if not seeds:
        raise ValueError(f"seeds={spec!r} names no seeds")
    return seeds


def resolve_seeds(n: int | None, seeds: Any, default_n: int) -> list[int]:
    """The seeds to draw: `seeds` if given, else 0..n-1, else 0..default_n-1."""
    if n is not None and seeds is not None:
        raise ValueError(f"n={n} and seeds={seeds} are both set; give one (n=K means seeds 0..K-1)")
    if seeds is not None:
        return parse_seeds(seeds)
    count = default_n if n is None else n
    if count < 1:
        raise ValueError(f"n={count}: ask for at least one image")
    return list(range(count))


# ---------------------------------------------------------------------------------------------------- latents
def truncate(z: Tensor, threshold: float, generator: torch.Generator) -> Tensor:
    """BigGAN's truncation trick: redraw every component with |z_i| > threshold until none is left.

    Smaller thresholds trade variety for typicality. Redrawing (rather than clipping) keeps the distribution a
    truncated normal; it ends with probability 1 and takes about 1 / P(|z| <= threshold) rounds.
    """
    if threshold <= 0:
        raise ValueError(f"truncation={threshold}: must be > 0 (or null for no truncation)")
    z = z.clone()
    outside = z.abs() > threshold
    while outside.any():
        z[outside] = torch.randn(int(outside.sum()), generator=generator)
        outside = z.abs() > threshold
    return z


def check_truncation_psi(truncation_psi: float | None) -> None:
    if truncation_psi is not None and not 0 <= truncation_psi <= 1:
        raise ValueError(f"truncation_psi={truncation_psi}: must be in [0, 1] (1: none, 0: the mean latent)")


def latents_for_seeds(seeds: Sequence[int], latent_dim: int, num_classes: int, truncation: float | None = None,
                      class_label: int | None = None,
                      truncation_psi: float | None = None) -> tuple[Tensor, Tensor | None]:
    """(z, y) with row i drawn from seeds[i] alone (see LATENT_RECIPE); on the CPU.

    Two truncations, named apart because they read differently: `truncation` is BigGAN's threshold (components above
    it are redrawn: 0.5 is strong), `truncation_psi` is StyleGAN's interpolation towards the mean latent (z' = mean +
    psi (z - mean), with mean 0 for N(0, I): psi 1 is no truncation, 0 the mean image for every seed).
    """
    check_truncation_psi(truncation_psi)
    if class_label is not None:
        if not num_classes:
            raise ValueError(f"class={class_label} but this generator is unconditional; leave class=null")
        if not 0 <= class_label < num_classes:
            raise ValueError(f"class={class_label} is outside 0..{num_classes - 1} (the generator has "
                             f"{num_classes} classes)")
    zs, ys = [], []
    for seed in seeds:
        rng = torch.Generator().manual_seed(int(seed))
        z = torch.randn(1, latent_dim, generator=rng)
        # Drawn before truncation, so an image's class does not depend on the truncation setting.
        y = torch.randint(num_classes, (1,), generator=rng) if num_classes else None
        if truncation is not None:
            z = truncate(z, truncation, rng)
        if truncation_psi is not None:
            z = truncation_psi * z  # towards the mean latent, which is 0 for z ~ N(0, I)
        if class_label is not None:
            y = torch.full((1,), class_label, dtype=torch.long)
        zs.append(z)
        ys.append(y)
    return torch.cat(zs), (torch.cat(ys) if num_classes else None)


def slerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """Spherical interpolation between latent rows a and b (broadcast over t, shape (T,)).

    Gaussian latents concentrate near a sphere; straight lines between two of them pass through the low-norm interior
    G rarely saw in training, while the great circle keeps a typical norm (White 2016). Falls back to a straight line
    when a and b are (anti)parallel and the circle is undefined.
    """
    a_unit, b_unit = a / a.norm(), b / b.norm()
    omega = torch.arccos((a_unit * b_unit).sum().clamp(-1.0, 1.0))
    sin_omega = torch.sin(omega)
    t = t[:, None]
    if sin_omega.abs() < torch.finfo(a.dtype).eps:
        return lerp(a, b, t[:, 0])
    return (torch.sin((1 - t) * omega) / sin_omega) * a + (torch.sin(t * omega) / sin_omega) * b


def lerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    t = t[:, None]
    return (1 - t) * a + t * b


INTERPOLATIONS = {"slerp": slerp, "lerp": lerp}


def interpolation_path(keyframes: Tensor, steps: int, method: str, loop: bool) -> Tensor:
    """`steps` frames from each keyframe towards the next (the next keyframe starts the next segment); with `loop`
    the last keyframe leads back to the first (a seamless GIF), else the last keyframe closes the path."""
    if method not in INTERPOLATIONS:
        raise ValueError(f"interpolation.method={method!r}: choose from {sorted(INTERPOLATIONS)}")
    if steps < 1:
        raise ValueError(f"interpolation.steps={steps}: need at least 1 frame per keyframe pair")
    if len(keyframes) < 2:
        raise ValueError(f"interpolation needs at least 2 keyframe seeds, got {len(keyframes)}; e.g. seeds=[0,1,2]")
    targets = list(range(1, len(keyframes))) + ([0] if loop else [])
    t = torch.arange(steps, dtype=keyframes.dtype) / steps
    frames = [INTERPOLATIONS[method](keyframes[target - 1], keyframes[target], t) for target in targets]
    if not loop:
        frames.append(keyframes[-1:])
    return torch.cat(frames)


# ---------------------------------------------------------------------------------------------------- images
def generate(loaded: LoadedGenerator, z: Tensor, y: Tensor | None, batch_size: int,
             truncation_psi: float | None = None) -> Tensor:
    """G_ema(z, y) in batches, returned on the CPU in [-1, 1]. From PROGRESS_MIN_IMAGES images on, a progress line
    goes to stderr; the work is split into whole batches, so the pixels are those of one call. `truncation_psi`:
    truncation in w space, for style-based generators (G's own argument); z-space psi is applied to z beforehand."""
    generator = loaded.generator
    if truncation_psi is not None:
        from gan.sample.style_mix import WTruncated, require_w_space

        check_truncation_psi(truncation_psi)
        require_w_space(generator, "truncation in w space")
        generator = WTruncated(generator, truncation_psi)

    def run(start: int, stop: int) -> Tensor:
        piece_y = None if y is None else y[start:stop]
        return generate_in_batches(generator, z[start:stop], piece_y, batch_size).float().cpu()

    if len(z) < PROGRESS_MIN_IMAGES:
        return run(0, len(z))
    piece = batch_size * max(1, len(z) // (PROGRESS_UPDATES * batch_size))  # a multiple of batch_size
    counted = with_progress(lambda n, start: run(start, start + n), len(z), "gan-sample")
    return torch.cat([counted(min(piece, len(z) - start), start) for start in range(0, len(z), piece)])


def to_uint8_hwc(images: Tensor) -> Tensor:
    """(N, C, H, W) in [-1, 1] -> (N, H, W, C) uint8, the layout image files use."""
    return to_uint8(images).permute(0, 2, 3, 1)


def _upscaled(pixels: np.ndarray, upscale: int) -> np.ndarray:
    if upscale < 1:
        raise ValueError(f"upscale={upscale}: must be a positive integer (1 keeps the generator's resolution)")
    return pixels.repeat(upscale, axis=-3).repeat(upscale, axis=-2) if upscale > 1 else pixels


def check_grid(nrow: int, padding: int, count: int, side: int) -> None:
    """Before any image is generated: a grid.png of `count` images of `side` pixels that can be written and opened."""
    if nrow < 1 or padding < 0:
        raise ValueError(f"grid.nrow={nrow}, grid.padding={padding}: nrow must be >= 1 (images per row) and padding "
                         ">= 0")
    height, width, _ = _grid_layout(count, nrow, side, side, padding)
    pixels = height * width
    if Image.MAX_IMAGE_PIXELS and pixels > Image.MAX_IMAGE_PIXELS:
        raise ValueError(f"a grid of {count} images would be {pixels / 1e6:.0f} megapixels, over the "
                         f"{Image.MAX_IMAGE_PIXELS / 1e6:.0f} that image viewers and PIL open; draw fewer seeds, or "
                         "write one PNG per seed instead: individual=true grid.save=false")


def _grid_layout(count: int, nrow: int, h: int, w: int, padding: int) -> tuple[int, int, int]:
    """(height, width, columns) of a grid of `count` h x w images, `nrow` per row, `padding` around each."""
    cols = min(nrow, count)
    rows = math.ceil(count / cols)
    return rows * (h + padding) + padding, cols * (w + padding) + padding, cols


def grid_pixels(pixels: np.ndarray, nrow: int, padding: int, pad_value: float, upscale: int) -> np.ndarray:
    """Tiles (N, H, W, C) uint8 images `nrow` per row with `padding` pixels of `pad_value` (0 black .. 1 white)."""
    pixels = _upscaled(pixels, upscale)
    n, h, w, c = pixels.shape
    height, width, cols = _grid_layout(n, nrow, h, w, padding)
    fill = round(pad_value * UINT8_MAX)
    canvas = np.full((height, width, c), fill, dtype=np.uint8)
    for i in range(n):
        top, left = padding + (i // cols) * (h + padding), padding + (i % cols) * (w + padding)
        canvas[top:top + h, left:left + w] = pixels[i]
    return canvas


def with_caption(pixels: np.ndarray, text: str, height: int = CAPTION_HEIGHT) -> np.ndarray:
    """(H, W, C) uint8 with a `height`-pixel white strip on top holding `text` in black (PIL's built-in font)."""
    from PIL import ImageDraw

    strip = Image.new("L", (pixels.shape[1], height), color=UINT8_MAX)
    ImageDraw.Draw(strip).text((2, 1), text, fill=0)
    caption = np.repeat(np.asarray(strip)[..., None], pixels.shape[2], axis=2)
    return np.concatenate([caption, pixels], axis=0)


def _pil(pixels: np.ndarray) -> Image.Image:
    # uint8 (H, W) becomes mode "L" (grayscale), (H, W, 3) mode "RGB"
    return Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)


# ---------------------------------------------------------------------------------------------------- layouts
@dataclass
class Render:
    """Everything that turns a generator into one image file; stored in the PNG, replayed by `regenerate`."""

    # "single", "grid", "classes" (row k: class k, or latent code k), "interpolation", "style_mix" or "scatter" (2D
    # toy points)
    layout: str
    seeds: list[int]  # for "style_mix": the row seeds
    truncation: float | None = None
    truncation_psi: float | None = None
    # where truncation_psi acted: "w" (towards G.w_avg, style-based G) or "z" (towards 0); None: by the generator
    truncation_space: str | None = None
    class_label: int | None = None
    upscale: int = 1
    nrow: int | None = None
    padding: int = 0
    pad_value: float = 0.0
    interpolation: dict[str, Any] = field(default_factory=dict)  # steps, method, loop, space (z if absent)
    style_mix: dict[str, Any] = field(default_factory=dict)  # col_seeds, crossover (name or index), crossover_index
    # Images per forward pass. Batched matrix products can differ in the last float bit with the batch size, so
    # regeneration replays the same batching; with 1, every image is bit-independent of the others.
    batch_size: int = 1


def class_grid_inputs(seeds: Sequence[int], latent_dim: int, num_classes: int, truncation: float | None = None,
                      truncation_psi: float | None = None) -> tuple[Tensor, Tensor]:
    """(z, y) of the per-class grid, class-major: row k is class k, column j seed j with the same z in every row
    (a seed's latent is drawn before its label, so forcing the class leaves z unchanged)."""
    _check_class_grid(num_classes, None)
    rows = [latents_for_seeds(seeds, latent_dim, num_classes, truncation, class_label=k,
                              truncation_psi=truncation_psi) for k in range(num_classes)]
    return torch.cat([z for z, _ in rows]), torch.cat([y for _, y in rows])


def code_grid_inputs(seeds: Sequence[int], latent_dim: int, codes: int, truncation: float | None = None,
                     truncation_psi: float | None = None) -> Tensor:
    """z of the per-code grid of a generator with latent codes (model.latent_codes), code-major: row k has code k.

    A latent's code is the argmax of its first `codes` entries (gan.nets.dcgan.latent_code); row k swaps that largest
    entry into place k. The swap permutes i.i.d. entries, so each row is a draw of z given code k, and a column keeps
    one seed's values throughout."""
    z, _ = latents_for_seeds(seeds, latent_dim, 0, truncation, truncation_psi=truncation_psi)
    seed_rows, largest = torch.arange(len(z)), z[:, :codes].argmax(dim=1)
    rows = []
    for k in range(codes):
        row = z.clone()
        row[:, k], row[seed_rows, largest] = z[seed_rows, largest], z[:, k]
        rows.append(row)
    return torch.cat(rows)


def _check_class_grid(num_classes: int, class_label: int | None, codes: int = 0,
                      truncation_psi: float | None = None) -> None:
    if not num_classes and not codes:
        raise ValueError("mode=classes draws one row per class (or per latent code) and needs a class-conditional "
                         "generator (model.num_classes > 0) or one with latent codes (model.latent_codes > 0); this "
                         "checkpoint's generator has neither: use mode=grid")
    if class_label is not None:
        one_class = " (or use mode=grid class=K for one class)" if num_classes else ""
        raise ValueError(f"class={class_label} with mode=classes: the per-class grid draws every class; leave "
                         f"class=null{one_class}")
    if not num_classes and truncation_psi == 0:
        raise ValueError("truncation_psi=0 with mode=classes on a generator with latent codes: every latent becomes "
                         "0, whose code is 0, so no row could show its own code; use a psi above 0")


def render_frames(loaded: LoadedGenerator, spec: Render) -> np.ndarray:
    """The (N, H, W, C) uint8 images of `spec`: one per seed, one per (class, seed) for the per-class grid, or the
    frames of an interpolation through the seeds."""
    from gan.sample import style_mix

    if spec.layout == "style_mix":
        return style_mix.style_mix_frames(loaded, spec)
    z_psi, w_psi = split_truncation(loaded, spec)
    if spec.layout == "classes":
        _check_class_grid(loaded.num_classes, spec.class_label, loaded.latent_codes, z_psi)
        if loaded.num_classes:
            z, y = class_grid_inputs(spec.seeds, loaded.latent_dim, loaded.num_classes, spec.truncation, z_psi)
        else:
            z, y = code_grid_inputs(spec.seeds, loaded.latent_dim, loaded.latent_codes, spec.truncation, z_psi), None
        return to_uint8_hwc(generate(loaded, z, y, spec.batch_size, w_psi)).numpy()
    z, y = latents_for_seeds(spec.seeds, loaded.latent_dim, loaded.num_classes, spec.truncation, spec.class_label,
                             truncation_psi=z_psi)
    if spec.layout == "interpolation":
        inter = spec.interpolation
        # One class for the whole path (the first keyframe's), so only the latent moves.
        y = None if y is None else y[:1].expand(len(z))
        if inter.get("space", "z") == "w":
            ws = style_mix.interpolation_ws(loaded, z, y, w_psi, inter["steps"], inter["loop"], spec.batch_size)
            return to_uint8_hwc(style_mix.synthesize_in_batches(loaded.generator, ws, spec.batch_size)).numpy()
        z = interpolation_path(z, inter["steps"], inter["method"], inter["loop"])
        y = None if y is None else y[:1].expand(len(z))
    return to_uint8_hwc(generate(loaded, z, y, spec.batch_size, w_psi)).numpy()


def split_truncation(loaded: LoadedGenerator, spec: Render) -> tuple[float | None, float | None]:
    """(psi applied to z, psi applied in w) for `spec`: one of them is spec.truncation_psi, by the recorded space or,
    if none is recorded, the generator's (w for style-based G)."""
    from gan.sample.style_mix import check_space, truncation_space

    if spec.truncation_psi is None:
        return None, None
    check_truncation_psi(spec.truncation_psi)
    space = spec.truncation_space or truncation_space(loaded.generator, spec.truncation_psi)
    check_space(space, loaded.generator, "truncation_space")
    return (spec.truncation_psi, None) if space == "z" else (None, spec.truncation_psi)


def seed_images(loaded: LoadedGenerator, seeds: Sequence[int], truncation: float | None = None,
                class_label: int | None = None, truncation_psi: float | None = None, batch_size: int = 1) -> Tensor:
    """(N, C, H, W) float images of `seeds` in [-1, 1], as gan-sample's grid draws them (psi in w space for
    style-based generators)."""
    spec = Render(layout="grid", seeds=list(seeds), truncation=truncation, truncation_psi=truncation_psi,
                  class_label=class_label, batch_size=batch_size)
    z_psi, w_psi = split_truncation(loaded, spec)
    z, y = latents_for_seeds(spec.seeds, loaded.latent_dim, loaded.num_classes, truncation, class_label,
                             truncation_psi=z_psi)
    return generate(loaded, z, y, batch_size, w_psi)


def render(loaded: LoadedGenerator, spec: Render) -> np.ndarray:
    frames = render_frames(loaded, spec)
    if spec.layout == "single":
        return _upscaled(frames, spec.upscale)[0]
    return grid_pixels(frames, spec.nrow or len(frames), spec.padding, spec.pad_value, spec.upscale)


# ---------------------------------------------------------------------------------------------------- provenance
def provenance(loaded: LoadedGenerator, spec: Render) -> dict[str, Any]:
    return {
        "generated": True,
        "generator": "G_ema",
        "checkpoint_path": str(loaded.path.resolve()),
        "checkpoint_sha256": loaded.sha256,
        "checkpoint_kind": loaded.kind,
        "source_checkpoint_sha256": loaded.source_sha256,
        "global_step": loaded.global_step,
        "g_steps": loaded.g_steps,
        "latent_recipe": LATENT_RECIPE,
        "latent_recipe_version": LATENT_RECIPE_VERSION,
        "render": asdict(spec),
        "gan_version": gan.__version__,
        "torch_version": torch.__version__,
    }


def format_seeds(seeds: Sequence[int]) -> str:
    """The inverse of parse_seeds, compact: [0, 1, 2, 3, 7] -> "[0-3,7]" (a Hydra list gan-sample accepts)."""
    runs: list[list[int]] = []
    for seed in seeds:
        if runs and seed == runs[-1][1] + 1:
            runs[-1][1] = seed
        else:
            runs.append([seed, seed])
    return "[" + ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs) + "]"


def regenerate_command(loaded: LoadedGenerator, spec: Render) -> str:
    seeds = format_seeds(spec.seeds)
    parts = [f"gan-sample ckpt={loaded.path.resolve()}", f"seeds={seeds}", f"truncation={_yaml(spec.truncation)}",
             f"truncation_psi={_yaml(spec.truncation_psi)}",
             f"class={_yaml(spec.class_label)}", f"upscale={spec.upscale}", f"batch_size={spec.batch_size}"]
    if spec.layout == "single":
        parts += ["grid.save=false", "individual=true"]
    elif spec.layout == "scatter":
        pass  # a toy checkpoint always writes its points and scatter plot
    elif spec.layout == "grid":
        parts += [f"grid.nrow={spec.nrow}", f"grid.padding={spec.padding}", f"grid.pad_value={spec.pad_value}",
                  "individual=false"]
    elif spec.layout == "classes":
        parts += ["mode=classes", f"grid.padding={spec.padding}", f"grid.pad_value={spec.pad_value}"]
    elif spec.layout == "style_mix":
        mix = spec.style_mix
        parts += ["mode=style_mix", f"col_seeds={format_seeds(mix['col_seeds'])}",
                  f"style_mix.crossover={mix['crossover']}", f"grid.padding={spec.padding}",
                  f"grid.pad_value={spec.pad_value}"]
    else:
        inter = spec.interpolation
        parts += ["mode=interpolate", f"interpolation.steps={inter['steps']}",
                  f"interpolation.method={inter['method']}", f"interpolation.loop={str(inter['loop']).lower()}",
                  f"interpolation.space={inter.get('space', 'z')}",
                  f"grid.padding={spec.padding}", f"grid.pad_value={spec.pad_value}"]
    return " ".join(parts)


def _yaml(value: Any) -> str:
    return "null" if value is None else str(value)


def provenance_info(software: str, description: str, record: dict[str, Any], regenerate: str | None,
                    model_config: Any) -> PngInfo:
    """The PNG text chunks every generated image carries: who wrote it, a human-readable description, the
    machine-readable record, the command that remakes it (when one does) and the model's config."""
    info = PngInfo()
    info.add_text("Software", software)
    info.add_text("Description", description)
    info.add_text(KEY_GENERATED, "true")
    info.add_text(KEY_SOURCE_TYPE, IPTC_TRAINED_ALGORITHMIC_MEDIA)
    info.add_text(KEY_PROVENANCE, json.dumps(record, sort_keys=True, default=str))
    if regenerate is not None:
        info.add_text(KEY_REGENERATE, regenerate)
    # The full training config can be long: compressed (zTXt).
    info.add_text(KEY_MODEL_CONFIG, json.dumps(model_config, sort_keys=True, default=str), zip=True)
    return info


def save_png(pixels: np.ndarray, path: Path, loaded: LoadedGenerator, spec: Render) -> Path:
    def listed(seeds: list[int]) -> str:
        return ",".join(map(str, seeds[:DESCRIPTION_SEEDS])) + ("..." if len(seeds) > DESCRIPTION_SEEDS else "")

    seeds = listed(spec.seeds)
    if spec.layout == "style_mix":
        seeds = (f"style mixing of row seeds {seeds} with column seeds {listed(spec.style_mix['col_seeds'])} from "
                 f"ws index {spec.style_mix['crossover_index']} ({spec.style_mix['crossover']})")
    psi = "" if spec.truncation_psi is None else f", truncation_psi {spec.truncation_psi}"
    psi += f" in {spec.truncation_space} space" if psi and spec.truncation_space else ""
    info = provenance_info(
        f"gan {gan.__version__} (gan-sample)",
        f"Synthetic image generated by a GAN (G_ema of checkpoint sha256 {loaded.sha256[:DESCRIPTION_HASH_CHARS]}..., "
        f"seeds {seeds}, truncation {spec.truncation}{psi}); not a photograph.",
        provenance(loaded, spec), regenerate_command(loaded, spec), loaded.config)
    path.parent.mkdir(parents=True, exist_ok=True)
    _pil(pixels).save(path, pnginfo=info)
    return path


def read_provenance(path: str | Path) -> dict[str, Any]:
    """The provenance record of a PNG written by gan-sample or gan-train; a clear error for other images."""
    with Image.open(path) as image:
        text = dict(getattr(image, "text", {}))
    if KEY_PROVENANCE not in text:
        raise ValueError(f"{path} has no {KEY_PROVENANCE} record: it was not written by gan-sample or gan-train")
    record = json.loads(text[KEY_PROVENANCE])
    record["model_config"] = json.loads(text[KEY_MODEL_CONFIG]) if KEY_MODEL_CONFIG in text else None
    return record


def regenerate(path: str | Path, checkpoint: str | Path | None = None, device: str = "cpu") -> np.ndarray:
    """Rebuild the pixels of a gan-sample PNG from its provenance record and its checkpoint (found at the recorded
    path unless `checkpoint` is given). Refuses a checkpoint whose hash differs from the recorded one."""
    record = read_provenance(path)
    source = Path(checkpoint) if checkpoint is not None else Path(record["checkpoint_path"])
    loaded = load_generator(source, device)
    if loaded.sha256 != record["checkpoint_sha256"]:
        raise CheckpointError(f"{source} has sha256 {loaded.sha256}, but {path} was generated from a checkpoint with "
                              f"sha256 {record['checkpoint_sha256']}: pass the original file (checkpoint=...)")
    if record["render"]["layout"] == "scatter":
        raise ValueError(f"{path} is a scatter plot of 2D points drawn by matplotlib, whose pixels are not a function "
                         "of the points alone; regenerate the points (points.npy beside it) with the command in its "
                         f"{KEY_REGENERATE} text field")
    return render(loaded, Render(**record["render"]))


def gif_upscale(height: int, upscale: int, min_size: int) -> int:
    """The nearest-neighbour factor of the GIF: `upscale`, raised until the frame is at least `min_size` pixels high
    (a 32x32 animation is a speck in a browser or viewer)."""
    return max(upscale, math.ceil(min_size / height)) if min_size > 0 else upscale


def save_gif(frames: np.ndarray, path: Path, frame_ms: int, loaded: LoadedGenerator, spec: Render,
             min_size: int = 0) -> Path:
    """An endlessly looping GIF of the frames; its comment carries the provenance (GIF has no key/value text)."""
    images = [_pil(frame) for frame in _upscaled(frames, gif_upscale(frames.shape[1], spec.upscale, min_size))]
    comment = json.dumps(provenance(loaded, spec), sort_keys=True)
    images[0].save(path, save_all=True, append_images=images[1:], duration=frame_ms, loop=0, comment=comment)
    return path


def sample_points(loaded: LoadedGenerator, out_dir: Path, spec: Render) -> list[Path]:
    """A toy (2D) generator: the points as points.npy and points.csv (seed, x, y) and a scatter.png over the modes."""
    from hydra.utils import instantiate

    z, y = latents_for_seeds(spec.seeds, loaded.latent_dim, loaded.num_classes, spec.truncation, spec.class_label,
                             truncation_psi=spec.truncation_psi)
    points = generate(loaded, z, y, spec.batch_size)
    np.save(out_dir / POINTS_NAME.format(suffix="npy"), points.numpy())
    with open(out_dir / POINTS_NAME.format(suffix="csv"), "w") as handle:
        handle.write("seed,x,y\n")
        handle.writelines(f"{seed},{x:.7g},{y_:.7g}\n" for seed, (x, y_) in zip(spec.seeds, points.tolist(),
                                                                                   strict=True))
    means = instantiate(loaded.config["data"]["dataset"])(split="train").means
    title = f"G_ema, global step {loaded.global_step}, {len(spec.seeds)} seeds"
    png = save_png(scatter_pixels(points, means, title), out_dir / SCATTER_NAME, loaded, spec)
    return [png, out_dir / POINTS_NAME.format(suffix="npy"), out_dir / POINTS_NAME.format(suffix="csv")]


# ---------------------------------------------------------------------------------------------------- orchestration
def sample_to_dir(loaded: LoadedGenerator, out_dir: Path, seeds: list[int], *, mode: str,
                  truncation: float | None, class_label: int | None, batch_size: int, upscale: int,
                  truncation_psi: float | None = None,
                  grid: dict[str, Any], individual: bool, interpolation: dict[str, Any],
                  col_seeds: Any = None, style_mix: dict[str, Any] | None = None) -> list[Path]:
    """Write the files gan-sample promises for `mode` (MODES); returns their paths. mode="style_mix": `seeds` are the
    rows, `col_seeds` (default: `seeds`) the columns, `style_mix["crossover"]` the crossover (gan.sample.style_mix)."""
    from gan.sample import style_mix as mixing

    # Refused before any file is written.
    if mode not in MODES:
        raise ValueError(f"mode={mode!r}: choose {', '.join(MODES[:-1])} or {MODES[-1]}")
    if mode == "classes":
        _check_class_grid(loaded.num_classes, class_label, loaded.latent_codes, truncation_psi)
    if col_seeds is not None and mode != "style_mix":
        raise ValueError(f"col_seeds={col_seeds} is for mode=style_mix (the grid's columns); leave it null with "
                         f"mode={mode}")
    mix_settings = {}
    if mode == "style_mix":
        columns = seeds if col_seeds is None else parse_seeds(col_seeds)
        mix_settings = mixing.style_mix_settings(loaded.generator, columns, (style_mix or {}).get("crossover"))
    space = interpolation.get("space", "z") if mode == "interpolate" else "z"
    mixing.check_space(space, loaded.generator, "interpolation.space")
    check_truncation_psi(truncation_psi)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    common = {"seeds": seeds, "truncation": truncation, "truncation_psi": truncation_psi, "class_label": class_label,
              "upscale": upscale, "truncation_space": mixing.truncation_space(loaded.generator, truncation_psi),
              "batch_size": batch_size}
    if loaded.config.get("data", {}).get("kind") == "points":
        return sample_points(loaded, out_dir, Render(layout="scatter", **common))
    if mode == "grid":
        if grid["save"]:
            side = int(loaded.config.get("data", {}).get("resolution") or 0) * max(int(upscale), 1)
            check_grid(int(grid["nrow"]), int(grid["padding"]), len(seeds), side)
            spec = Render(layout="grid", nrow=grid["nrow"], padding=grid["padding"], pad_value=grid["pad_value"],
                          **common)
            written.append(save_png(render(loaded, spec), out_dir / GRID_NAME, loaded, spec))
        if individual:
            frames = render_frames(loaded, Render(layout="grid", **common))
            for seed, frame in zip(seeds, frames, strict=True):
                spec = Render(layout="single", **{**common, "seeds": [seed]})
                written.append(save_png(_upscaled(frame[None], upscale)[0], out_dir / SINGLE_NAME.format(seed=seed),
                                        loaded, spec))
        if not written:
            raise ValueError("grid.save=false and individual=false: nothing to write; enable one of them")
        return written
    if mode == "classes":
        # One row per class, one column per seed: nrow is the number of seeds, whatever grid.nrow says.
        spec = Render(layout="classes", nrow=len(seeds), padding=grid["padding"], pad_value=grid["pad_value"],
                      **common)
        written.append(save_png(render(loaded, spec), out_dir / CLASSES_NAME, loaded, spec))
        return written
    if mode == "style_mix":
        spec = Render(layout="style_mix", nrow=len(mix_settings["col_seeds"]) + 1, padding=grid["padding"],
                      pad_value=grid["pad_value"], style_mix=mix_settings, **common)
        written.append(save_png(render(loaded, spec), out_dir / mixing.STYLE_MIX_NAME, loaded, spec))
        return written
    if mode == "interpolate":
        inter = {key: interpolation[key] for key in ("steps", "method", "loop")}
        # w is not Gaussian: straight lines between the keyframes' w (the record says so)
        inter.update(space=space, method="lerp" if space == "w" else inter["method"])
        spec = Render(layout="interpolation", nrow=inter["steps"], padding=grid["padding"],
                      pad_value=grid["pad_value"], interpolation=inter, **common)
        frames = render_frames(loaded, spec)
        pixels = grid_pixels(frames, spec.nrow, spec.padding, spec.pad_value, upscale)
        written.append(save_png(pixels, out_dir / f"{INTERPOLATION_NAME}.png", loaded, spec))
        if interpolation["gif"]:
            written.append(save_gif(frames, out_dir / f"{INTERPOLATION_NAME}.gif", interpolation["frame_ms"], loaded,
                                    spec, interpolation.get("gif_min_size", 0)))
        return written
    raise AssertionError(f"unhandled mode {mode!r}")

"""Projection of an image into a StyleGAN-lite generator's w space, and restyling of the projection.

The method is StyleGAN2's projector (Karras et al. 2020, appendix D), adapted to this project's offline feature net:

- Start from the mean w (`start=tracked`: the generator's tracked `w_avg`; `start=sampled`: the mean of
  `w_avg_samples` mapped latents) and optimise one w broadcast to every layer, or with `w_plus` one w per layer (w+:
  a closer fit, less on the generator's manifold, so restyling is less faithful to the model's own styles).
- Also optimise the per-layer noise maps (`optimize_noise`), re-drawn from N(0, 1) at the start and re-normalised to
  zero mean, unit variance after every step, with StyleGAN2's noise regularisation: the squared autocorrelation of
  every noise map at one-pixel shifts (horizontal and vertical), summed over a pyramid of 2x average-pooled copies
  down to 8x8, which keeps the optimiser from hiding the image in the noise. With `optimize_noise=false` only w
  moves and the generator's own fixed noise buffers (noise_mode "const") are used.
- Learning rate: `initial_lr` x a ramp: a cosine ramp-down over the last `lr_rampdown` fraction of the steps times a
  linear ramp-up over the first `lr_rampup` fraction (see `learning_rate`). Early on, Gaussian noise of scale
  `w_std x initial_noise_factor x max(0, 1 - t / noise_ramp)^2` (t: the fraction of steps done) is added to w, a
  stochastic search that fades out; w_std is the RMS distance of mapped latents from the start w.
- Loss: `content_weight` x content loss (mean squared difference of the shipped domain classifier's feature maps at
  `content_layers`, in place of StyleGAN2's LPIPS/VGG distance, which needs a download) + `pixel_weight` x pixel
  MSE + `style_weight` x style (Gram) loss at `style_layers` + `noise_regularize_weight` x the noise regulariser.

Restyling renders the projection (ws and noise maps) differently: with another generator of the same architecture
(`style_from`: a fine-tuned or blended model: the same image in the other model's style), and/or with the layers from
a crossover index on taking seed K's w (`style_seed`: the projected image's coarse structure, seed K's finer styles).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError
from torch import Tensor, nn

import gan
from gan.data.pixels import from_uint8
from gan.io import atomic_torch_save, file_sha256
from gan.losses import content_loss, pixel_loss, style_loss
from gan.metrics.feature_maps import ClassifierFeatures, load_feature_net
from gan.nets.stylegan import StyleLayer
from gan.sample.render import (
    DESCRIPTION_HASH_CHARS,
    grid_pixels,
    latents_for_seeds,
    provenance_info,
    to_uint8_hwc,
)
from gan.sample.style_mix import crossover_index, has_w_space
from gan.train.checkpoints import ArchitectureMismatchError, CheckpointError, LoadedGenerator, check_state_dict

# StyleGAN2's noise regulariser stops pooling the noise maps at this side
NOISE_REG_MIN_SIDE = 8
START_MODES = ("tracked", "sampled")
PROJECTION_NAME, TARGET_NAME, RESTYLED_NAME = "projection.png", "target.png", "restyled.png"
PROGRESS_NAME, W_NAME = "progress.png", "w.pt"
W_FORMAT = "gan-projection"
W_FORMAT_VERSION = 1


# ---------------------------------------------------------------------------------------------------- schedules
def learning_rate(step: int, num_steps: int, initial_lr: float, rampdown: float, rampup: float) -> float:
    """StyleGAN2's projector schedule at `step` of `num_steps` (t = step / num_steps):
    initial_lr x (1/2 - 1/2 cos(pi min(1, (1 - t) / rampdown))) x min(1, t / rampup)."""
    t = step / num_steps
    down = min(1.0, (1.0 - t) / rampdown) if rampdown > 0 else 1.0
    up = min(1.0, t / rampup) if rampup > 0 else 1.0
    return initial_lr * (0.5 - 0.5 * math.cos(down * math.pi)) * up


def w_noise_scale(step: int, num_steps: int, w_std: float, initial_noise_factor: float, noise_ramp: float) -> float:
    """Scale of the Gaussian noise added to w at `step`: w_std x factor x max(0, 1 - t / noise_ramp)^2."""
    t = step / num_steps
    return w_std * initial_noise_factor * max(0.0, 1.0 - t / noise_ramp) ** 2 if noise_ramp > 0 else 0.0


def noise_regularization(noise_maps: Sequence[Tensor]) -> Tensor:
    """StyleGAN2's noise regulariser: for every map and each of its 2x average-pooled copies down to 8x8, the squared
    mean product with itself shifted by one pixel, horizontally and vertically (circularly). Zero for white noise in
    expectation; large when the optimiser paints structure into a noise map."""
    total = noise_maps[0].new_zeros(())
    for noise in noise_maps:
        v = noise.reshape(1, 1, *noise.shape[-2:])
        while True:
            total = total + (v * torch.roll(v, shifts=1, dims=3)).mean() ** 2
            total = total + (v * torch.roll(v, shifts=1, dims=2)).mean() ** 2
            if v.shape[2] <= NOISE_REG_MIN_SIDE:
                break
            v = F.avg_pool2d(v, kernel_size=2)
    return total


# ---------------------------------------------------------------------------------------------------- the generator
def check_stylegan(loaded: LoadedGenerator, key: str = "ckpt") -> nn.Module:
    """The generator if it is a style-based one (w space, per-layer styles), else a clear error."""
    generator = loaded.generator
    if not has_w_space(generator):
        model = loaded.config.get("model", {}).get("name")
        raise CheckpointError(
            f"{key}={loaded.path}: its generator is {type(generator).__name__} (model={model}), which has no w space "
            "to project into; projection and restyling need a StyleGAN-lite model (model=stylegan)")
    return generator


def noise_buffers(generator: nn.Module) -> dict[str, Tensor]:
    """The fixed per-layer noise maps (noise_mode "const"), by module name."""
    return {name: module.noise_const for name, module in generator.synthesis.named_modules()
            if isinstance(module, StyleLayer)}


@contextmanager
def using_noise(generator: nn.Module, noise: Mapping[str, Tensor] | None) -> Iterator[None]:
    """Temporarily replace the generator's fixed noise maps by `noise` (by module name), so noise_mode "const" uses
    them; the originals are put back afterwards."""
    if not noise:
        yield
        return
    modules = dict(generator.synthesis.named_modules())
    mine = noise_buffers(generator)
    if set(noise) != set(mine) or any(tuple(noise[k].shape) != tuple(mine[k].shape) for k in mine):
        raise ValueError("the projection's noise maps do not fit this generator's layers (another architecture); "
                         "restyle with a generator of the projected model's architecture")
    try:
        for name, value in noise.items():
            modules[name].noise_const = value.to(mine[name].device)
        yield
    finally:
        for name, value in mine.items():
            modules[name].noise_const = value


def synthesize(generator: nn.Module, ws: Tensor, noise: Mapping[str, Tensor] | None = None) -> Tensor:
    """Images from styles `ws` (N, num_ws, w_dim) with the noise maps `noise` (None: the generator's own)."""
    with using_noise(generator, noise):
        return generator.synthesis(ws, "const")


# ---------------------------------------------------------------------------------------------------- features
# ---------------------------------------------------------------------------------------------------- projection
@dataclass
class Projection:
    """What projecting one image gives: the styles, the noise maps, the re-render and how the loss went."""

    ws: Tensor  # (1, num_ws, w_dim)
    noise: dict[str, Tensor]  # noise map per layer (module name); the generator's own when not optimised
    image: Tensor  # (1, C, H, W), the re-render synthesis(ws, noise), linear (not clamped)
    history: list[dict[str, float]]  # per step: total, content, pixel, style, noise_reg, lr
    progress: list[tuple[int, Tensor]] = field(default_factory=list)  # (step, re-render) every progress_every steps


def _start(generator: nn.Module, start: str, samples: int, rng: torch.Generator) -> tuple[Tensor, float]:
    """The start w (1, w_dim) and w_std, the RMS distance of `samples` mapped latents from it."""
    if start not in START_MODES:
        raise ValueError(f"start={start!r}: choose from {START_MODES}")
    if samples < 1:
        raise ValueError(f"w_avg_samples={samples}: need at least one latent to estimate the spread of w")
    device = generator.w_avg.device
    z = torch.randn(samples, generator.latent_dim, generator=rng).to(device)
    num_classes = getattr(generator, "num_classes", 0)
    y = torch.randint(num_classes, (samples,), generator=rng).to(device) if num_classes else None
    with torch.no_grad():
        w = generator.map(z, y)[:, 0]
    w_start = generator.w_avg[None].clone() if start == "tracked" else w.mean(dim=0, keepdim=True)
    return w_start, float((w - w_start).square().sum(dim=1).mean().sqrt())


def project(generator: nn.Module, target: Tensor, feature_net: ClassifierFeatures, *, steps: int, w_plus: bool,
            optimize_noise: bool, initial_lr: float, lr_rampdown: float, lr_rampup: float,
            initial_noise_factor: float, noise_ramp: float, noise_regularize_weight: float, content_weight: float,
            content_layers: Sequence[str], pixel_weight: float, style_weight: float = 0.0,
            style_layers: Sequence[str] = (), start: str = "tracked", w_avg_samples: int = 10000,
            progress_every: int = 0, seed: int = 0) -> Projection:
    """Find ws (and noise maps) whose re-render matches `target` (1, C, H, W) in [-1, 1]; see the module docstring.

    Deterministic on the CPU from `seed` (the noise-map initialisation and the w noise). The generator is left as it
    was (its noise buffers are swapped only during each forward)."""
    synthesis = generator.synthesis
    if target.dim() != 4 or target.shape[0] != 1:
        raise ValueError(f"project takes one target image (1, C, H, W), got {tuple(target.shape)}")
    if steps < 1:
        raise ValueError(f"steps={steps}: need at least one optimisation step")
    if content_weight and not content_layers:
        raise ValueError("content_weight > 0 needs content_layers (e.g. [conv2, conv3])")
    if style_weight and not style_layers:
        raise ValueError("style_weight > 0 needs style_layers (e.g. [conv1, conv2])")
    if "features" in style_layers:
        raise ValueError("style_layers: 'features' is a vector, not a feature map; a Gram matrix needs conv layers")
    device = generator.w_avg.device
    rng = torch.Generator().manual_seed(seed)
    w_start, w_std = _start(generator, start, w_avg_samples, rng)
    w_opt = (w_start[:, None].repeat(1, synthesis.num_ws, 1) if w_plus else w_start[:, None]).clone()
    w_opt.requires_grad_(True)
    own = noise_buffers(generator)
    if optimize_noise:
        noise = {name: torch.randn(buf.shape, generator=rng).to(device).requires_grad_(True)
                 for name, buf in own.items()}
    else:
        noise = {name: buf.clone() for name, buf in own.items()}
    params = [w_opt] + (list(noise.values()) if optimize_noise else [])
    optimizer = torch.optim.Adam(params, betas=(0.9, 0.999), lr=initial_lr)

    target = target.to(device)
    layers = list(dict.fromkeys([*content_layers, *style_layers]))
    with torch.no_grad():
        target_features = feature_net(target, layers) if layers else {}

    def render(ws: Tensor) -> Tensor:
        return synthesize(generator, ws.expand(-1, synthesis.num_ws, -1), noise)

    history: list[dict[str, float]] = []
    progress: list[tuple[int, Tensor]] = []
    for step in range(steps):
        lr = learning_rate(step, steps, initial_lr, lr_rampdown, lr_rampup)
        for group in optimizer.param_groups:
            group["lr"] = lr
        scale = w_noise_scale(step, steps, w_std, initial_noise_factor, noise_ramp)
        w_noise = torch.randn(w_opt.shape, generator=rng).to(device) * scale
        images = render(w_opt + w_noise)
        features = feature_net(images, layers) if layers else {}
        terms = {"content": content_loss([features[k] for k in content_layers],
                                         [target_features[k] for k in content_layers]) if content_weight else None,
                 "pixel": pixel_loss(images, target) if pixel_weight else None,
                 "style": style_loss([features[k] for k in style_layers],
                                     [target_features[k] for k in style_layers]) if style_weight else None,
                 "noise_reg": noise_regularization(list(noise.values())) if optimize_noise else None}
        weights = {"content": content_weight, "pixel": pixel_weight, "style": style_weight,
                   "noise_reg": noise_regularize_weight}
        loss = sum(weights[k] * v for k, v in terms.items() if v is not None and weights[k])
        if not torch.is_tensor(loss):
            raise ValueError("every loss weight is 0: set content_weight, pixel_weight or style_weight > 0")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if optimize_noise:
            with torch.no_grad():  # StyleGAN2: keep every noise map at zero mean, unit variance
                for buf in noise.values():
                    buf -= buf.mean()
                    buf *= buf.square().mean().rsqrt()
        history.append({"total": float(loss.detach()), "lr": lr,
                        **{k: float(v.detach()) for k, v in terms.items() if v is not None}})
        if progress_every and (step % progress_every == 0 or step == steps - 1):
            with torch.no_grad():
                progress.append((step, render(w_opt).detach().cpu()))
    with torch.no_grad():
        ws = w_opt.detach().expand(-1, synthesis.num_ws, -1).clone()
        final_noise = {name: buf.detach().clone() for name, buf in noise.items()}
        image = synthesize(generator, ws, final_noise)
    return Projection(ws=ws, noise=final_noise, image=image, history=history, progress=progress)


def restyle(generator: nn.Module, projection: Projection, *, style_from: nn.Module | None = None,
            style_seed: int | None = None, crossover: str | int = "coarse",
            style_truncation_psi: float = 1.0) -> Tensor:
    """The projection rendered another way: the ws from the crossover index on replaced by seed `style_seed`'s w of
    `generator` (if given), then rendered by `style_from`'s synthesis (if given, else `generator`'s) with the
    projection's noise maps."""
    if style_from is None and style_seed is None:
        raise ValueError("restyle needs style_from (another generator of the same architecture) and/or style_seed")
    ws = projection.ws
    if style_seed is not None:
        index = crossover_index(crossover, generator.ws_resolutions, key="crossover")
        z, y = latents_for_seeds([style_seed], generator.latent_dim, getattr(generator, "num_classes", 0))
        device = ws.device
        with torch.no_grad():
            w_seed = generator.map(z.to(device), None if y is None else y.to(device), style_truncation_psi)
        ws = torch.cat([ws[:, :index], w_seed[:, index:]], dim=1)
    renderer = style_from if style_from is not None else generator
    if renderer.num_ws != ws.shape[1] or renderer.w_dim != ws.shape[2]:
        raise ValueError(f"style_from has {renderer.num_ws} ws of {renderer.w_dim} dims, the projection "
                         f"{ws.shape[1]} of {ws.shape[2]}: restyle with a generator of the same architecture")
    with torch.no_grad():
        return synthesize(renderer, ws.to(renderer.w_avg.device), projection.noise)


# ---------------------------------------------------------------------------------------------------- files
def read_target(path: str | Path, channels: int, resolution: int) -> Tensor:
    """An image file as (1, channels, resolution, resolution) in [-1, 1]: converted to gray or RGB, resized (Lanczos)
    to the generator's side."""
    path = Path(path).expanduser()
    if not path.is_file():
        hint = " (it is a directory: pass one image file)" if path.is_dir() else ""
        raise FileNotFoundError(f"image={path}: no such file{hint}; pass a PNG/JPEG image to project")
    try:
        with Image.open(path) as image:
            image = image.convert("L" if channels == 1 else "RGB")
            if image.size != (resolution, resolution):
                image = image.resize((resolution, resolution), Image.Resampling.LANCZOS)
            pixels = np.array(image, dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as error:
        raise ValueError(f"image={path} is not a readable image ({type(error).__name__}: {error}); pass a PNG or "
                         "JPEG file") from error
    if channels not in (1, 3):
        raise ValueError(f"the generator makes {channels}-channel images; projection reads gray (1) or RGB (3)")
    pixels = pixels[..., None] if pixels.ndim == 2 else pixels
    return from_uint8(pixels).permute(2, 0, 1)[None].contiguous()


def psnr(image: Tensor, target: Tensor) -> float:
    """Peak signal-to-noise ratio in dB of two images in [-1, 1] (peak-to-peak 2), both clamped to that range first
    (what their image files hold)."""
    mse = float((image.clamp(-1, 1) - target.clamp(-1, 1)).square().mean())
    return float("inf") if mse == 0 else 10 * math.log10(4.0 / mse)


def _pixels(image: Tensor) -> np.ndarray:
    return to_uint8_hwc(image.detach().float().cpu()).numpy()[0]


def _save(pixels: np.ndarray, path: Path, description: str, record: dict[str, Any], regenerate: str | None,
          config: Any) -> Path:
    info = provenance_info(f"gan {gan.__version__} (gan-project)", description, record, regenerate, config)
    Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).save(path, pnginfo=info)
    return path


def project_to_dir(loaded: LoadedGenerator, image_path: str | Path, out_dir: Path, settings: Mapping[str, Any],
                   style_from: LoadedGenerator | None = None, style_seed: int | None = None,
                   crossover: str | int = "coarse", style_truncation_psi: float = 1.0,
                   command: str | None = None) -> tuple[Projection, list[Path]]:
    """Project `image_path` with `loaded`'s G_ema and write target.png, projection.png, progress.png, w.pt and
    (with style_from / style_seed) restyled.png into `out_dir`. `settings`: conf/project.yaml's `projection` group
    plus `features`."""
    generator = check_stylegan(loaded)
    if style_from is not None:
        check_stylegan(style_from, "style_from")
        _check_same_architecture(loaded, style_from)
    resolution, channels = generator.ws_resolutions[-1], _channels(generator)
    target = read_target(image_path, channels, resolution)
    feature_net = load_feature_net(settings["features"]["classifier"], resolution).to(generator.w_avg.device)
    options = {k: v for k, v in settings.items() if k not in ("features", "progress")}
    projection = project(generator, target, feature_net, content_layers=list(settings["features"]["content_layers"]),
                         style_layers=list(settings["features"]["style_layers"]),
                         progress_every=settings["progress"]["every"], **options)
    out_dir.mkdir(parents=True, exist_ok=True)
    image_sha = file_sha256(Path(image_path))
    record = {"generated": True, "generator": "G_ema", "checkpoint_path": str(loaded.path.resolve()),
              "checkpoint_sha256": loaded.sha256, "checkpoint_kind": loaded.kind,
              "source_checkpoint_sha256": loaded.source_sha256, "global_step": loaded.global_step,
              "target_path": str(Path(image_path).resolve()), "target_sha256": image_sha,
              "projection": _plain(settings), "feature_net": feature_net.name,
              "gan_version": gan.__version__, "torch_version": torch.__version__}
    short = loaded.sha256[:DESCRIPTION_HASH_CHARS]
    written = [
        _save(_pixels(target), out_dir / TARGET_NAME, f"The target image {image_path} as projected (gray/RGB, "
              f"{resolution}x{resolution}); a photograph or drawing, not generated.",
              {**record, "generated": False, "image": "target"}, None, loaded.config),
        _save(_pixels(projection.image), out_dir / PROJECTION_NAME,
              f"Synthetic image: the re-render of {image_path} projected into the w space of G_ema of checkpoint "
              f"sha256 {short}...; not a photograph.", {**record, "image": "projection"}, command, loaded.config),
    ]
    if projection.progress:
        frames = np.stack([_pixels(image) for _, image in projection.progress])
        pixels = grid_pixels(frames, len(frames), settings["progress"]["padding"], settings["progress"]["pad_value"], 1)
        steps = [step for step, _ in projection.progress]
        written.append(_save(pixels, out_dir / PROGRESS_NAME, f"Synthetic images: the re-render at steps {steps} of "
                             f"projecting {image_path}; not photographs.", {**record, "image": "progress",
                                                                             "steps": steps}, command, loaded.config))
    payload = {"format": W_FORMAT, "format_version": W_FORMAT_VERSION, "ws": projection.ws.cpu(),
               "noise": {k: v.cpu() for k, v in projection.noise.items()},
               "ws_resolutions": list(generator.ws_resolutions), "checkpoint_sha256": loaded.sha256,
               "checkpoint_path": str(loaded.path.resolve()), "target_sha256": image_sha,
               "settings": _plain(settings), "final_pixel_mse": _mse(projection.image, target),
               "final_psnr": psnr(projection.image, target.to(projection.image.device))}
    atomic_torch_save(payload, out_dir / W_NAME)
    written.append(out_dir / W_NAME)
    if style_from is not None or style_seed is not None:
        restyled = restyle(generator, projection, style_from=None if style_from is None else style_from.generator,
                           style_seed=style_seed, crossover=crossover, style_truncation_psi=style_truncation_psi)
        how = {"style_from_path": None if style_from is None else str(style_from.path.resolve()),
               "style_from_sha256": None if style_from is None else style_from.sha256, "style_seed": style_seed,
               "crossover": crossover if style_seed is not None else None,
               "style_truncation_psi": style_truncation_psi}
        written.append(_save(_pixels(restyled), out_dir / RESTYLED_NAME,
                             f"Synthetic image: the projection of {image_path} restyled ({how}); not a photograph.",
                             {**record, "image": "restyled", "restyle": how}, command, loaded.config))
    return projection, written


def _check_same_architecture(loaded: LoadedGenerator, other: LoadedGenerator) -> None:
    """The state-dict comparison that resume and init_from use (gan.train.checkpoints.check_state_dict), worded for
    style_from."""
    try:
        check_state_dict(loaded.generator.state_dict(), other.generator.state_dict(), path=other.path,
                         found_config=other.config, expected_config=loaded.config)
    except ArchitectureMismatchError as error:
        raise ValueError(f"style_from={other.path} is a StyleGAN-lite of another architecture; restyling renders the "
                         "projected ws and noise maps with its layers, so it needs the projected model's architecture "
                         f"(a fine-tuned or blended copy of it).\n{error}") from error


def _channels(generator: nn.Module) -> int:
    return int(next(iter(generator.synthesis.blocks.values())).torgb.weight.shape[0])


def _mse(image: Tensor, target: Tensor) -> float:
    return float((image.clamp(-1, 1).cpu() - target.cpu()).square().mean())


def _plain(value: Any) -> Any:
    """A config (OmegaConf or dict) as plain dicts and lists, for JSON and torch.save(weights_only)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) or type(value).__name__ == "ListConfig":
        return [_plain(v) for v in value]
    return value

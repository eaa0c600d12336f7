"""The notebook API: `gan.load(path)` -> a model that draws images, in three lines.

    import gan
    model = gan.load("outputs/digits_dcgan_hinge/<time>")        # a run directory, a .ckpt or an export
    images = model.generate(seeds=range(16), truncation=None)   # (16, C, H, W) float tensor in [-1, 1]
    model.to_pil(images)[0]                                     # PIL images, for display

Seed i gives the same image as `gan-sample ckpt=... seeds=[i]` (the same per-seed latent recipe and G_ema).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from PIL import Image
from torch import Tensor

from gan.data.pixels import to_uint8
from gan.sample.render import parse_seeds, seed_images
from gan.train.checkpoints import LoadedGenerator, load_generator, resolve_checkpoint_path

# Images per generator forward pass.
DEFAULT_BATCH_SIZE = 256


@dataclass
class Model:
    """G_ema of a checkpoint, ready to draw from. `loaded` keeps where it came from (path, sha256, step, config)."""

    loaded: LoadedGenerator

    @property
    def config(self) -> dict:
        return self.loaded.config

    @property
    def num_classes(self) -> int:
        return self.loaded.num_classes

    @torch.no_grad()
    def generate(self, seeds: Iterable[int] | str | int = range(16), truncation: float | None = None,
                 class_: int | None = None, batch_size: int = DEFAULT_BATCH_SIZE,
                 truncation_psi: float | None = None) -> Tensor:
        """Images for `seeds` (a list, a range, or "0-15"), float (N, C, H, W) in [-1, 1] on the CPU.

        `truncation`: BigGAN's threshold (components of z beyond it are redrawn; None: no truncation).
        `truncation_psi`: StyleGAN's psi, towards the mean latent (1: none, 0: the mean image): in w space for
        style-based generators (model=stylegan), in z space for the others, as gan-sample. `class_`: the class of
        every image, for class-conditional models (None: each seed draws its own).
        """
        seed_list = parse_seeds(seeds if isinstance(seeds, str | int) else list(seeds))
        return seed_images(self.loaded, seed_list, truncation, class_, truncation_psi, batch_size).cpu()

    @staticmethod
    def to_pil(images: Tensor) -> list[Image.Image]:
        """Images in [-1, 1] (N, C, H, W) -> PIL images (grayscale or RGB)."""
        pixels = to_uint8(images).permute(0, 2, 3, 1).numpy()
        return [Image.fromarray(p[..., 0] if p.shape[-1] == 1 else p) for p in pixels]


def load(path: str | os.PathLike, device: str | torch.device = "cpu", which: str = "last") -> Model:
    """G_ema from a run directory (its checkpoints/last.ckpt, or best.ckpt with which="best"), a training checkpoint
    or an export."""
    return Model(load_generator(resolve_checkpoint_path(path, "path", which), device))

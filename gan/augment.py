"""DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training").

With few training images, D memorises them and G stops learning. DiffAugment applies the same family of random
transformations to real and fake images before D, in both the D and the G updates. Every transformation is
differentiable in its input, so G receives gradients through it; D never sees an un-augmented image, so the
augmentations do not leak into what G generates.

Three groups, as in the paper: color (brightness, saturation, contrast), translation (integer shifts with zero
padding), cutout (a zeroed square at a random place). Parameters are drawn per sample from torch's RNG on the images'
device (the training module runs steps inside its own RNG stream, so runs stay reproducible and resumable).
Images are (N, C, H, W) in [-1, 1]; the strengths come from conf/augment/diffaugment.yaml.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

POLICIES = ("color", "translation", "cutout")


def _uniform(shape: tuple[int, ...], low: float, high: float, like: Tensor,
             generator: torch.Generator | None) -> Tensor:
    return low + (high - low) * torch.rand(shape, generator=generator, device=like.device, dtype=like.dtype)


def _randint(low: int, high_inclusive: int, n: int, like: Tensor, generator: torch.Generator | None) -> Tensor:
    """n integers uniform in [low, high_inclusive], on the images' device."""
    return torch.randint(low, high_inclusive + 1, (n,), generator=generator, device=like.device)


class DiffAugment:
    """Differentiable augmentation applied to D's inputs. `policy` picks groups from ("color", "translation",
    "cutout"), applied in that order.

    brightness: the added shift is uniform in [-brightness, brightness) (paper: 0.5).
    saturation: the colour spread around each pixel's channel mean is scaled by a factor uniform in
        [1 - saturation, 1 + saturation) (paper: 1.0, i.e. [0, 2)); no effect on one-channel images.
    contrast: the spread around each image's mean is scaled by a factor uniform in [1 - contrast, 1 + contrast)
        (paper: 0.5).
    translation: each image moves by whole pixels, up to this fraction of its size in each direction (paper: 0.125);
        uncovered pixels are 0.
    cutout: a square of this fraction of the image size (paper: 0.5), centred at a uniform pixel, is set to 0 (clipped
        at the borders).
    """

    def __init__(self, policy: Sequence[str], brightness: float, saturation: float, contrast: float,
                 translation: float, cutout: float):
        unknown = [name for name in policy if name not in POLICIES]
        if unknown:
            raise ValueError(f"unknown DiffAugment policy {unknown}; choose from {list(POLICIES)} "
                             "(augment.transform.policy)")
        for name, value, upper in (("brightness", brightness, None), ("saturation", saturation, 1.0),
                                   ("contrast", contrast, 1.0), ("translation", translation, 1.0),
                                   ("cutout", cutout, 1.0)):
            if value < 0 or (upper is not None and value > upper):
                bound = f"[0, {upper}]" if upper is not None else ">= 0"
                raise ValueError(f"augment.transform.{name} must be {bound}, got {value}")
        self.policy = tuple(policy)
        self.brightness, self.saturation, self.contrast = brightness, saturation, contrast
        self.translation_ratio, self.cutout_ratio = translation, cutout

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        if x.dim() != 4:  # toy 2D points and other non-images pass through: none of the groups applies to them
            return x
        for name in self.policy:
            x = getattr(self, name)(x, generator)
        return x

    def __repr__(self) -> str:
        return (f"DiffAugment(policy={list(self.policy)}, brightness={self.brightness}, saturation={self.saturation}, "
                f"contrast={self.contrast}, translation={self.translation_ratio}, cutout={self.cutout_ratio})")

    # ------------------------------------------------------------------------------------------------ groups
    def color(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        n = x.shape[0]
        x = x + _uniform((n, 1, 1, 1), -self.brightness, self.brightness, x, generator)
        channel_mean = x.mean(dim=1, keepdim=True)
        x = channel_mean + (x - channel_mean) * _uniform((n, 1, 1, 1), 1 - self.saturation, 1 + self.saturation, x,
                                                         generator)
        image_mean = x.mean(dim=(1, 2, 3), keepdim=True)
        return image_mean + (x - image_mean) * _uniform((n, 1, 1, 1), 1 - self.contrast, 1 + self.contrast, x,
                                                        generator)

    def translation(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        n, _, h, w = x.shape
        max_dy, max_dx = round(h * self.translation_ratio), round(w * self.translation_ratio)
        if max_dy == 0 and max_dx == 0:
            return x
        dy = _randint(-max_dy, max_dy, n, x, generator)
        dx = _randint(-max_dx, max_dx, n, x, generator)
        # Output pixel (i, j) of image b reads input pixel (i - dy_b, j - dx_b); in the zero-padded input that is
        # (i - dy_b + max_dy, j - dx_b + max_dx). Indexing is differentiable in x (gradients scatter back).
        padded = F.pad(x, (max_dx, max_dx, max_dy, max_dy))
        rows = torch.arange(h, device=x.device)[None, :] - dy[:, None] + max_dy  # (n, h)
        cols = torch.arange(w, device=x.device)[None, :] - dx[:, None] + max_dx  # (n, w)
        batch = torch.arange(n, device=x.device)[:, None, None]
        shifted = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # (n, h, w, c)
        return shifted.permute(0, 3, 1, 2).contiguous(memory_format=_memory_format(x))

    def cutout(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        n, _, h, w = x.shape
        size_h, size_w = round(h * self.cutout_ratio), round(w * self.cutout_ratio)
        if size_h == 0 or size_w == 0:
            return x
        cy = _randint(0, h - 1, n, x, generator)
        cx = _randint(0, w - 1, n, x, generator)
        top, left = cy - size_h // 2, cx - size_w // 2
        rows = torch.arange(h, device=x.device)[None, :]
        cols = torch.arange(w, device=x.device)[None, :]
        inside_rows = (rows >= top[:, None]) & (rows < top[:, None] + size_h)  # (n, h)
        inside_cols = (cols >= left[:, None]) & (cols < left[:, None] + size_w)  # (n, w)
        keep = ~(inside_rows[:, :, None] & inside_cols[:, None, :])
        return x * keep[:, None].to(x.dtype)


def _memory_format(x: Tensor) -> torch.memory_format:
    return torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous() \
        else torch.contiguous_format

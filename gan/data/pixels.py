"""The pixel convention of the whole project: images are float tensors in [-1, 1]; files hold 8-bit levels.

Datasets map 8-bit files into [-1, 1] with `from_uint8`; rendering and the Inception extractor map back with
`to_uint8`. One pair, so a generated image written to a PNG and read back as data lands on the same values.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

UINT8_MAX = 255


def to_uint8(images: Tensor) -> Tensor:
    """Images in [-1, 1] (any shape) -> uint8 levels in [0, 255], clamped, rounding to the nearest level."""
    return ((images.float().clamp(-1, 1) + 1) * (UINT8_MAX / 2)).round().to(torch.uint8)


def from_uint8(pixels: np.ndarray | Tensor) -> Tensor:
    """8-bit levels (any shape, any integer or float dtype holding 0..255) -> float32 in [-1, 1]."""
    values = torch.as_tensor(np.asarray(pixels) if not isinstance(pixels, Tensor) else pixels).float()
    return values / UINT8_MAX * 2 - 1

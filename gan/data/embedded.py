"""Datasets bundled with installed packages, so training works offline on a fresh machine.

- digits: scikit-learn's 8x8 handwritten digits (1797 images, 10 classes), upsampled.
- textures: random crops of scikit-image's brick, grass and gravel photographs (a small "style" set).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from gan.data.base import ImageDataset
from gan.data.pixels import UINT8_MAX

SPLITS = ("train", "test")


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")


def split_indices(n: int, split: str, test_fraction: float, split_seed: int) -> np.ndarray:
    """Deterministic disjoint train/test index sets over range(n)."""
    _check_split(split)
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    order = np.random.default_rng(split_seed).permutation(n)
    n_test = int(round(n * test_fraction))
    return np.sort(order[:n_test] if split == "test" else order[n_test:])


class DigitsDataset(ImageDataset):
    """sklearn handwritten digits in [-1, 1], 1 channel, bilinearly upsampled from 8x8 to `resolution`."""

    channels = 1
    num_classes = 10
    source_resolution = 8

    def __init__(self, resolution: int, split: str = "train", test_fraction: float = 0.2, split_seed: int = 0):
        from sklearn.datasets import load_digits

        if resolution < self.source_resolution:
            raise ValueError(f"digits resolution must be >= {self.source_resolution}, got {resolution}")
        bunch = load_digits()
        idx = split_indices(len(bunch.target), split, test_fraction, split_seed)
        pixels = torch.from_numpy(bunch.images[idx]).float() / bunch.images.max()  # [0, 1]
        pixels = F.interpolate(pixels[:, None], size=(resolution, resolution), mode="bilinear", align_corners=False)
        self.images = pixels.clamp(0, 1) * 2 - 1
        self.labels = torch.from_numpy(bunch.target[idx]).long()
        self.resolution = resolution
        self.split = split
        self.fingerprint = f"digits-r{resolution}-{split}-tf{test_fraction}-s{split_seed}"

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[i], self.labels[i]


class TexturesDataset(ImageDataset):
    """Random square crops of grayscale skimage textures; the label is the texture's index in `names`.

    Train and test crops come from disjoint halves of each photograph (left/right), so the test split is
    a fair reference for FID.
    """

    channels = 1

    def __init__(
        self,
        resolution: int,
        names: list[str],
        crops_per_texture: int,
        crop_size: int,
        split: str = "train",
        seed: int = 0,
    ):
        from skimage import data as skdata

        _check_split(split)
        if crop_size < resolution:
            raise ValueError(f"crop_size ({crop_size}) must be >= resolution ({resolution})")
        rng = np.random.default_rng(seed + (0 if split == "train" else 1))
        crops, labels = [], []
        for label, name in enumerate(names):
            loader = getattr(skdata, name, None)
            if loader is None:
                raise ValueError(f"skimage.data has no image {name!r}; try brick, grass or gravel")
            image = np.asarray(loader(), dtype=np.float32)
            if image.ndim == 3:  # colour photographs become grayscale so every texture has one channel
                image = image[..., :3].mean(axis=-1)
            image = image / UINT8_MAX
            half = image.shape[1] // 2
            region = image[:, :half] if split == "train" else image[:, half:]
            if region.shape[0] < crop_size or region.shape[1] < crop_size:
                raise ValueError(f"texture {name!r} half-image {region.shape} is smaller than crop_size {crop_size}")
            for _ in range(crops_per_texture):
                top = rng.integers(0, region.shape[0] - crop_size + 1)
                left = rng.integers(0, region.shape[1] - crop_size + 1)
                crops.append(region[top : top + crop_size, left : left + crop_size])
                labels.append(label)
        pixels = torch.from_numpy(np.stack(crops))[:, None]
        if crop_size != resolution:
            pixels = F.interpolate(pixels, size=(resolution, resolution), mode="area")
        self.images = pixels.clamp(0, 1) * 2 - 1
        self.labels = torch.tensor(labels, dtype=torch.long)
        self.num_classes = len(names)
        self.resolution = resolution
        self.split = split
        self.fingerprint = (
            f"textures-{'+'.join(names)}-r{resolution}-c{crop_size}-n{crops_per_texture}-{split}-s{seed}"
        )

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[i], self.labels[i]

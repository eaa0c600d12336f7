"""Small stand-ins for the metrics tests: a feature extractor that counts its calls, a fingerprinted dataset."""

from __future__ import annotations

import torch
from torch import Tensor

from gan.data.base import ImageDataset
from gan.metrics.extractors import FeatureExtractor

SIDE = 4  # images are 1 x SIDE x SIDE, features their SIDE^2 pixels


class FlattenExtractor(FeatureExtractor):
    """Features = the pixels; logits = the pixels too (so IS has something to work on). Counts images seen."""

    num_features = SIDE * SIDE
    num_logits = SIDE * SIDE

    def __init__(self, weights_sha256: str = "0" * 64):
        super().__init__()
        self.name = "flatten"
        self.weights_sha256 = weights_sha256
        self.images_seen = 0

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        self.images_seen += len(images)
        flat = images.flatten(1).float()
        return flat, flat


def images_from_seed(n: int, seed: int, shift: float = 0.0) -> Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, SIDE, SIDE, generator=generator) * 0.5 + shift


class TinyImages(ImageDataset):
    channels = 1
    resolution = SIDE
    num_classes = 0

    def __init__(self, n: int, seed: int = 0, fingerprint: str = "tiny-train"):
        self.images = images_from_seed(n, seed)
        self.fingerprint = fingerprint

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        return self.images[i], torch.tensor(-1)

"""Small stand-ins for the metrics tests: a feature extractor that counts its calls, broken extractors, a fingerprinted
dataset, and a random-weights Inception whose batch norms are calibrated so that its features vary."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

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


class BrokenExtractor(FlattenExtractor):
    """A broken extractor: `constant` maps every image to one vector; otherwise all but `live` units are dead (0)."""

    def __init__(self, constant: bool, live: int = 1):
        super().__init__("b" * 64)
        self.name = "broken"
        self.constant, self.live = constant, live
        self.max_dead_fraction = 0.0

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        flat, _ = super().forward(images)
        if self.constant:
            features = torch.ones_like(flat)
        else:
            features = torch.zeros_like(flat)
            features[:, : self.live] = flat[:, : self.live]
        return features, features


def write_random_inception(path: Path, seed: int, calibration: Tensor | None) -> Path:
    """torch-fidelity's Inception-v3 with random weights, saved to `path` (the cost of the real one, no download).

    With `calibration` images ((N, 3, H, W) uint8), every batch-norm layer's running statistics are set to the
    statistics of those images' activations (one pass in training mode with cumulative averages), as if the network
    had been trained on them. Without it the layers keep mean 0 / variance 1 running statistics, activations shrink or
    saturate through the 90-odd layers, and every image gets (nearly) the same features: FID ~1e-14 whatever the
    images, so a test built on it checks nothing.
    """
    import torch_fidelity.feature_extractor_inceptionv3 as fidelity

    with torch.random.fork_rng(devices=[]), \
            mock.patch.object(fidelity, "load_state_dict_from_url", return_value={}), \
            mock.patch.object(fidelity.FeatureExtractorInceptionV3, "load_state_dict"):
        torch.manual_seed(seed)
        net = fidelity.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    if calibration is not None:
        norms = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
        for norm in norms:
            norm.reset_running_stats()
            norm.momentum = None  # cumulative average: after one pass, exactly the calibration batch's statistics
        net.train()
        with torch.no_grad():
            net(calibration)
        net.eval()
    torch.save(net.state_dict(), path)
    return path


def digits_uint8_rgb(split: str, count: int, resolution: int = SIDE * 4) -> Tensor:
    """The first `count` digits of `split` as uint8 RGB: realistic inputs for calibrating and probing Inception."""
    from gan.data.embedded import DigitsDataset
    from gan.metrics.extractors import to_uint8_rgb

    return to_uint8_rgb(DigitsDataset(resolution, split=split).images[:count])

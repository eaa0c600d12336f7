"""Toy 2D Gaussian mixtures with the PacGAN protocol (Lin et al. 2018).

ring8: 8 modes at (cos 2πk/8, sin 2πk/8), std 0.01.  grid25: 25 modes at {-4,-2,0,2,4}², std 0.05.
"""

from __future__ import annotations

import math

import torch

from gan.data.base import PointsDataset


def ring_means(num_modes: int, radius: float) -> torch.Tensor:
    angles = torch.arange(num_modes, dtype=torch.float64) * (2 * math.pi / num_modes)
    return (radius * torch.stack([angles.cos(), angles.sin()], dim=1)).float()


def grid_means(side: int, spacing: float) -> torch.Tensor:
    coords = (torch.arange(side, dtype=torch.float32) - (side - 1) / 2) * spacing
    xs, ys = torch.meshgrid(coords, coords, indexing="ij")
    return torch.stack([xs.flatten(), ys.flatten()], dim=1)


class GaussianMixtureDataset(PointsDataset):
    """A fixed sample of `num_samples` points from an equal-weight isotropic Gaussian mixture.

    The label is the index of the mode a point was drawn from.
    """

    def __init__(self, name: str, means: torch.Tensor, std: float, num_samples: int, split: str, seed: int):
        generator = torch.Generator().manual_seed(seed * 2 + (0 if split == "train" else 1))
        self.means = means
        self.std = std
        self.labels = torch.randint(len(means), (num_samples,), generator=generator)
        self.points = means[self.labels] + std * torch.randn(num_samples, 2, generator=generator)
        self.num_classes = len(means)
        self.split = split
        self.fingerprint = f"{name}-n{num_samples}-{split}-s{seed}"

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.points[i], self.labels[i]


def ring8(num_samples: int, split: str = "train", seed: int = 0, num_modes: int = 8, radius: float = 1.0,
          std: float = 0.01) -> GaussianMixtureDataset:
    return GaussianMixtureDataset("ring8", ring_means(num_modes, radius), std, num_samples, split, seed)


def grid25(num_samples: int, split: str = "train", seed: int = 0, side: int = 5, spacing: float = 2.0,
           std: float = 0.05) -> GaussianMixtureDataset:
    return GaussianMixtureDataset("grid25", grid_means(side, spacing), std, num_samples, split, seed)

"""MLP generator and discriminator for the toy 2D mixtures (PacGAN's setup: 4 hidden layers of 400 units)."""

from __future__ import annotations

import torch
from torch import nn


def _mlp(in_dim: int, hidden_dim: int, num_hidden: int, out_dim: int, activation: type[nn.Module]) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = in_dim
    for _ in range(num_hidden):
        layers += [nn.Linear(width, hidden_dim), activation()]
        width = hidden_dim
    layers.append(nn.Linear(width, out_dim))
    return nn.Sequential(*layers)


class MLPGenerator(nn.Module):
    def __init__(self, latent_dim: int, out_dim: int, hidden_dim: int, num_hidden: int, num_classes: int = 0):
        super().__init__()
        if num_classes:
            raise ValueError("the MLP generator is unconditional; set model.num_classes=0")
        self.latent_dim = latent_dim
        self.num_classes = 0
        self.net = _mlp(latent_dim, hidden_dim, num_hidden, out_dim, nn.ReLU)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(z)


class MLPDiscriminator(nn.Module):
    """`pack` > 1 is PacGAN: D judges `pack` samples jointly, which penalises mode collapse.

    The module receives (N, in_dim) and reshapes to (N/pack, pack*in_dim); N must be a multiple of `pack`.
    """

    def __init__(self, in_dim: int, hidden_dim: int, num_hidden: int, pack: int = 1, num_classes: int = 0):
        super().__init__()
        if num_classes:
            raise ValueError("the MLP discriminator is unconditional; set model.num_classes=0")
        self.pack = pack
        self.in_dim = in_dim
        self.net = _mlp(in_dim * pack, hidden_dim, num_hidden, 1, nn.LeakyReLU)
        # `blocks` is what FreezeD freezes, counted from the input side.
        self.blocks = nn.ModuleList([self.net])

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if x.shape[0] % self.pack:
            raise ValueError(f"batch size {x.shape[0]} is not a multiple of PacGAN pack={self.pack}")
        return self.net(x.reshape(x.shape[0] // self.pack, self.pack * self.in_dim)).squeeze(1)

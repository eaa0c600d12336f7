"""DCGAN (Radford et al. 2016) for square images of side 4·2^k, optionally class-conditional.

Conditioning: G concatenates a learned class embedding to z; D adds a projection term
<embed(y), features> (Miyato & Koyama 2018) to its logit.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

BASE_RESOLUTION = 4


def _num_upsamplings(resolution: int) -> int:
    steps = math.log2(resolution / BASE_RESOLUTION)
    if resolution < 2 * BASE_RESOLUTION or steps != int(steps):
        raise ValueError(f"DCGAN needs a resolution of 4·2^k with k >= 1 (8, 16, 32, 64, ...), got {resolution}")
    return int(steps)


class DCGANGenerator(nn.Module):
    def __init__(self, latent_dim: int, channels: int, resolution: int, width: int, num_classes: int = 0,
                 embed_dim: int = 0):
        super().__init__()
        self.latent_dim = latent_dim
        self.num_classes = num_classes
        steps = _num_upsamplings(resolution)
        self.embed = nn.Embedding(num_classes, embed_dim) if num_classes else None
        in_dim = latent_dim + (embed_dim if num_classes else 0)
        top = width * 2 ** (steps - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(in_dim, top, BASE_RESOLUTION, 1, 0, bias=False),
            nn.BatchNorm2d(top),
            nn.ReLU(inplace=True),
        ]
        ch = top
        for _ in range(steps - 1):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU(True)]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            if y is None:
                raise ValueError("this generator is class-conditional: pass class labels y")
            z = torch.cat([z, self.embed(y)], dim=1)
        return self.net(z[:, :, None, None])


class DCGANDiscriminator(nn.Module):
    """Strided convolutions with LeakyReLU; `blocks` (input side first) are the units FreezeD can freeze."""

    def __init__(self, channels: int, resolution: int, width: int, num_classes: int = 0,
                 spectral_norm: bool = False, negative_slope: float = 0.2):
        super().__init__()
        steps = _num_upsamplings(resolution)
        norm = _spectral_norm if spectral_norm else (lambda m: m)
        blocks: list[nn.Module] = []
        ch_in, ch_out = channels, width
        for i in range(steps):
            layers: list[nn.Module] = [norm(nn.Conv2d(ch_in, ch_out, 4, 2, 1, bias=i == 0 or spectral_norm))]
            # DCGAN puts no normalisation on D's first layer; spectral norm replaces batch norm entirely.
            if i > 0 and not spectral_norm:
                layers.append(nn.BatchNorm2d(ch_out))
            layers.append(nn.LeakyReLU(negative_slope, inplace=True))
            blocks.append(nn.Sequential(*layers))
            ch_in, ch_out = ch_out, ch_out * 2
        self.blocks = nn.ModuleList(blocks)
        self.head = norm(nn.Conv2d(ch_in, 1, BASE_RESOLUTION, 1, 0))
        self.embed = norm(nn.Embedding(num_classes, ch_in)) if num_classes else None
        self.num_classes = num_classes

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = x
        for block in self.blocks:
            h = block(h)
        logits = self.head(h).flatten()
        if self.embed is not None:
            if y is None:
                raise ValueError("this discriminator is class-conditional: pass class labels y")
            logits = logits + (self.embed(y) * h.sum(dim=(2, 3))).sum(dim=1)
        return logits

"""ResNet GAN of SNGAN (Miyato et al. 2018) with the projection discriminator (Miyato & Koyama 2018), for square
images of side 16, 32 or 64 (a 4x4 base and one resampling stage per doubling).

Why a second image family next to DCGAN: residual blocks with spectral norm in D are the architecture the
conditional-GAN literature reports its numbers with (SNGAN, cGANs with projection, BigGAN), and class conditioning
there enters G through conditional batch norm (each class owns the gain and bias of every normalisation) rather than
through the input, which is what lets a conditional G draw visibly different classes from one latent.

- G: z -> linear -> 4x4 map -> `stages` up-sampling residual blocks (BN, ReLU, nearest 2x up, 3x3 conv, BN, ReLU,
  3x3 conv; shortcut: up + 1x1 conv) -> BN, ReLU, 3x3 conv, tanh. With `num_classes` every BN is class-conditional;
  with `shared_embed_dim` (BigGAN, Brock et al. 2019) one class embedding is shared by all blocks and each
  conditional BN maps it linearly to its gains and biases (fewer parameters per class as G widens).
- D: an "optimised" first block (conv, ReLU, conv, 2x average pool; shortcut: pool + 1x1 conv: no ReLU on the raw
  image), down-sampling residual blocks down to 4x4, ReLU, global sum pooling to h, then a linear head plus the
  projection term <embed(y), h>. Every weight, the class embedding included (as in Miyato & Koyama's code), is
  spectrally normalised, so each layer is at most 1-Lipschitz.

Widths: stage i has `width * channel_multipliers[i]` channels (G counts stages from its 4x4 side, D from its input
side); no multipliers means a constant width, as SNGAN's CIFAR networks. `blocks_per_stage` > 1 adds residual blocks
that keep the resolution after each resampling one (depth). D exposes `blocks` (input side first) for FreezeD; G
exposes `latent_dim` and `num_classes`. Both keep the DCGAN signatures: G(z, y|None) -> images in [-1, 1],
D(x, y|None) -> logits (N,).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

BASE_RESOLUTION = 4
SUPPORTED_RESOLUTIONS = (16, 32, 64)
# Each stage doubles (G) or halves (D) the side.
SCALE = 2
KERNEL, PADDING = 3, 1


def _identity(module: nn.Module) -> nn.Module:
    return module


def num_stages(resolution: int) -> int:
    """Resampling stages between the 4x4 base and `resolution`: 2 at 16, 3 at 32, 4 at 64."""
    if resolution not in SUPPORTED_RESOLUTIONS:
        raise ValueError(f"the ResNet-SN networks support data.resolution in {SUPPORTED_RESOLUTIONS}, got {resolution}")
    return int(math.log2(resolution // BASE_RESOLUTION))


def stage_widths(width: int, stages: int, channel_multipliers: Sequence[int] | None, which: str) -> list[int]:
    """Channels of each stage; `which` names the network in the error."""
    if width < 1:
        raise ValueError(f"model.{which}.width must be >= 1, got {width}")
    if not channel_multipliers:
        return [width] * stages
    multipliers = list(channel_multipliers)
    if len(multipliers) != stages or min(multipliers) < 1:
        raise ValueError(f"model.{which}.channel_multipliers={multipliers}: need {stages} positive integers (one per "
                         f"resampling stage at this resolution), or null for a constant width")
    return [width * m for m in multipliers]


def _check_depth(blocks_per_stage: int, which: str) -> None:
    if blocks_per_stage < 1:
        raise ValueError(f"model.{which}.blocks_per_stage must be >= 1, got {blocks_per_stage}")


# ---------------------------------------------------------------------------------------------------- generator
class ConditionalBatchNorm2d(nn.Module):
    """Batch norm whose gain and bias depend on the class.

    Per-class (SNGAN/projection cGAN): a table of gains (initialised to 1) and biases (0), one row per class.
    Shared (BigGAN): gain = 1 + W_g e, bias = W_b e from the class embedding e shared by all layers of G.
    Without classes it is plain batch norm with a learned affine.
    """

    def __init__(self, num_features: int, num_classes: int = 0, shared_embed_dim: int = 0):
        super().__init__()
        self.conditional = num_classes > 0
        self.shared = self.conditional and shared_embed_dim > 0
        self.bn = nn.BatchNorm2d(num_features, affine=not self.conditional)
        if self.shared:
            self.gain = nn.Linear(shared_embed_dim, num_features, bias=False)
            self.bias = nn.Linear(shared_embed_dim, num_features, bias=False)
        elif self.conditional:
            self.gain = nn.Embedding(num_classes, num_features)
            self.bias = nn.Embedding(num_classes, num_features)
            nn.init.ones_(self.gain.weight)
            nn.init.zeros_(self.bias.weight)

    def forward(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """`condition`: class labels (N,) per-class, the shared embedding (N, E) when shared, ignored otherwise."""
        h = self.bn(x)
        if not self.conditional:
            return h
        gain = self.gain(condition)
        if self.shared:
            gain = 1 + gain  # a zero embedding leaves plain normalisation, as in BigGAN
        return gain[:, :, None, None] * h + self.bias(condition)[:, :, None, None]


class GeneratorBlock(nn.Module):
    """Pre-activation residual block: BN, ReLU, (2x nearest up), conv, BN, ReLU, conv; shortcut (up +) 1x1 conv."""

    def __init__(self, in_ch: int, out_ch: int, upsample: bool, num_classes: int = 0, shared_embed_dim: int = 0):
        super().__init__()
        self.upsample = upsample
        self.bn1 = ConditionalBatchNorm2d(in_ch, num_classes, shared_embed_dim)
        self.conv1 = nn.Conv2d(in_ch, out_ch, KERNEL, padding=PADDING)
        self.bn2 = ConditionalBatchNorm2d(out_ch, num_classes, shared_embed_dim)
        self.conv2 = nn.Conv2d(out_ch, out_ch, KERNEL, padding=PADDING)
        # A learned shortcut only where the identity cannot be added (channels or size change).
        self.shortcut = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch or upsample else None

    def _up(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=SCALE, mode="nearest") if self.upsample else x

    def forward(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        h = self.conv1(self._up(F.relu(self.bn1(x, condition))))
        h = self.conv2(F.relu(self.bn2(h, condition)))
        skip = self._up(x)
        return h + (self.shortcut(skip) if self.shortcut is not None else skip)


class ResNetGenerator(nn.Module):
    def __init__(self, latent_dim: int, channels: int, resolution: int, width: int,
                 channel_multipliers: Sequence[int] | None = None, blocks_per_stage: int = 1, num_classes: int = 0,
                 shared_embed_dim: int = 0):
        super().__init__()
        self.latent_dim = latent_dim
        self.num_classes = num_classes
        stages = num_stages(resolution)
        _check_depth(blocks_per_stage, "generator")
        widths = stage_widths(width, stages, channel_multipliers, "generator")
        # BigGAN's shared embedding; without it each conditional BN keeps its own per-class table.
        self.shared_embed = (nn.Embedding(num_classes, shared_embed_dim)
                             if num_classes and shared_embed_dim > 0 else None)
        self.base_channels = widths[0]
        self.linear = nn.Linear(latent_dim, BASE_RESOLUTION * BASE_RESOLUTION * widths[0])
        blocks: list[nn.Module] = []
        ch = widths[0]
        for out_ch in widths:
            for i in range(blocks_per_stage):
                blocks.append(GeneratorBlock(ch, out_ch, upsample=i == 0, num_classes=num_classes,
                                             shared_embed_dim=shared_embed_dim))
                ch = out_ch
        self.blocks = nn.ModuleList(blocks)
        self.bn_out = nn.BatchNorm2d(ch)
        self.conv_out = nn.Conv2d(ch, channels, KERNEL, padding=PADDING)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        condition = None
        if self.num_classes:
            if y is None:
                raise ValueError("this generator is class-conditional: pass class labels y")
            condition = self.shared_embed(y) if self.shared_embed is not None else y
        h = self.linear(z).view(len(z), self.base_channels, BASE_RESOLUTION, BASE_RESOLUTION)
        for block in self.blocks:
            h = block(h, condition)
        return torch.tanh(self.conv_out(F.relu(self.bn_out(h))))


# ---------------------------------------------------------------------------------------------------- discriminator
class OptimizedDiscriminatorBlock(nn.Module):
    """D's first block (SNGAN): conv, ReLU, conv, 2x average pool; shortcut: pool then 1x1 conv. No activation
    before the first conv, which would clip the image's negative half."""

    def __init__(self, in_ch: int, out_ch: int, norm: Callable[[nn.Module], nn.Module] = spectral_norm):
        super().__init__()
        self.conv1 = norm(nn.Conv2d(in_ch, out_ch, KERNEL, padding=PADDING))
        self.conv2 = norm(nn.Conv2d(out_ch, out_ch, KERNEL, padding=PADDING))
        self.shortcut = norm(nn.Conv2d(in_ch, out_ch, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.avg_pool2d(self.conv2(F.relu(self.conv1(x))), SCALE)
        return h + self.shortcut(F.avg_pool2d(x, SCALE))


class DiscriminatorBlock(nn.Module):
    """ReLU, conv, ReLU, conv, (2x average pool); shortcut 1x1 conv (then pool) where shape changes."""

    def __init__(self, in_ch: int, out_ch: int, downsample: bool,
                 norm: Callable[[nn.Module], nn.Module] = spectral_norm):
        super().__init__()
        self.downsample = downsample
        self.conv1 = norm(nn.Conv2d(in_ch, out_ch, KERNEL, padding=PADDING))
        self.conv2 = norm(nn.Conv2d(out_ch, out_ch, KERNEL, padding=PADDING))
        self.shortcut = norm(nn.Conv2d(in_ch, out_ch, 1)) if in_ch != out_ch or downsample else None

    def _down(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, SCALE) if self.downsample else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Not in place: x is also the shortcut's input.
        h = self._down(self.conv2(F.relu(self.conv1(F.relu(x)))))
        skip = x if self.shortcut is None else self._down(self.shortcut(x))
        return h + skip


class ResNetDiscriminator(nn.Module):
    """Spectrally normalised residual D with a projection head; `blocks` (input side first) are FreezeD's units."""

    def __init__(self, channels: int, resolution: int, width: int, channel_multipliers: Sequence[int] | None = None,
                 blocks_per_stage: int = 1, num_classes: int = 0, spectral_norm: bool = True):
        super().__init__()
        # spectral_norm=false: the same residual D with plain weights, as StyleGAN2's residual D (which relies on R1
        # instead: set loss.r1_weight); model=stylegan uses it so
        norm: Callable[[nn.Module], nn.Module] = _spectral_norm if spectral_norm else _identity
        stages = num_stages(resolution)
        _check_depth(blocks_per_stage, "discriminator")
        widths = stage_widths(width, stages, channel_multipliers, "discriminator")
        blocks: list[nn.Module] = []
        ch = channels
        for stage, out_ch in enumerate(widths):
            for i in range(blocks_per_stage):
                if stage == 0 and i == 0:
                    blocks.append(OptimizedDiscriminatorBlock(ch, out_ch, norm))
                else:
                    blocks.append(DiscriminatorBlock(ch, out_ch, downsample=i == 0, norm=norm))
                ch = out_ch
        self.blocks = nn.ModuleList(blocks)
        self.head = norm(nn.Linear(ch, 1))
        self.num_classes = num_classes
        self.embed = norm(nn.Embedding(num_classes, ch)) if num_classes else None

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """h: ReLU of the last block, summed over positions (N, C): what the head and the projection read."""
        h = x
        for block in self.blocks:
            h = block(h)
        return F.relu(h).sum(dim=(2, 3))

    def projection(self, h: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The class term <embed(y), h> of the logit, one value per sample."""
        return (self.embed(y) * h).sum(dim=1)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.features(x)
        logits = self.head(h).flatten()
        if self.embed is not None:
            if y is None:
                raise ValueError("this discriminator is class-conditional: pass class labels y")
            logits = logits + self.projection(h, y)
        return logits

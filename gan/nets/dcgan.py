"""DCGAN (Radford et al. 2016) for square images of side 4·2^k, optionally class-conditional.

Conditioning: G concatenates a learned class embedding to z; D adds a projection term
<embed(y), features> (Miyato & Koyama 2018) to its logit. As in the paper the class term and the unconditional
head read the same features with weights of the same initial scale: here the head is a 4x4 convolution over D's last
4x4 feature map (a linear layer on the flattened map), so each class embedding is a map of that shape initialised
like the head's weight. The class term then starts on the head's scale and moves as fast under Adam. (Before: sum-
pooled features and nn.Embedding's N(0, 1) init, ~200 times the head's logit at 32x32; the logits saturated from the
first step and conditional runs never trained.)

Latent codes (`latent_codes` K > 0, unconditional): G also reads a learned embedding of a categorical code drawn from
z itself, the index of the largest of z's first K entries (uniform over K, since those entries are i.i.d. normal).
A continuous latent maps onto a connected set of images, so a G that draws ten separate digit classes puts some of
its samples on the bridges between them; a discrete code lets it switch between classes where z crosses from one
code to the next (InfoGAN's categorical code, Chen et al. 2016, without its mutual-information term; the
disconnected-manifold argument of Khayatkhoei et al. 2018). D never sees the code and no labels are used. Because the
code is a function of z, every sampler, seed and checkpoint tool treats the model as the unconditional one it is.
Measured on digits (experiments/digits_floor/RESULTS.md, stop 30): K = 10 raised precision from ~0.40 to 0.68, and
each code came to draw one digit. Codes and class labels can be combined (both embeddings are read; not measured).
Truncation acts on z, so it can change a sample's code: BigGAN's redraw of large entries, and StyleGAN-style psi
towards 0 (psi 0 gives every latent code 0).
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
                 embed_dim: int = 0, latent_codes: int = 0):
        super().__init__()
        if not 0 <= latent_codes <= latent_dim or latent_codes == 1:
            raise ValueError(f"latent_codes must be 0 (off) or 2..latent_dim={latent_dim} (the code is the argmax of "
                             f"z's first latent_codes entries), got {latent_codes}")
        if (num_classes or latent_codes) and embed_dim < 1:
            raise ValueError(f"class labels and latent codes are embedded: embed_dim must be >= 1, got {embed_dim}")
        self.latent_dim = latent_dim
        self.num_classes = num_classes
        self.latent_codes = latent_codes
        steps = _num_upsamplings(resolution)
        self.embed = nn.Embedding(num_classes, embed_dim) if num_classes else None
        self.code_embed = nn.Embedding(latent_codes, embed_dim) if latent_codes else None
        in_dim = latent_dim + (embed_dim if num_classes else 0) + (embed_dim if latent_codes else 0)
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
        inputs = [z]
        if self.embed is not None:
            if y is None:
                raise ValueError("this generator is class-conditional: pass class labels y")
            inputs.append(self.embed(y))
        if self.code_embed is not None:
            inputs.append(self.code_embed(latent_code(z, self.latent_codes)))
        return self.net(torch.cat(inputs, dim=1)[:, :, None, None])


def minibatch_std(h: torch.Tensor, group: int) -> torch.Tensor:
    """h (N, C, H, W) with one more channel: for each group of `group` consecutive samples, the standard deviation of
    every feature over the group, averaged over features and positions (ProGAN's minibatch-std layer, one statistic):
    D sees how varied its batch is, so a G that draws too few kinds of sample is told apart."""
    n, c, height, width = h.shape
    if n % group:
        raise ValueError(f"batch size {n} is not a multiple of minibatch_std_group={group}")
    grouped = h.reshape(n // group, group, c, height, width)
    spread = (grouped.var(dim=1, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))  # (N / group,)
    stat = spread.repeat_interleave(group)[:, None, None, None].expand(n, 1, height, width)
    return torch.cat([h, stat.to(h.dtype)], dim=1)


def latent_code(z: torch.Tensor, codes: int) -> torch.Tensor:
    """The categorical code of each latent: the index of the largest of its first `codes` entries (uniform over
    0..codes-1 for z ~ N(0, I))."""
    return z[:, :codes].argmax(dim=1)


class DCGANDiscriminator(nn.Module):
    """Strided convolutions with LeakyReLU; `blocks` (input side first) are the units FreezeD can freeze."""

    def __init__(self, channels: int, resolution: int, width: int, num_classes: int = 0,
                 spectral_norm: bool = False, negative_slope: float = 0.2, pack: int = 1, batch_norm: bool = True,
                 minibatch_std_group: int = 0):
        super().__init__()
        if minibatch_std_group < 0 or minibatch_std_group == 1:
            raise ValueError(f"minibatch_std_group must be 0 (off) or >= 2 (samples per group), got "
                             f"{minibatch_std_group}")
        self.minibatch_std_group = minibatch_std_group
        steps = _num_upsamplings(resolution)
        if pack < 1 or (pack > 1 and num_classes):
            raise ValueError(f"model.discriminator.pack must be >= 1 and 1 with class conditioning, got pack={pack} "
                             f"and num_classes={num_classes}")
        self.pack = pack
        norm = _spectral_norm if spectral_norm else (lambda m: m)
        blocks: list[nn.Module] = []
        ch_in, ch_out = channels * pack, width  # PacGAN: `pack` samples side by side along the channels
        for i in range(steps):
            # DCGAN puts no normalisation on D's first layer; spectral norm replaces batch norm entirely. Without batch
            # norm (batch_norm=false: D's output for a sample depends on that sample alone, as R1 assumes) every
            # convolution has a bias.
            batch_normed = i > 0 and batch_norm and not spectral_norm
            layers: list[nn.Module] = [norm(nn.Conv2d(ch_in, ch_out, 4, 2, 1, bias=not batch_normed))]
            if batch_normed:
                layers.append(nn.BatchNorm2d(ch_out))
            layers.append(nn.LeakyReLU(negative_slope, inplace=True))
            blocks.append(nn.Sequential(*layers))
            ch_in, ch_out = ch_out, ch_out * 2
        self.blocks = nn.ModuleList(blocks)
        # minibatch standard deviation (Karras et al. 2018): one more input map for the head
        ch_in += 1 if minibatch_std_group else 0
        self.head = norm(nn.Conv2d(ch_in, 1, BASE_RESOLUTION, 1, 0))
        self.embed = norm(_projection_embedding(num_classes, self.head)) if num_classes else None
        self.num_classes = num_classes

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.pack_samples(x)
        for block in self.blocks:
            h = block(h)
        if self.minibatch_std_group:
            h = minibatch_std(h, self.minibatch_std_group)
        logits = self.head(h).flatten()
        if self.embed is not None:
            if y is None:
                raise ValueError("this discriminator is class-conditional: pass class labels y")
            logits = logits + self.projection(h, y)
        return logits

    def pack_samples(self, x: torch.Tensor) -> torch.Tensor:
        """PacGAN (Lin et al. 2018): (N, C, H, W) -> (N/pack, pack*C, H, W); samples k*pack ... k*pack + pack - 1
        form one input, each keeping its own C channels in order, so D judges `pack` samples jointly."""
        if x.shape[0] % self.pack:
            raise ValueError(f"batch size {x.shape[0]} is not a multiple of PacGAN pack={self.pack}")
        return x.reshape(x.shape[0] // self.pack, self.pack * x.shape[1], *x.shape[2:])

    def projection(self, h: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The class term <embed(y), h> of the logit over the feature map the head reads, one value per sample."""
        return (self.embed(y) * h.flatten(1)).sum(dim=1)


def _projection_embedding(num_classes: int, head: nn.Conv2d) -> nn.Embedding:
    """One embedding per class with the shape of the head's weight (its input map, flattened), initialised as
    nn.Conv2d initialises that weight, U(±1/sqrt(fan_in)) (nn.Embedding's default N(0, 1) is sqrt(3·fan_in) times
    larger): each class adds a read-out of D's features like the head's own."""
    fan_in = head.weight[0].numel()
    embed = nn.Embedding(num_classes, fan_in)
    bound = 1.0 / math.sqrt(fan_in)
    nn.init.uniform_(embed.weight, -bound, bound)
    return embed

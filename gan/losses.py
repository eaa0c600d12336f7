"""Adversarial losses as pure functions of discriminator logits, and the two gradient penalties.

Each loss has a discriminator side `*_d(real_logits, fake_logits)` and a generator side `*_g(fake_logits)`;
all return a scalar mean over the batch. Conventions follow the papers:
- ns / minimax: Goodfellow et al. 2014 (ns = non-saturating generator loss -log D(G(z))).
- hinge: Lim & Ye 2017, Miyato et al. 2018.
- wasserstein: Arjovsky et al. 2017 (pair with gradient_penalty for WGAN-GP, Gulrajani et al. 2017).
- lsgan: Mao et al. 2017 with targets a=0 (fake), b=1 (real), c=1 (generator), halved as in the paper.
`top_k_logits` (Sinha et al. 2020) selects the fake logits G's loss reads (loss.top_k in conf/loss/).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor


def ns_d(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    # softplus(-l) = -log sigmoid(l): the numerically stable form of the binary cross-entropy.
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def ns_g(fake_logits: Tensor) -> Tensor:
    return F.softplus(-fake_logits).mean()


minimax_d = ns_d


def minimax_g(fake_logits: Tensor) -> Tensor:
    # G minimises log(1 - D(G(z))) = -softplus(l).
    return -F.softplus(fake_logits).mean()


def hinge_d(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()


def hinge_g(fake_logits: Tensor) -> Tensor:
    return -fake_logits.mean()


def wasserstein_d(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    return fake_logits.mean() - real_logits.mean()


wasserstein_g = hinge_g


def lsgan_d(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    return 0.5 * ((real_logits - 1.0) ** 2).mean() + 0.5 * (fake_logits**2).mean()


def lsgan_g(fake_logits: Tensor) -> Tensor:
    return 0.5 * ((fake_logits - 1.0) ** 2).mean()


def top_k_logits(fake_logits: Tensor, fraction: float) -> Tensor:
    """Top-k training (Sinha et al. 2020): the ceil(fraction x N) largest of N fake logits, for G's loss alone.

    G's update then follows only the samples D already finds most realistic; the gradients of the worst ones, which
    pull G towards the regions between modes, are thrown away. fraction 1 returns the logits unchanged (plain GAN).
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"top-k fraction must be in (0, 1], got {fraction}")
    count = fake_logits.shape[0]
    keep = max(1, math.ceil(fraction * count))
    return fake_logits if keep >= count else torch.topk(fake_logits, keep, sorted=False).values


def _per_sample_grad_sq_norm(outputs: Tensor, inputs: Tensor) -> Tensor:
    (grad,) = torch.autograd.grad(outputs.sum(), inputs, create_graph=True)
    return grad.flatten(1).pow(2).sum(dim=1)


def gradient_penalty(
    discriminator: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor, generator: torch.Generator | None = None
) -> Tensor:
    """WGAN-GP: mean (||∇D(x̂)|| - 1)² at random interpolates x̂ of real and fake samples."""
    alpha_shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    alpha = torch.rand(alpha_shape, device=real.device, dtype=real.dtype, generator=generator)
    interpolates = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    sq_norm = _per_sample_grad_sq_norm(discriminator(interpolates), interpolates)
    # The epsilon keeps the sqrt differentiable where the gradient vanishes exactly.
    return ((sq_norm + 1e-12).sqrt() - 1.0).pow(2).mean()


def r1_penalty(real_logits: Tensor, real: Tensor) -> Tensor:
    """R1 (Mescheder et al. 2018): mean ||∇D(x)||² on real samples. `real` must require grad before D(real)."""
    return _per_sample_grad_sq_norm(real_logits, real).mean()


# ---------------------------------------------------------------------------------------------------- content, style
# Image-matching losses (projection, restyling): pure functions of feature maps, each a list of tensors, one per
# layer of some fixed feature network (N, C, H, W), or (N, D) for content losses on vector features.


def gram_matrix(features: Tensor) -> Tensor:
    """Gram matrices (N, C, C) of feature maps (N, C, H, W), normalised by C*H*W (Gatys et al. 2016): entry (i, j) is
    the correlation of channels i and j over positions, a description of texture that ignores where things are."""
    if features.dim() != 4:
        raise ValueError(f"gram_matrix takes feature maps (N, C, H, W), got shape {tuple(features.shape)}")
    n, c, h, w = features.shape
    flat = features.reshape(n, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)


def _check_layers(features_a: list[Tensor], features_b: list[Tensor], what: str) -> None:
    if len(features_a) != len(features_b) or not features_a:
        raise ValueError(f"{what} takes two equally long, non-empty lists of feature tensors (one per layer), got "
                         f"{len(features_a)} and {len(features_b)}")


def style_loss(features_a: list[Tensor], features_b: list[Tensor]) -> Tensor:
    """Gatys et al.'s style loss: the sum over layers of the mean squared difference of the two Gram matrices."""
    _check_layers(features_a, features_b, "style_loss")
    return sum((gram_matrix(a) - gram_matrix(b)).square().mean() for a, b in zip(features_a, features_b, strict=True))


def content_loss(features_a: list[Tensor], features_b: list[Tensor]) -> Tensor:
    """Content (perceptual) loss: the sum over layers of the mean squared feature difference."""
    _check_layers(features_a, features_b, "content_loss")
    return sum((a - b).square().mean() for a, b in zip(features_a, features_b, strict=True))


def pixel_loss(images_a: Tensor, images_b: Tensor) -> Tensor:
    """Mean squared pixel difference."""
    return (images_a - images_b).square().mean()

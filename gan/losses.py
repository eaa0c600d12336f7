"""Adversarial losses as pure functions of discriminator logits, and the two gradient penalties.

Each loss has a discriminator side `*_d(real_logits, fake_logits)` and a generator side `*_g(fake_logits)`;
all return a scalar mean over the batch. Conventions follow the papers:
- ns / minimax: Goodfellow et al. 2014 (ns = non-saturating generator loss -log D(G(z))).
- hinge: Lim & Ye 2017, Miyato et al. 2018.
- wasserstein: Arjovsky et al. 2017 (pair with gradient_penalty for WGAN-GP, Gulrajani et al. 2017).
- lsgan: Mao et al. 2017 with targets a=0 (fake), b=1 (real), c=1 (generator), halved as in the paper.
"""

from __future__ import annotations

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

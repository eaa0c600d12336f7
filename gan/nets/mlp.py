"""MLP generator and discriminator for the toy 2D mixtures, PacGAN's setup (Lin et al. 2018, appendix).

G: `num_hidden` fully connected ReLU layers with batch normalisation, a linear output. Without batch norm the same G
collapsed on grid25 (0 of 25 modes after 1,250 updates, experiments/toy_pacgan/); with it, it spreads over the grid.
D: fully connected layers of LinearMaxout units (Goodfellow et al. 2013), as in PacGAN, or LeakyReLU, and a linear
logit. PacGAN (`pack` > 1) concatenates `pack` samples into one D input; it regroups samples, never features.
With `shared_layers` = k > 0 the first k hidden layers read one sample at a time (weights shared across the pack) and
the rest read the concatenation of the pack's features: still one judgement per pack, but a packed D that can learn
per-sample detail (see MLPDiscriminator).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

UNITS = ("maxout", "leaky_relu")


class LinearMaxout(nn.Module):
    """`out_features` maxout units: each is the max of `pieces` affine maps of the input.

    One Linear computes all out_features x pieces maps; output unit i is the max over the pieces of rows
    i*pieces ... i*pieces + pieces - 1 of that Linear (`piece_weight(i, j)` names row i*pieces + j).
    """

    def __init__(self, in_features: int, out_features: int, pieces: int):
        super().__init__()
        if pieces < 1:
            raise ValueError(f"maxout needs at least one piece, got pieces={pieces}")
        self.out_features, self.pieces = out_features, pieces
        self.linear = nn.Linear(in_features, out_features * pieces)

    def piece_weight(self, unit: int, piece: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Weight row and bias of affine map `piece` of output unit `unit`."""
        row = unit * self.pieces + piece
        return self.linear.weight[row], self.linear.bias[row]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps = self.linear(x)
        return maps.view(*maps.shape[:-1], self.out_features, self.pieces).amax(dim=-1)

    def extra_repr(self) -> str:
        return f"in_features={self.linear.in_features}, out_features={self.out_features}, pieces={self.pieces}"


class MLPGenerator(nn.Module):
    """z (N, latent_dim) -> points (N, out_dim). With `batch_norm` (PacGAN's G) every hidden layer is
    Linear -> BatchNorm1d -> ReLU; the Linear then has no bias, which the batch norm's shift replaces."""

    def __init__(self, latent_dim: int, out_dim: int, hidden_dim: int, num_hidden: int, batch_norm: bool = True,
                 num_classes: int = 0):
        super().__init__()
        if num_classes:
            raise ValueError("the MLP generator is unconditional; set model.num_classes=0")
        self.latent_dim = latent_dim
        self.num_classes = 0
        layers: list[nn.Module] = []
        width = latent_dim
        for _ in range(num_hidden):
            layers.append(nn.Linear(width, hidden_dim, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm1d(hidden_dim))
            layers.append(nn.ReLU())
            width = hidden_dim
        layers.append(nn.Linear(width, out_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(z)


def _hidden_layer(unit: str, maxout_pieces: int) -> Callable[[int, int], list[nn.Module]]:
    if unit == "maxout":
        return lambda width_in, width_out: [LinearMaxout(width_in, width_out, maxout_pieces)]
    if unit == "leaky_relu":
        return lambda width_in, width_out: [nn.Linear(width_in, width_out), nn.LeakyReLU()]
    raise ValueError(f"unknown discriminator unit {unit!r}; model.discriminator.unit must be one of {UNITS}")


class MLPDiscriminator(nn.Module):
    """`pack` > 1 is PacGAN: D judges `pack` samples jointly, which penalises mode collapse.

    The module receives (N, in_dim) and reshapes to (N/pack, pack*in_dim): consecutive samples form a pack, each
    sample keeps its features together. N must be a multiple of `pack`. Hidden layers are `unit` layers
    ("maxout": LinearMaxout with `maxout_pieces` pieces, PacGAN's D; "leaky_relu": Linear + LeakyReLU).

    `per_sample_init`: each first-layer unit starts connected to one sample of its pack (unit u to sample u mod
    pack, at the scale of an unpacked D's first layer); its weights on the other samples start at zero and are
    learned. Why it was tried: a unit that starts mixing all samples of a pack sees, on grid25 with pack 4, a sum of
    4 grid projections, which is nearly continuous, and with dense init G stayed diffuse. It did not fix that: 3.8-9.5 %
    high-quality samples after 12k G steps (one seed, experiments/toy_pacgan/RESULTS.md), so it is off by default.
    Only the start differs from PacGAN's D.

    `shared_layers` = k: the first k hidden layers map each sample of a pack on its own, with the same weights for
    every sample; the remaining `num_hidden` - k layers and the logit read the pack's concatenated features, so D
    still judges the pack jointly (PacGAN's point: it sees whether the samples of a pack are alike). With pack 1 the
    network is the plain D whatever k is. Why: a packed D whose first layer is dense over all samples did not learn
    at all on grid25 (pack 4, and also pack 2): trained alone to tell grid points with std 0.05 from std 0.3
    (experiments/toy_pacgan/packed_d_probe.py), its loss stayed at log 4 for 3000 steps with leaky-ReLU or maxout
    units, per-sample init, Adam 5e-4 to 1e-2 or the input scaled by 1/4, while the unpacked D learned (loss 0.82)
    and so did a pack-4 D with 2 shared layers (0.34; with 1 shared layer it did not). A dense unit sees a sum of 8
    grid coordinates, nearly continuous at the modes' scale.
    """

    def __init__(self, in_dim: int, hidden_dim: int, num_hidden: int, pack: int = 1, unit: str = "maxout",
                 maxout_pieces: int = 5, per_sample_init: bool = False, num_classes: int = 0,
                 shared_layers: int = 0):
        super().__init__()
        if num_classes:
            raise ValueError("the MLP discriminator is unconditional; set model.num_classes=0")
        if pack < 1:
            raise ValueError(f"model.discriminator.pack must be >= 1, got {pack}")
        # At least one hidden layer must read the whole pack: with only the linear logit on top, D's output would be
        # a sum of per-sample scores, a plain GAN's D that cannot see whether a pack's samples are alike.
        if not 0 <= shared_layers < num_hidden or (shared_layers and per_sample_init):
            raise ValueError(f"model.discriminator.shared_layers={shared_layers} must be in [0, num_hidden - 1 = "
                             f"{num_hidden - 1}] and cannot be combined with per_sample_init")
        self.pack = pack
        self.in_dim = in_dim
        hidden_layer = _hidden_layer(unit, maxout_pieces)
        per_sample: list[nn.Module] = []
        width = in_dim
        for _ in range(shared_layers):
            per_sample += hidden_layer(width, hidden_dim)
            width = hidden_dim
        # Kept out of the module tree when unused, so a D without shared layers has the state_dict keys it always had.
        self.per_sample = nn.Sequential(*per_sample) if per_sample else None
        layers: list[nn.Module] = []
        width *= pack
        for _ in range(num_hidden - shared_layers):
            layers += hidden_layer(width, hidden_dim)
            width = hidden_dim
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)
        if per_sample_init and pack > 1:
            first = next(m for m in self.net.modules() if isinstance(m, nn.Linear))
            self._connect_units_to_one_sample(first, rows_per_unit=maxout_pieces if unit == "maxout" else 1)
        # `blocks` is what FreezeD freezes, counted from the input side.
        self.blocks = nn.ModuleList([m for m in (self.per_sample, self.net) if m is not None])

    @torch.no_grad()
    def _connect_units_to_one_sample(self, first: nn.Linear, rows_per_unit: int) -> None:
        """Zero the first layer's weights on all samples but one per unit; rescale the kept ones by sqrt(pack), the
        factor by which the default init (bound 1/sqrt(fan_in)) shrank them for a pack-times wider input."""
        weight = first.weight.view(first.out_features, self.pack, self.in_dim)
        sample_of_row = (torch.arange(first.out_features) // rows_per_unit) % self.pack
        keep = nn.functional.one_hot(sample_of_row, self.pack).to(weight.dtype)[:, :, None]
        weight.mul_(keep * self.pack**0.5)

    def pack_samples(self, x: torch.Tensor) -> torch.Tensor:
        """(N, F) -> (N/pack, pack*F): row k holds samples k*pack ... k*pack + pack - 1, one after another."""
        if x.shape[0] % self.pack:
            raise ValueError(f"batch size {x.shape[0]} is not a multiple of PacGAN pack={self.pack}")
        return x.reshape(x.shape[0] // self.pack, self.pack * x.shape[1])

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        features = self.per_sample(x) if self.per_sample is not None else x
        return self.net(self.pack_samples(features)).squeeze(1)

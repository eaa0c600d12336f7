"""StyleGAN-lite: a small StyleGAN2 generator (Karras et al. 2020) for square images of side 16, 32 or 64.

Why a style-based G next to DCGAN and ResNet-SN: its intermediate latent w enters every layer separately, through a
per-layer affine "style", so layers can take their w from different sources. That is what style mixing (coarse
layers from one seed, fine from another), blending two models layer by layer and restyling a projected image need.

- Mapping: z (normalised to unit second moment, as StyleGAN) [+ class embedding] -> `mapping_layers` fully connected
  leaky-ReLU layers -> w. Its layers learn `mapping_lr_multiplier` times slower (StyleGAN's 0.01): with Adam the
  step on a weight is lr x the runtime scale, so the scale carries the multiplier and the stored weight its inverse.
- Synthesis: a learned constant 4x4 input; per resolution 4, 8, ... R a block of modulated 3x3 convolutions (one at
  4x4; at higher sides one that up-samples (bilinear 2x, then the conv) and one that keeps the side), each with
  weight demodulation, per-pixel noise (a learned strength per layer, starting at 0), a bias and leaky ReLU; and a
  modulated 1x1 "toRGB" per block whose outputs are summed after up-sampling (StyleGAN2's skip generator).
- Every weight uses the equalised learning rate (stored N(0, 1), scaled by 1/sqrt(fan_in) at runtime).

The styles: `num_ws` vectors w per image, one per conv layer plus one for the last toRGB; the toRGB of a block shares
its w with the next block's first conv (StyleGAN2's layout). `ws_resolutions[i]` is the side at which w_i acts, from
coarse (4) to fine (R): the index a style-mixing crossover or a layer-wise blend is expressed in.

Training adds style-mixing regularisation: with probability `style_mixing_prob` a batch takes the styles after a
random crossover index from a second latent, so neighbouring layers do not learn to rely on sharing one w. It also
tracks the mean w (`w_avg`, an exponential average over training batches) for truncation in w space:
w' = w_avg + psi (w - w_avg) (psi 1: none; 0: the mean image for every seed).

Noise: random in training; in eval mode the fixed per-layer buffers (StyleGAN2's noise_mode="const"), so a seed
gives the same image every time (gan-sample, evaluation, projection). The output is linear (no tanh, as StyleGAN);
the evaluation and image writers clamp to [-1, 1] when they quantise.

Same signature as the other generators: G(z, y|None) -> images; `latent_dim`, `num_classes`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

BASE_RESOLUTION = 4
SUPPORTED_RESOLUTIONS = (16, 32, 64)
# leaky ReLU slope and the gain that restores unit second moment after it (StyleGAN's bias_act "lrelu" defaults)
LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)
# keeps the demodulation and z normalisation finite for an all-zero input
EPS = 1e-8
NOISE_MODES = ("random", "const", "none")


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, LRELU_SLOPE) * LRELU_GAIN


class EqualLinear(nn.Module):
    """Linear layer with the equalised learning rate: weight stored N(0, 1/lr_mul^2), used x lr_mul/sqrt(fan_in)."""

    def __init__(self, in_features: int, out_features: int, bias_init: float = 0.0, lr_multiplier: float = 1.0,
                 activation: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init) / lr_multiplier))
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.linear(x, self.weight * self.weight_gain, self.bias * self.bias_gain)
        return _lrelu(x) if self.activation else x


class MappingNetwork(nn.Module):
    """z [+ class embedding] -> w, both inputs normalised to unit second moment first (StyleGAN2-ADA)."""

    def __init__(self, latent_dim: int, w_dim: int, num_layers: int, lr_multiplier: float, num_classes: int = 0):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"model.generator.mapping_layers must be >= 1, got {num_layers}")
        self.embed = EqualLinear(num_classes, w_dim) if num_classes else None
        dims = [latent_dim + (w_dim if num_classes else 0)] + [w_dim] * num_layers
        self.layers = nn.Sequential(*[EqualLinear(a, b, lr_multiplier=lr_multiplier, activation=True)
                                      for a, b in zip(dims[:-1], dims[1:], strict=True)])

    def forward(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        x = z * (z.square().mean(dim=1, keepdim=True) + EPS).rsqrt()
        if self.embed is not None:
            e = self.embed(F.one_hot(y, self.embed.weight.shape[1]).to(z.dtype))
            x = torch.cat([x, e * (e.square().mean(dim=1, keepdim=True) + EPS).rsqrt()], dim=1)
        return self.layers(x)


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, demodulate: bool,
                     padding: int) -> torch.Tensor:
    """StyleGAN2's modulated convolution: every sample scales the weight's input channels by its style (N, C_in),
    then (demodulate) rescales each output filter to unit norm, so a unit-variance input gives a unit-variance
    output whatever the style's magnitude.

    Computed as StyleGAN2's non-fused path: scale the input's channels, run one ordinary convolution with the shared
    weight, scale the output's channels by the demodulation coefficients. The result is the per-sample-weight
    convolution's; a grouped convolution with per-sample weights was 5x slower on the CPU (measured, batch 64)."""
    x = F.conv2d(x * styles[:, :, None, None], weight, padding=padding)
    if demodulate:
        # |w_o * s|^2 = sum_i s_i^2 sum_k w_oik^2: a (N, C_in) x (C_in, C_out) product, not an (N, C_out, C_in, k, k)
        # tensor of modulated weights
        coefficients = (styles.square() @ weight.square().sum(dim=(2, 3)).t() + EPS).rsqrt()
        x = x * coefficients[:, :, None, None]
    return x


class StyleLayer(nn.Module):
    """Modulated 3x3 conv (optionally after a bilinear 2x up-sampling), noise, bias, leaky ReLU."""

    def __init__(self, in_ch: int, out_ch: int, w_dim: int, resolution: int, upsample: bool):
        super().__init__()
        self.affine = EqualLinear(w_dim, in_ch, bias_init=1.0)  # styles start at 1: an unmodulated conv
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, 3, 3))
        self.bias = nn.Parameter(torch.zeros(out_ch))
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.register_buffer("noise_const", torch.randn(resolution, resolution))
        self.upsample = upsample
        self.resolution = resolution

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str) -> torch.Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        styles = self.affine(w) / math.sqrt(self.weight[0].numel())  # the equalised-lr gain, folded into the style
        x = modulated_conv2d(x, self.weight, styles, demodulate=True, padding=1)
        if noise_mode == "random":
            x = x + torch.randn(x.shape[0], 1, *x.shape[2:], device=x.device, dtype=x.dtype) * self.noise_strength
        elif noise_mode == "const":
            x = x + self.noise_const * self.noise_strength
        return _lrelu(x + self.bias[None, :, None, None])


class ToRGB(nn.Module):
    """Modulated 1x1 conv to image channels, without demodulation (StyleGAN2), plus a bias."""

    def __init__(self, in_ch: int, channels: int, w_dim: int):
        super().__init__()
        self.affine = EqualLinear(w_dim, in_ch, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(channels, in_ch, 1, 1))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w) / math.sqrt(self.weight[0].numel())
        return modulated_conv2d(x, self.weight, styles, demodulate=False, padding=0) + self.bias[None, :, None, None]


class SynthesisBlock(nn.Module):
    """One resolution: [up-sampling conv,] conv, toRGB. `num_conv` ws are consumed, plus one for toRGB (shared with
    the next block's first conv)."""

    def __init__(self, in_ch: int, out_ch: int, channels: int, w_dim: int, resolution: int):
        super().__init__()
        self.resolution = resolution
        first = resolution == BASE_RESOLUTION
        self.conv0 = None if first else StyleLayer(in_ch, out_ch, w_dim, resolution, upsample=True)
        self.conv1 = StyleLayer(out_ch, out_ch, w_dim, resolution, upsample=False)
        self.torgb = ToRGB(out_ch, channels, w_dim)
        self.num_conv = 1 if first else 2

    def forward(self, x: torch.Tensor, img: torch.Tensor | None, ws: torch.Tensor,
                noise_mode: str) -> tuple[torch.Tensor, torch.Tensor]:
        """`ws`: (N, num_conv + 1, w_dim), this block's slice of the styles."""
        i = 0
        if self.conv0 is not None:
            x = self.conv0(x, ws[:, 0], noise_mode)
            i = 1
        x = self.conv1(x, ws[:, i], noise_mode)
        rgb = self.torgb(x, ws[:, i + 1])
        if img is not None:
            rgb = rgb + F.interpolate(img, scale_factor=2, mode="bilinear", align_corners=False)
        return x, rgb


def block_widths(width: int, channel_max: int, resolution: int) -> dict[int, int]:
    """Channels per resolution: StyleGAN's rule, halving as the side doubles, `width` at the output side, capped."""
    return {res: min(channel_max, width * resolution // res) for res in _resolutions(resolution)}


def _resolutions(resolution: int) -> list[int]:
    if resolution not in SUPPORTED_RESOLUTIONS:
        raise ValueError(f"StyleGAN-lite supports data.resolution in {SUPPORTED_RESOLUTIONS}, got {resolution}")
    return [BASE_RESOLUTION * 2**i for i in range(int(math.log2(resolution // BASE_RESOLUTION)) + 1)]


class SynthesisNetwork(nn.Module):
    def __init__(self, w_dim: int, channels: int, resolution: int, width: int, channel_max: int):
        super().__init__()
        widths = block_widths(width, channel_max, resolution)
        self.const = nn.Parameter(torch.randn(widths[BASE_RESOLUTION], BASE_RESOLUTION, BASE_RESOLUTION))
        blocks, prev = {}, widths[BASE_RESOLUTION]
        for res, ch in widths.items():
            blocks[f"b{res}"] = SynthesisBlock(prev, ch, channels, w_dim, res)
            prev = ch
        self.blocks = nn.ModuleDict(blocks)
        # the side at which each w acts: each block's convs, then the last toRGB at the output side
        self.ws_resolutions: list[int] = [b.resolution for b in self.blocks.values() for _ in range(b.num_conv)]
        self.ws_resolutions.append(resolution)
        self.num_ws = len(self.ws_resolutions)

    def forward(self, ws: torch.Tensor, noise_mode: str) -> torch.Tensor:
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        if ws.dim() != 3 or ws.shape[1] != self.num_ws:
            raise ValueError(f"ws must have shape (N, {self.num_ws}, w_dim), got {tuple(ws.shape)}")
        x = self.const[None].expand(ws.shape[0], -1, -1, -1)
        img, start = None, 0
        for block in self.blocks.values():
            x, img = block(x, img, ws[:, start : start + block.num_conv + 1], noise_mode)
            start += block.num_conv
        return img


class StyleGANGenerator(nn.Module):
    """G(z, y) = synthesis(mapping(z, y) broadcast to every layer), with style mixing in training and truncation."""

    def __init__(self, latent_dim: int, channels: int, resolution: int, w_dim: int = 128, mapping_layers: int = 4,
                 mapping_lr_multiplier: float = 0.01, width: int = 16, channel_max: int = 128,
                 num_classes: int = 0, style_mixing_prob: float = 0.9, w_avg_beta: float = 0.995):
        super().__init__()
        if not 0.0 <= style_mixing_prob <= 1.0:
            raise ValueError(f"model.generator.style_mixing_prob must be in [0, 1], got {style_mixing_prob}")
        self.latent_dim, self.num_classes, self.w_dim = latent_dim, num_classes, w_dim
        self.mapping = MappingNetwork(latent_dim, w_dim, mapping_layers, mapping_lr_multiplier, num_classes)
        self.synthesis = SynthesisNetwork(w_dim, channels, resolution, width, channel_max)
        self.style_mixing_prob, self.w_avg_beta = style_mixing_prob, w_avg_beta
        self.register_buffer("w_avg", torch.zeros(w_dim))

    @property
    def num_ws(self) -> int:
        return self.synthesis.num_ws

    @property
    def ws_resolutions(self) -> list[int]:
        return self.synthesis.ws_resolutions

    def map(self, z: torch.Tensor, y: torch.Tensor | None = None, truncation_psi: float = 1.0) -> torch.Tensor:
        """ws (N, num_ws, w_dim): the same w for every layer, truncated towards `w_avg` by psi. In training mode the
        batch's mean w also updates `w_avg` (before truncation, which training does not use)."""
        if self.num_classes and y is None:
            raise ValueError("this generator is class-conditional: pass class labels y")
        w = self.mapping(z, y if self.num_classes else None)
        if self.training and torch.is_grad_enabled():
            self.w_avg.copy_(w.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        if truncation_psi != 1.0:
            w = self.w_avg.lerp(w, truncation_psi)
        return w[:, None].expand(-1, self.num_ws, -1)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None, truncation_psi: float = 1.0,
                noise_mode: str | None = None) -> torch.Tensor:
        ws = self.map(z, y, truncation_psi)
        if self.training and self.style_mixing_prob > 0:
            ws = self._mix_styles(ws, y)
        return self.synthesis(ws, noise_mode or ("random" if self.training else "const"))

    def _mix_styles(self, ws: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """Style-mixing regularisation: with probability p the whole batch takes ws[cutoff:] from fresh latents."""
        cutoff = int(torch.randint(1, self.num_ws, ()))
        if float(torch.rand(())) >= self.style_mixing_prob:
            return ws
        z2 = torch.randn(ws.shape[0], self.latent_dim, device=ws.device, dtype=ws.dtype)
        w2 = self.mapping(z2, y if self.num_classes else None)  # not counted in w_avg: one batch, one update
        return torch.cat([ws[:, :cutoff], w2[:, None].expand(-1, self.num_ws - cutoff, -1)], dim=1)

    def resolution_of_parameter(self, name: str) -> int | None:
        """The side at which a parameter or buffer (state_dict name) acts: its synthesis block's resolution, the base
        side for the constant input, None for the mapping network and w_avg (they act before any layer)."""
        parts = name.split(".")
        if parts[0] != "synthesis":
            return None
        if parts[1] == "const":
            return BASE_RESOLUTION
        return self.synthesis.blocks[parts[2]].resolution

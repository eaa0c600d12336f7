"""The reference: GAN.training_step's computation as a bare PyTorch loop, with no Lightning anywhere.

It drives the very objects `gan.train.builders.build_module` made (G, D, G_ema, loss functions, optimiser factories,
n_critic, EMA settings, channels_last/compile already applied) and repeats the module's iteration in the same
order, drawing the same random numbers. Its speed is what the networks cost; the gap to the Lightning run is
what the stack costs. tests/test_bench.py checks that one iteration of each gives identical weights.

Written the way a careful researcher writes a loop: D is frozen during the G update (so no D weight gradients
are computed, as Lightning's toggle_optimizer achieves), but no logging and no per-step finiteness check. The
schedules of a run (the lr ramp-down, R1's fade, top-k's ramp, G_ema's decay) are the module's functions of the
step, asked here with the loop's own counters, and G_ema is updated by the module's `update_ema_`, so a preset that
uses them costs the same work in both runners.
"""

from __future__ import annotations

import contextlib

import torch
from torch import Tensor

from gan import losses
from gan.train.lr_schedule import set_learning_rates
from gan.train.module import GAN, update_ema_

# Lightning precision flags the plain loop can mirror, and the autocast dtype each implies (None: no autocast).
AUTOCAST_DTYPES: dict[str, torch.dtype | None] = {"32-true": None, "32": None, "bf16-mixed": torch.bfloat16}


def autocast_dtype(precision: str | int) -> torch.dtype | None:
    key = str(precision)
    if key not in AUTOCAST_DTYPES:
        raise ValueError(f"the plain loop mirrors trainer.precision in {sorted(AUTOCAST_DTYPES)}, got {precision!r}; "
                         "pick one of those in the variant's overrides in conf/bench.yaml")
    return AUTOCAST_DTYPES[key]


class PlainGANLoop:
    def __init__(self, module: GAN, precision: str | int):
        self.m = module  # only its settings and callables are read; its training_step is never called
        self.generator, self.discriminator, self.generator_ema = (module.generator, module.discriminator,
                                                                  module.generator_ema)
        # FreezeD: frozen D blocks are left out of the optimiser and stay frozen, as in GAN.configure_optimizers.
        self.d_params = [p for p in self.discriminator.parameters() if p.requires_grad]
        self.g_opt = module.g_optimizer_factory(self.generator.parameters())
        self.d_opt = module.d_optimizer_factory(self.d_params)
        self.device = next(self.generator.parameters()).device
        self.dtype = autocast_dtype(precision)
        self.d_steps = self.g_steps = 0
        self.generator.train()
        self.discriminator.train()

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.dtype is None:
            return contextlib.nullcontext()
        # No cast cache: the iteration updates D's weights in place between the D and the G pass, and autocast's cache
        # would hand the G pass D's stale low-precision weights (Lightning's MixedPrecision disables it too).
        return torch.autocast(self.device.type, dtype=self.dtype, cache_enabled=False)

    def _inputs(self, n: int) -> tuple[Tensor, Tensor | None]:
        z = torch.randn(n, self.m.latent_dim, device=self.device)
        y = torch.randint(self.m.num_classes, (n,), device=self.device) if self.m.num_classes else None
        return z, y

    def _augment(self, x: Tensor) -> Tensor:
        return self.m.augment(x) if self.m.augment is not None else x

    def _global_step(self) -> int:
        return self.d_steps + self.g_steps

    def step(self, real: Tensor, labels: Tensor) -> None:
        """One training iteration: a D update, and a G update every n_critic-th D update."""
        m = self.m
        if m.channels_last and real.dim() == 4:
            real = real.contiguous(memory_format=torch.channels_last)
        real_y = labels if m.num_classes else None
        if m.lr_decay_start < 1.0:
            set_learning_rates((self.g_opt, self.d_opt), m.current_lr_factor(self._global_step()))
        with self._autocast():
            self._discriminator_step(real, real_y)
            if self.d_steps % self.m.n_critic == 0:
                self._generator_step(real)

    def _discriminator_step(self, real: Tensor, real_y: Tensor | None) -> None:
        m, D = self.m, self.discriminator
        z, fake_y = self._inputs(real.shape[0])
        with torch.no_grad():
            fake = self.generator(z, fake_y)
        r1_weight = m.current_r1_weight(self._global_step())
        apply_r1 = r1_weight > 0 and self.d_steps % m.r1_every == 0
        real_in = self._augment(real).detach().requires_grad_(apply_r1)
        real_logits = D(real_in, real_y)
        loss = m.d_loss(real_logits, D(self._augment(fake), fake_y))
        if m.gradient_penalty_weight > 0:
            loss = loss + m.gradient_penalty_weight * m.gradient_penalty(
                lambda x: D(self._augment(x), real_y), real, fake)
        if apply_r1:
            loss = loss + r1_weight * m.r1_every * m.r1_penalty(real_logits, real_in)
        self.d_opt.zero_grad(set_to_none=True)
        loss.backward()
        self.d_opt.step()
        self.d_steps += 1

    def _generator_step(self, real: Tensor) -> None:
        for p in self.d_params:
            p.requires_grad_(False)
        m = self.m
        z, fake_y = self._inputs(real.shape[0])
        fake = self.generator(z, fake_y)
        fake_logits = self.discriminator(self._augment(fake), fake_y)
        loss = m.g_loss(losses.top_k_logits(fake_logits, m.current_top_k(self._global_step())))
        if m.style_weight > 0:  # gan-project's style term: the module's own loss function of (fake, real)
            loss = loss + m.style_weight * m._style_term(fake, real)
        self.g_opt.zero_grad(set_to_none=True)
        loss.backward()
        self.g_opt.step()
        for p in self.d_params:
            p.requires_grad_(True)
        self.g_steps += 1
        self._update_ema()

    def _update_ema(self) -> None:
        update_ema_(self.generator_ema, self.generator, self.m.ema_decay_at(self.g_steps))

"""The GAN LightningModule: where networks, losses, augmentation and optimisers meet.

One `training_step` is one discriminator update; every `n_critic`-th step is also a generator update.
Optimisation is manual, so both updates and their order are explicit. G_ema (an exponential moving average of
G's weights) is what samples and metrics use.

DDP: Lightning wraps the whole module, so during the D update G's parameters get no gradient and vice versa.
`toggle_optimizer` freezes the other network and the DDP strategy must run with
`find_unused_parameters=True` (conf/trainer/ddp*.yaml), which lets each backward reduce only what it used.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import lightning as L
import torch
from torch import Tensor, nn

from gan import losses
from gan.compat import lerp_all_, logger_should_update
from gan.config import plain_partial
from gan.sample.generate import generate_in_batches
from gan.sample.latents import seeded_inputs
from gan.train.checkpoints import check_state_dict, checkpoint_kind, network_tensors
from gan.train.lr_schedule import ramp_down_factor, set_learning_rates
from gan.train.rng import TrainingRNG, global_rng_states, set_global_rng_states

LossD = Callable[[Tensor, Tensor], Tensor]
LossG = Callable[[Tensor], Tensor]
Penalty = Callable[..., Tensor]


class RunawayLossWarning(UserWarning):
    """A loss is finite but far outside any sane range: the run is probably diverging."""


def _check_ramp(name: str, start: float, end: float) -> None:
    """A ramp of gan/train/lr_schedule.py: start in [0, 1] (1: off), end in (0, 1] and after start."""
    if not 0.0 <= start <= 1.0 or not 0.0 < end <= 1.0:
        raise ValueError(f"{name} start must be in [0, 1] and end in (0, 1], got {start}, {end}")
    if start < 1.0 and end <= start:
        raise ValueError(f"{name} end ({end}) must come after its start ({start})")


def _ignore_one_channel_grad_stride_warning() -> None:
    """Silence DDP's "Grad strides do not match bucket view strides" for weights with one input channel only.

    A weight of shape (out, 1, k, k) (D's first convolution on grayscale images) is the same memory in both layouts;
    channels_last gives its size-1 dimension stride 1, and DDP builds its gradient bucket with those strides. R1's
    double backward returns that weight's gradient with the contiguous stride instead, so DDP copies it into the
    bucket (correct values; a copy of a few hundred numbers) and warns on every process. Only this shape is silenced
    (PyTorch prints the warning once per process, so a silenced one-channel mismatch also hides later ones of other
    shapes in that process; none is known).
    """
    one_input_channel = r"grad\.sizes\(\) = \[\d+, 1, \d+, \d+\]"
    ddp_stride_warning = r"(?s)Grad strides do not match bucket view strides\..*"
    warnings.filterwarnings("ignore", message=ddp_stride_warning + one_input_channel, category=UserWarning)


class NonFiniteLossError(FloatingPointError):
    """A loss became NaN or inf; training stops so no broken weights are written over good checkpoints."""


@torch.no_grad()
def update_ema_(ema: nn.Module, live: nn.Module, decay: float) -> None:
    """G_ema's update: every weight of `ema` moves to `live`'s by 1 - decay (decay 0: a copy).

    Floating-point buffers (batch-norm running mean and variance) are averaged with the same decay as the weights, so
    G_ema normalises with statistics of the generators it averages, not of the latest G alone. Copying G's statistics
    (StyleGAN2-ADA does; its G has no batch norm) paired averaged weights with another network's statistics: on
    grid25 that G_ema put fewer samples on the modes than G itself (23% against 32% high quality after 6k G steps;
    averaged statistics: 42%, experiments/toy_pacgan/RESULTS.md). Integer buffers (batch-norm's batch counter) are
    copied. The training step and the benchmark's plain loop (gan/bench/plain.py) both call this.
    """
    # one foreach kernel for all tensors (the arithmetic of a loop of lerp_, bit for bit)
    lerp_all_(list(ema.parameters()), [p.detach() for p in live.parameters()], 1.0 - decay)
    pairs = list(zip(ema.buffers(), live.buffers(), strict=True))
    averaged = [(ema_b, b) for ema_b, b in pairs if ema_b.is_floating_point()]
    lerp_all_([ema_b for ema_b, _ in averaged], [b for _, b in averaged], 1.0 - decay)
    for ema_b, b in pairs:
        if not ema_b.is_floating_point():
            ema_b.copy_(b)


class GAN(L.LightningModule):
    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        d_loss: LossD,
        g_loss: LossG,
        g_optimizer: Callable[..., torch.optim.Optimizer],
        d_optimizer: Callable[..., torch.optim.Optimizer],
        n_critic: int = 1,
        ema_decay: float = 0.999,
        ema_start_step: int = 0,
        ema_rampup: float = 0.0,
        gradient_penalty_weight: float = 0.0,
        r1_weight: float = 0.0,
        r1_every: int = 1,
        r1_decay_start: float = 1.0,
        r1_decay_end: float = 1.0,
        top_k_final: float = 1.0,
        top_k_start: float = 0.0,
        top_k_end: float = 1.0,
        gradient_penalty: Penalty = losses.gradient_penalty,
        r1_penalty: Penalty = losses.r1_penalty,
        augment: Callable[[Tensor], Tensor] | None = None,
        freeze_d_blocks: int = 0,
        channels_last: bool = False,
        compile_networks: bool = False,
        runaway_loss: float = float("inf"),
        lr_decay_start: float = 1.0,
        lr_decay_final: float = 0.0,
        lr_decay_end: float = 1.0,
        total_steps: int | None = None,
        style_weight: float = 0.0,
        style_features: Callable[[], nn.Module] | None = None,
        style_layers: Sequence[str] = (),
        config: dict[str, Any] | None = None,
    ):
        super().__init__()
        self.automatic_optimization = False
        if n_critic < 1:
            raise ValueError(f"n_critic must be >= 1, got {n_critic}")
        self.generator = generator
        self.discriminator = discriminator
        self.generator_ema = copy.deepcopy(generator).eval().requires_grad_(False)
        # called every step: Hydra's per-call target check unwrapped (gan.config.plain_partial)
        self.d_loss, self.g_loss = plain_partial(d_loss), plain_partial(g_loss)
        self.g_optimizer_factory, self.d_optimizer_factory = g_optimizer, d_optimizer
        self.n_critic = n_critic
        self.ema_decay, self.ema_start_step, self.ema_rampup = ema_decay, ema_start_step, ema_rampup
        self.gradient_penalty, self.gradient_penalty_weight = plain_partial(gradient_penalty), gradient_penalty_weight
        self.r1_penalty, self.r1_weight, self.r1_every = plain_partial(r1_penalty), r1_weight, r1_every
        # R1's weight can fade to 0 over a part of the run (the lr ramp's shape, gan/train/lr_schedule.py): on grid25 a
        # small R1 covers every mode but holds G's samples loose; faded once the modes are covered, they stay covered
        # and part of the lost precision comes back (experiments/toy_pacgan/RESULTS.md, stop 28).
        _check_ramp("loss.r1_decay", r1_decay_start, r1_decay_end)
        self.r1_decay_start, self.r1_decay_end = r1_decay_start, r1_decay_end
        # Top-k training (Sinha et al. 2020; gan.losses.top_k_logits): G's loss reads only the fraction of its batch D
        # scores highest, ramping from all of it at `start` to `final` at `end` (fractions of the run; the paper decays
        # k by 0.99 per epoch to a floor, a ramp of the same shape as the lr's here). final 1: off.
        # Per process under DDP: each rank keeps the top fraction of its own part of the batch.
        if not 0.0 < top_k_final <= 1.0:
            raise ValueError(f"loss.top_k final must be in (0, 1], got {top_k_final}")
        if top_k_final < 1.0:
            _check_ramp("loss.top_k", top_k_start, top_k_end)
            if top_k_start >= 1.0:
                raise ValueError("loss.top_k start must be below 1 when final < 1 (the ramp would never begin)")
        self.top_k_final, self.top_k_start, self.top_k_end = top_k_final, top_k_start, top_k_end
        self.augment = augment
        self.freeze_d_blocks = freeze_d_blocks
        self._freeze_discriminator_blocks(freeze_d_blocks)
        self.channels_last = channels_last
        if channels_last:
            self.generator.to(memory_format=torch.channels_last)
            self.discriminator.to(memory_format=torch.channels_last)
            _ignore_one_channel_grad_stride_warning()
        if compile_networks:
            # In-place nn.Module.compile keeps state_dict keys unchanged, so checkpoints stay portable.
            self.generator.compile()
            self.discriminator.compile()
        # Kept with the weights so a checkpoint alone can rebuild the model (gan-sample, gan-eval, fine-tuning).
        self.config = config
        # Counters are buffers so they are saved, restored on resume and identical on every DDP rank.
        self.register_buffer("d_steps", torch.zeros((), dtype=torch.long))
        self.register_buffer("g_steps", torch.zeros((), dtype=torch.long))
        # Captured after the networks are initialised, so it is a function of the seed alone.
        self.training_rng = TrainingRNG()
        self._global_rng_to_restore: dict[str, Any] | None = None
        # Named in errors about a resume checkpoint (Lightning does not tell the module which file it loads).
        self.resume_source = "the resume checkpoint"
        # A finite loss above this is a run diverging (measured: lr=1e6 "finished" with weights ~1e31): warned once.
        self.runaway_loss = runaway_loss
        self._warned_runaway = False
        # Linear learning-rate ramp-down over the run's end (gan/train/lr_schedule.py); start 1.0 switches it off.
        if lr_decay_final < 0.0:
            raise ValueError(f"lr_decay final must be >= 0, got {lr_decay_final}")
        _check_ramp("lr_decay", lr_decay_start, lr_decay_end)
        self.lr_decay_start, self.lr_decay_final, self.total_steps = lr_decay_start, lr_decay_final, total_steps
        self.lr_decay_end = lr_decay_end
        # Optional style term in G's loss (gan.losses.style_loss on a frozen classifier's feature maps). The feature
        # net is kept in a list, not as a submodule: its weights ship with the package and stay out of checkpoints,
        # so a run with and without the term have the same state_dict keys (fine-tuning and resume load either).
        if style_weight < 0 or (style_weight > 0 and (style_features is None or not style_layers)):
            raise ValueError(f"style_loss.weight={style_weight}: must be >= 0, and > 0 needs style_loss.features and "
                             "style_loss.layers")
        self.style_weight, self.style_layers = style_weight, list(style_layers)
        self._style_net: list[nn.Module] = [style_features()] if style_weight > 0 else []

    # The schedules below are pure functions of the global step: `step` None reads this module's counters; the
    # benchmark's plain loop (gan/bench/plain.py) passes its own count of D + G updates.
    def current_r1_weight(self, step: int | None = None) -> float:
        """R1's weight at this global step: loss.r1_weight, faded linearly to 0 over loss.r1_decay (if set)."""
        if self.r1_weight == 0 or self.r1_decay_start >= 1.0:  # no counter reads (a device sync on a GPU) per step
            return self.r1_weight
        return self.r1_weight * ramp_down_factor(self._counted_global_step(step), self.total_steps,
                                                 self.r1_decay_start, 0.0, self.r1_decay_end)

    def current_top_k(self, step: int | None = None) -> float:
        """The fraction of G's batch its loss reads at this global step: 1, ramped to loss.top_k.final."""
        if self.top_k_final >= 1.0:
            return 1.0
        return ramp_down_factor(self._counted_global_step(step), self.total_steps, self.top_k_start,
                                self.top_k_final, self.top_k_end)

    def current_lr_factor(self, step: int | None = None) -> float:
        """The learning rates' factor at this global step: 1, ramped down over optim.lr_decay (if set)."""
        if self.lr_decay_start >= 1.0:
            return 1.0
        return ramp_down_factor(self._counted_global_step(step), self.total_steps, self.lr_decay_start,
                                self.lr_decay_final, self.lr_decay_end)

    def ema_decay_at(self, g_steps: int) -> float:
        """G_ema's decay after `g_steps` generator updates (model.ema: start_step, then the ramp-up's horizon)."""
        decay = self.ema_decay if g_steps > self.ema_start_step else 0.0
        if self.ema_rampup:
            # The averaging horizon grows with training (StyleGAN2-ADA's ramp-up): at step t it spans about
            # rampup * t steps, so a short run's G_ema is not dominated by near-initial weights.
            decay = min(decay, 1.0 - 1.0 / max(1.0, self.ema_rampup * g_steps))
        return decay

    def _counted_global_step(self, step: int | None = None) -> int:
        """D + G updates so far, from the counter buffers that resume restores (the ramps' clock), unless given."""
        return int(self.d_steps) + int(self.g_steps) if step is None else step

    # ----------------------------------------------------------------------------------------------- properties
    @property
    def latent_dim(self) -> int:
        return self.generator.latent_dim

    @property
    def num_classes(self) -> int:
        return getattr(self.generator, "num_classes", 0)

    def _freeze_discriminator_blocks(self, count: int) -> None:
        """FreezeD (Mo et al. 2020): keep the first `count` D blocks (input side) fixed while fine-tuning."""
        blocks = getattr(self.discriminator, "blocks", None)
        if count and (blocks is None or count > len(blocks)):
            available = 0 if blocks is None else len(blocks)
            raise ValueError(f"freeze_d_blocks={count} but the discriminator has {available} blocks")
        self._frozen_d_blocks = list(blocks or [])[:count]
        for block in self._frozen_d_blocks:
            block.requires_grad_(False).eval()

    def train(self, mode: bool = True) -> GAN:
        """Frozen D blocks stay in eval mode: a block with spectral norm would otherwise run its power iteration and
        one with batch norm update its statistics in every forward, so its effective weights would still move."""
        super().train(mode)
        for block in getattr(self, "_frozen_d_blocks", []):
            block.eval()
        return self

    # ----------------------------------------------------------------------------------------------- sampling
    def sample_inputs(self, n: int, seed: int) -> tuple[Tensor, Tensor | None]:
        """Latents (and class labels) drawn on the CPU from `seed`, so a seed gives the same sample on any device."""
        z, y = seeded_inputs(n, seed, self.latent_dim, self.num_classes)
        return z.to(self.device), None if y is None else y.to(self.device)

    def generate(self, z: Tensor, y: Tensor | None = None, use_ema: bool = True) -> Tensor:
        net = self.generator_ema if use_ema else self.generator
        return generate_in_batches(net, z, y, max(1, len(z)))

    def generate_batched(self, n: int, seed: int, batch_size: int, use_ema: bool = True) -> Tensor:
        z, y = self.sample_inputs(n, seed)
        return generate_in_batches(self.generator_ema if use_ema else self.generator, z, y, batch_size)

    def _random_inputs(self, n: int) -> tuple[Tensor, Tensor | None]:
        z = torch.randn(n, self.latent_dim, device=self.device)
        y = torch.randint(self.num_classes, (n,), device=self.device) if self.num_classes else None
        return z, y

    # ----------------------------------------------------------------------------------------------- training
    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        d_params = [p for p in self.discriminator.parameters() if p.requires_grad]
        return [self.g_optimizer_factory(self.generator.parameters()), self.d_optimizer_factory(d_params)]

    def _augmented(self, x: Tensor) -> Tensor:
        return self.augment(x) if self.augment is not None else x

    def _check_finite(self, name: str, value: Tensor) -> None:
        magnitude = float(value.detach().abs())  # one device sync per loss, which the finiteness check needs anyway
        if not math.isfinite(magnitude):
            raise NonFiniteLossError(
                f"{name} is {value.item()} at generator step {int(self.g_steps)} (global step {self.global_step}); "
                "training stopped, no checkpoint was written over. Lower the learning rates, add a gradient "
                "penalty, or use 32-bit precision."
            )
        if magnitude > self.runaway_loss and not self._warned_runaway:
            self._warned_runaway = True
            warnings.warn(f"{name} is {magnitude:.3g} at global step {self.global_step}, above "
                          f"module.runaway_loss={self.runaway_loss:g}: the run is probably diverging (learning rate "
                          "too high?). Training goes on; watch the losses and samples.", RunawayLossWarning,
                          stacklevel=2)

    def _discriminator_step(self, real: Tensor, real_y: Tensor | None, d_opt: Any) -> dict[str, Tensor]:
        self.toggle_optimizer(d_opt)
        z, fake_y = self._random_inputs(real.shape[0])
        with torch.no_grad():
            fake = self.generator(z, fake_y)
        r1_weight = self.current_r1_weight()
        apply_r1 = r1_weight > 0 and int(self.d_steps) % self.r1_every == 0
        real_in = self._augmented(real).detach().requires_grad_(apply_r1)
        real_logits = self.discriminator(real_in, real_y)
        fake_logits = self.discriminator(self._augmented(fake), fake_y)
        loss = self.d_loss(real_logits, fake_logits)
        logs = {"loss/d_adv": loss.detach()}
        if self.gradient_penalty_weight > 0:
            gp = self.gradient_penalty(lambda x: self.discriminator(self._augmented(x), real_y), real, fake)
            loss = loss + self.gradient_penalty_weight * gp
            logs["loss/gp"] = gp.detach()
        if apply_r1:
            r1 = self.r1_penalty(real_logits, real_in)
            # Lazy regularisation (StyleGAN2): applying every r1_every steps, scaled by r1_every, keeps the strength.
            loss = loss + r1_weight * self.r1_every * r1
            logs["loss/r1"] = r1.detach()
        self._check_finite("discriminator loss", loss)
        d_opt.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        d_opt.step()
        self.untoggle_optimizer(d_opt)
        self.d_steps += 1
        logs.update({"loss/d": loss.detach(), "d_real": real_logits.detach().mean(),
                     "d_fake": fake_logits.detach().mean()})
        return logs

    def _generator_step(self, real: Tensor, g_opt: Any) -> dict[str, Tensor]:
        self.toggle_optimizer(g_opt)
        z, fake_y = self._random_inputs(real.shape[0])
        fake = self.generator(z, fake_y)
        fake_logits = self.discriminator(self._augmented(fake), fake_y)
        loss = self.g_loss(losses.top_k_logits(fake_logits, self.current_top_k()))  # fraction 1: all logits
        logs = {}
        if self._style_net:
            style = self._style_term(fake, real)
            loss = loss + self.style_weight * style
            logs["loss/style"] = style.detach()
        self._check_finite("generator loss", loss)
        g_opt.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        g_opt.step()
        self.untoggle_optimizer(g_opt)
        self.g_steps += 1
        self._update_ema()
        return {"loss/g": loss.detach(), **logs}

    def _style_term(self, fake: Tensor, real: Tensor) -> Tensor:
        """Gram-matrix distance between the samples' and the real batch's feature maps (Gatys et al. 2016)."""
        net = self._style_net[0].to(fake.device)
        with torch.no_grad():
            real_maps = net(real, self.style_layers)
        fake_maps = net(fake, self.style_layers)
        return losses.style_loss([fake_maps[k] for k in self.style_layers], [real_maps[k] for k in self.style_layers])

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        with self.training_rng.active(self.device):
            self._training_step(batch)

    def _training_step(self, batch: tuple[Tensor, Tensor]) -> None:
        real, labels = batch
        if self.channels_last and real.dim() == 4:
            real = real.contiguous(memory_format=torch.channels_last)
        real_y = labels if self.num_classes else None
        g_opt, d_opt = self.optimizers()
        if self.lr_decay_start < 1.0:
            set_learning_rates((g_opt, d_opt), self.current_lr_factor())
        logs = self._discriminator_step(real, real_y, d_opt)
        if int(self.d_steps) % self.n_critic == 0:
            logs.update(self._generator_step(real, g_opt))
        if self._logging_step():
            self.log_dict(logs, on_step=True, on_epoch=False, prog_bar=False)
            self.log("g_steps", self.g_steps.float(), on_step=True, on_epoch=False, prog_bar=True)
            # Lightning's "step" key sets the loggers' x-axis: the global step (D and G updates counted), the unit of
            # trainer.max_steps and of the evaluation rows. Without it Lightning logs at its count of batches, half
            # the global step with n_critic=1, and TensorBoard's loss and FID curves sat 2x apart.
            self.log("step", float(self.global_step), on_step=True, on_epoch=False)

    def _logging_step(self) -> bool:
        """Whether Lightning writes this step's logged values to the loggers (every trainer.log_every_n_steps).

        `self.log` costs about 1 ms per call on the CPU (Lightning moves its whole result collection each time): at
        7 values a step that was 6% of a DCGAN step at 32x32 (`make bench`). Values logged on other steps are never
        written, so they are not logged at all. Outside a Trainer (tests calling training_step directly) always True.
        """
        return logger_should_update(self._trainer)

    def _update_ema(self) -> None:
        update_ema_(self.generator_ema, self.generator, self.ema_decay_at(int(self.g_steps)))

    # ----------------------------------------------------------------------------------------------- checkpoints
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["gan_config"] = self.config
        checkpoint["gan_training_rng"] = self.training_rng.state_dict()
        checkpoint["gan_global_rng"] = global_rng_states()

    @classmethod
    def load_from_checkpoint(cls, checkpoint_path: str | Any, map_location: Any = None, **kwargs: Any) -> GAN:
        """The whole module (G, D, G_ema, counters) from a training checkpoint or run directory, built from the
        config stored in the checkpoint: no arguments needed. Lightning's version would call GAN() with saved
        hyper-parameters; ours are the config. For drawing images, `gan.load(path)` is simpler."""
        from gan.config import instantiate_node
        from gan.train.checkpoints import NotAGANCheckpointError, read_checkpoint, resolve_checkpoint_path

        if kwargs:
            raise TypeError(f"GAN.load_from_checkpoint takes its settings from the checkpoint; got {sorted(kwargs)}")
        path = resolve_checkpoint_path(checkpoint_path, "checkpoint_path")
        checkpoint = read_checkpoint(path, map_location=map_location)
        if checkpoint_kind(checkpoint, path) != "training":
            raise NotAGANCheckpointError(f"{path} is an export (G_ema only); load it with gan.load({str(path)!r})")
        config = checkpoint["gan_config"] or {}
        if "module" not in config:
            raise NotAGANCheckpointError(f"{path} was written before checkpoints stored the module config; load its "
                                         f"generator with gan.load({str(path)!r})")
        module = instantiate_node(config["module"])
        module.config = config
        module.resume_source = str(path)
        module.check_resume_checkpoint(checkpoint)
        module.load_state_dict(checkpoint["state_dict"])
        return module.eval()

    def check_resume_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Refuse a checkpoint of another kind or architecture, naming what differs (before Lightning's strict load)."""
        checkpoint_kind(checkpoint, self.resume_source)
        check_state_dict(network_tensors(self.state_dict()), network_tensors(checkpoint["state_dict"]),
                         path=self.resume_source, found_config=checkpoint.get("gan_config"),
                         expected_config=self.config)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Resuming: refuse another architecture with a clear message (before Lightning's strict load), restore RNG."""
        self.check_resume_checkpoint(checkpoint)
        if "gan_training_rng" in checkpoint:
            self.training_rng.load_state_dict(checkpoint["gan_training_rng"])
        self._global_rng_to_restore = checkpoint.get("gan_global_rng")

    def on_train_start(self) -> None:
        # numpy/Python RNGs are restored here, after Lightning has built the data pipeline, i.e. as late as possible
        # before the first resumed step (user datasets with random transforms in the main process draw from them).
        if self._global_rng_to_restore is not None:
            set_global_rng_states(self._global_rng_to_restore)
            self._global_rng_to_restore = None

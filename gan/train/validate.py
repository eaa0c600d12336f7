"""Config checks made before anything is built: a bad value is reported with its key, not as a crash deep inside.

Measured before these checks: `trainer.max_steps=abc` and `data.batch_size=-4` failed inside Lightning and torch,
`eval_every_n_steps=0` with a ZeroDivisionError, `model=mlp data=digits` with a matrix-shape error and an lr of 0 or
below trained nothing without a word.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig, OmegaConf


class ConfigValueError(ValueError):
    """A config value is out of range or of the wrong type; the message names the key and the fix."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# key -> (test, what the value must be). Keys absent from a config are skipped (e.g. trainer.max_steps=-1 is
# Lightning's "no limit" and is allowed with max_epochs).
RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "seed": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    "trainer.max_steps": (lambda v: _is_int(v) and (v > 0 or v == -1), "a positive integer (global steps)"),
    "data.batch_size": (lambda v: _is_int(v) and v > 0, "a positive integer"),
    "data.num_workers": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    "eval_every_n_steps": (lambda v: _is_int(v) and v > 0, "a positive integer (global steps)"),
    "checkpoint.every_n_steps": (lambda v: _is_int(v) and v > 0, "a positive integer (global steps)"),
    "optim.n_critic": (lambda v: _is_int(v) and v > 0, "a positive integer"),
    "optim.generator.lr": (lambda v: _is_number(v) and v > 0, "a number > 0"),
    "optim.discriminator.lr": (lambda v: _is_number(v) and v > 0, "a number > 0"),
    "optim.lr_decay.start": (lambda v: _is_number(v) and 0 <= v <= 1, "a fraction of the run in [0, 1] (1: off)"),
    "optim.lr_decay.final": (lambda v: _is_number(v) and v >= 0, "a number >= 0 (the lr factor at the end)"),
    "optim.lr_decay.end": (lambda v: _is_number(v) and 0 < v <= 1, "a fraction of the run in (0, 1] (the ramp's end)"),
    "loss.gradient_penalty_weight": (lambda v: _is_number(v) and v >= 0, "a number >= 0"),
    "loss.r1_weight": (lambda v: _is_number(v) and v >= 0, "a number >= 0"),
    "loss.r1_every": (lambda v: _is_int(v) and v > 0, "a positive integer"),
    "loss.r1_decay.start": (lambda v: _is_number(v) and 0 <= v <= 1, "a fraction of the run in [0, 1] (1: off)"),
    "loss.r1_decay.end": (lambda v: _is_number(v) and 0 < v <= 1, "a fraction of the run in (0, 1] (R1 off after it)"),
    "loss.top_k.final": (lambda v: _is_number(v) and 0 < v <= 1, "a fraction of G's batch in (0, 1] (1: off)"),
    "loss.top_k.start": (lambda v: _is_number(v) and 0 <= v <= 1, "a fraction of the run in [0, 1]"),
    "loss.top_k.end": (lambda v: _is_number(v) and 0 < v <= 1, "a fraction of the run in (0, 1] (the ramp's end)"),
    "model.latent_dim": (lambda v: _is_int(v) and v > 0, "a positive integer"),
    "model.latent_codes": (lambda v: _is_int(v) and v >= 0 and v != 1, "0 (off) or an integer >= 2"),
    "model.num_classes": (lambda v: _is_int(v) and v >= 0, "an integer >= 0 (0: unconditional)"),
    "model.ema.decay": (lambda v: _is_number(v) and 0 <= v < 1, "a number in [0, 1)"),
}
_ABSENT = object()
# What to suggest when model and data do not fit, by the data kind the model is built for.
EXAMPLE_PAIRS = {"points": "data=grid25 model=mlp (or experiment=grid25_mlp)",
                 "image": "data=digits model=dcgan (or experiment=digits_dcgan)"}


def validate(cfg: DictConfig) -> None:
    """Raise ConfigValueError for the first bad value (type, range, a model that does not fit the data)."""
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise ConfigValueError(f"required settings are missing: {', '.join(missing)}; pass them on the command line, "
                               f"e.g. {missing[0]}=...")
    for key, (ok, must_be) in RULES.items():
        value = OmegaConf.select(cfg, key, default=_ABSENT)
        if value is not _ABSENT and not ok(value):
            raise ConfigValueError(f"{key}={value!r}: must be {must_be}")
    # the ramps are fractions of module.total_steps (trainer.max_steps unless set apart)
    unlimited = OmegaConf.select(cfg, "module.total_steps", default=None) == -1
    for ramp in ("optim.lr_decay", "loss.r1_decay", "loss.top_k"):
        decay = OmegaConf.select(cfg, ramp, default=None) or {}
        start, end = decay.get("start", 1.0), decay.get("end", 1.0)
        if ramp == "loss.top_k":
            if decay.get("final", 1.0) >= 1.0:
                continue  # off: its ramp is never read
            if start >= 1.0:
                raise ConfigValueError(f"loss.top_k.final={decay.get('final')!r} but loss.top_k.start={start!r}: the "
                                       "ramp would never begin; give a start below 1 (or final=1 for off)")
        if start < 1.0 and end <= start:
            raise ConfigValueError(f"{ramp}.end={end!r} must come after {ramp}.start={start!r} (both fractions of "
                                   "trainer.max_steps)")
        if start < 1.0 and unlimited:
            raise ConfigValueError(f"{ramp}.start={start!r} is a fraction of trainer.max_steps, which is -1 (no "
                                   "limit): the ramp would never run. Give trainer.max_steps, or switch the ramp off "
                                   f"with {ramp}.start=1 (on a resume also resume_allow_changes=true)")
    if cfg.data.get("kind") == "image":
        for key in ("resolution", "channels"):
            value = cfg.data.get(key)
            if not (_is_int(value) and value > 0):
                raise ConfigValueError(f"data.{key}={value!r}: must be a positive integer for image data")
    accelerator = str(OmegaConf.select(cfg, "trainer.accelerator", default="") or "")
    if accelerator in ("gpu", "cuda") and not _gpu_available(accelerator):
        raise ConfigValueError(f"trainer.accelerator={accelerator} but torch finds no CUDA GPU on this machine; train "
                               "on the CPU with trainer=cpu (or trainer=ddp_cpu for two processes), or run where a GPU "
                               "is")
    codes = OmegaConf.select(cfg, "model.latent_codes", default=0) or 0
    latent_dim = OmegaConf.select(cfg, "model.latent_dim", default=None)
    if codes and _is_int(latent_dim) and codes > latent_dim:
        raise ConfigValueError(f"model.latent_codes={codes} but model.latent_dim={latent_dim}: the code is the argmax "
                               "of z's first latent_codes entries, so it needs latent_codes <= latent_dim")
    if codes and "latent_codes" not in (OmegaConf.select(cfg, "model.generator", default=None) or {}):
        name = cfg.model.get("name")
        raise ConfigValueError(f"model.latent_codes={codes} but model={name}'s generator has no latent codes "
                               "(model=dcgan has them); set model.latent_codes=0")
    _check_batch_groups(cfg)
    model_kind, data_kind = cfg.model.get("data_kind"), cfg.data.get("kind")
    if model_kind and data_kind and model_kind != data_kind:
        raise ConfigValueError(
            f"model={cfg.model.name} is built for {model_kind} data but data={cfg.data.name} holds {data_kind}; "
            f"pick a matching pair, e.g. {EXAMPLE_PAIRS.get(model_kind, 'an experiment=... preset')}"
        )


def _check_batch_groups(cfg: DictConfig) -> None:
    """D reads the batch in packs (PacGAN) and groups of packs (minibatch std): both must divide it."""
    batch = OmegaConf.select(cfg, "data.batch_size", default=None)
    pack = OmegaConf.select(cfg, "model.discriminator.pack", default=1) or 1
    group = OmegaConf.select(cfg, "model.discriminator.minibatch_std_group", default=0) or 0
    if not (_is_int(batch) and _is_int(pack) and _is_int(group)) or pack < 1:
        return
    if batch % pack:
        raise ConfigValueError(f"data.batch_size={batch} is not a multiple of model.discriminator.pack={pack} (D "
                               "reads the batch in packs of that many samples)")
    if group and (batch // pack) % group:
        raise ConfigValueError(f"model.discriminator.minibatch_std_group={group} does not divide the {batch // pack} "
                               f"inputs D reads per batch (data.batch_size={batch} / pack={pack})")


def _gpu_available(accelerator: str) -> bool:
    """CUDA, or for "gpu" also Apple's MPS (Lightning maps "gpu" to it)."""
    import torch  # here, so validating a config stays light for code that never trains

    return torch.cuda.is_available() or (accelerator == "gpu" and torch.backends.mps.is_available())

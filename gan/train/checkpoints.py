"""Checkpoint files: written atomically, read with clear errors, checked against the architecture that loads them.

Two kinds of file carry a GAN:
- a training checkpoint (Lightning's dict: `state_dict` with G, D, G_ema and counters, optimiser and loop states,
  our `gan_config` and `gan_training_rng`), written by the trainer through `AtomicCheckpointIO`;
- an export (`gan-export`): G_ema's weights and the config only, the small file to share and sample from.

Both are plain containers of tensors, numbers and strings, so they load with `torch.load(weights_only=True)`: opening
a checkpoint never runs code from the file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from gan.io import file_sha256

# The `format` field of an export file; `gan.sample.export` writes it and the loaders here check it.
EXPORT_FORMAT = "gan-generator"
EXPORT_FORMAT_VERSION = 1
# Prefixes of the networks inside a training checkpoint's `state_dict`.
GENERATOR_PREFIX = "generator."
DISCRIMINATOR_PREFIX = "discriminator."
GENERATOR_EMA_PREFIX = "generator_ema."
NETWORK_PREFIXES = (GENERATOR_PREFIX, DISCRIMINATOR_PREFIX, GENERATOR_EMA_PREFIX)
# Error messages list at most this many mismatching keys of each kind (the rest are counted), so they stay readable.
MAX_LISTED_KEYS = 8


class CheckpointError(RuntimeError):
    """A checkpoint or export cannot be used; the message names the file, the problem and the fix."""


class CorruptCheckpointError(CheckpointError):
    """The file is not a readable torch file (truncated, overwritten, or something else entirely)."""


class NotAGANCheckpointError(CheckpointError):
    """The file is a readable torch file but not one this project wrote."""


class ArchitectureMismatchError(CheckpointError):
    """The checkpoint's networks do not fit the networks the current config builds."""


# ---------------------------------------------------------------------------------------------------- reading
def read_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict[str, Any]:
    """The dict stored at `path`, loaded without running code from the file; clear errors for bad files."""
    path = Path(path)
    if not path.is_file():
        hint = " (it is a directory: pass the .ckpt file inside it)" if path.is_dir() else ""
        raise FileNotFoundError(f"no checkpoint at {path}{hint}; check the path (runs keep theirs in checkpoints/)")
    try:
        loaded = torch.load(path, map_location=map_location or "cpu", weights_only=True)
    except Exception as error:
        # "Unsupported global": a well-formed pickle naming Python classes or functions (code would run on load).
        # Other weights-only failures ("Unsupported operand" ...) come from bytes that are no pickle at all.
        reason = _load_failure_reason(error)
        if "unsupported global" in reason.lower():
            raise NotAGANCheckpointError(
                f"{path} is a pickle that names Python code ({reason}), so it was not written by this project (our "
                "checkpoints and exports hold only tensors, numbers and strings). Opening it would run that code; "
                "refused. Use a checkpoint written by gan-train or an export from gan-export."
            ) from error
        raise CorruptCheckpointError(
            f"{path} is not a readable checkpoint ({reason}). It is truncated "
            f"or damaged ({path.stat().st_size} bytes). Use another checkpoint of the run (checkpoints/last.ckpt is "
            "written atomically and is complete even after a crash) or re-export it."
        ) from error
    if not isinstance(loaded, dict):
        raise NotAGANCheckpointError(
            f"{path} holds a {type(loaded).__name__}, not a checkpoint dict; pass a training checkpoint (.ckpt) or "
            "an export from `gan-export`."
        )
    return loaded


def checkpoint_kind(checkpoint: Mapping[str, Any], path: Any = "checkpoint") -> str:
    """"training" (full Lightning checkpoint from gan-train) or "export" (G_ema only), else a clear error."""
    if checkpoint.get("format") == EXPORT_FORMAT:
        version = checkpoint.get("format_version")
        if version != EXPORT_FORMAT_VERSION:
            raise NotAGANCheckpointError(
                f"{path} is a {EXPORT_FORMAT} export of format version {version}; this code reads version "
                f"{EXPORT_FORMAT_VERSION}. Re-export it from its training checkpoint with this version of gan."
            )
        return "export"
    if "state_dict" in checkpoint and "gan_config" in checkpoint:
        return "training"
    keys = ", ".join(sorted(map(str, checkpoint))[:MAX_LISTED_KEYS]) or "none"
    what = "a Lightning checkpoint of another project" if "state_dict" in checkpoint else "not a GAN checkpoint"
    raise NotAGANCheckpointError(
        f"{path} is {what} (top-level keys: {keys}); gan checkpoints have 'state_dict' and 'gan_config', exports have "
        f"format={EXPORT_FORMAT!r}. Pass a checkpoint written by gan-train (a run's checkpoints/last.ckpt or "
        "best.ckpt) or an export from `gan-export`."
    )


def _load_failure_reason(error: BaseException) -> str:
    """What torch.load found wrong, without its advice to retry with weights_only=False (which would run the code)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    for line in lines:
        if "unsupported" in line.lower():
            return line
    return f"{type(error).__name__}: {_first_line(error)}"


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else "no message"


def resolve_checkpoint_path(value: str | os.PathLike, key: str, which: str = "last") -> Path:
    """A checkpoint file given directly or as a run directory (its checkpoints/<which>.ckpt); `key` names the setting.

    which: "last" (the end of training, or where it stopped) or "best" (the best evaluation by the metrics group's
    monitor, e.g. lowest FID; a run without metrics has none). Only used for a directory: a file is taken as given.
    """
    if which not in ("last", "best"):
        raise ValueError(f"which={which!r}: choose last or best")
    path = Path(value).expanduser()
    if path.is_dir():
        for candidate in (path / "checkpoints" / f"{which}.ckpt", path / f"{which}.ckpt"):
            if candidate.is_file():
                return candidate
        hint = (" (best.ckpt is written only by runs with metrics: pick which=last)" if which == "best" else "")
        raise FileNotFoundError(f"{key}={value} is a directory without checkpoints/{which}.ckpt{hint}; pass a "
                                "checkpoint file or a run directory of gan-train")
    if not path.is_file():
        raise FileNotFoundError(f"{key}={value}: no such file; pass a checkpoint file (e.g. <run>/checkpoints/"
                                "last.ckpt) or a run directory")
    return path


# ---------------------------------------------------------------------------------------------------- checking
def describe_config(config: Mapping[str, Any] | None) -> str:
    """One line naming the settings that shape the networks, for error messages."""
    if not config:
        return "no config stored"
    model, data = config.get("model", {}), config.get("data", {})
    parts = [f"model={model.get('name')}", f"latent_dim={model.get('latent_dim')}",
             f"num_classes={model.get('num_classes')}"]
    if model.get("latent_codes"):
        parts.append(f"latent_codes={model['latent_codes']}")
    for net in ("generator", "discriminator"):
        if isinstance(model.get(net), Mapping) and "width" in model[net]:
            parts.append(f"{net}.width={model[net]['width']}")
    parts += [f"data={data.get('name')}", f"resolution={data.get('resolution')}", f"channels={data.get('channels')}"]
    return " ".join(parts)


def config_differences(found: Mapping[str, Any] | None, expected: Mapping[str, Any] | None) -> list[str]:
    """`key: checkpoint X, now Y` for every network-shaping setting (model.*, data shape) that differs."""
    if not found or not expected:
        return []
    flat_found, flat_expected = _flatten(_shape_settings(found)), _flatten(_shape_settings(expected))
    return [f"{key}: checkpoint {flat_found.get(key)!r}, now {flat_expected.get(key)!r}"
            for key in sorted(flat_found.keys() | flat_expected.keys())
            if flat_found.get(key) != flat_expected.get(key)]


def _shape_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    data = config.get("data", {}) or {}
    return {"model": config.get("model", {}) or {},
            "data": {key: data.get(key) for key in ("name", "resolution", "channels")}}


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def check_state_dict(
    expected: Mapping[str, Tensor],
    found: Mapping[str, Tensor],
    *,
    path: Any,
    found_config: Mapping[str, Any] | None,
    expected_config: Mapping[str, Any] | None = None,
) -> None:
    """Raise `ArchitectureMismatchError` naming missing, unexpected and differently shaped tensors, and the configs."""
    missing = sorted(expected.keys() - found.keys())
    unexpected = sorted(found.keys() - expected.keys())
    reshaped = [f"{key} {tuple(found[key].shape)} in the checkpoint vs {tuple(expected[key].shape)} now"
                for key in sorted(expected.keys() & found.keys()) if found[key].shape != expected[key].shape]
    if not (missing or unexpected or reshaped):
        return
    lines = [f"{path} does not fit the networks of the current config:"]
    for title, items in (("shape mismatches", reshaped), ("missing from the checkpoint", missing),
                         ("only in the checkpoint", unexpected)):
        if items:
            more = f" (+{len(items) - MAX_LISTED_KEYS} more)" if len(items) > MAX_LISTED_KEYS else ""
            lines.append(f"  {title}: {'; '.join(items[:MAX_LISTED_KEYS])}{more}")
    lines.append(f"  the checkpoint was made by: {describe_config(found_config)}")
    differences = config_differences(found_config, expected_config)
    if differences:
        lines.append(f"  settings that differ: {'; '.join(differences[:MAX_LISTED_KEYS])}")
    lines.append("Fix: use the same model and data settings as the run that wrote it (its .hydra/overrides.yaml "
                 "lists them), or pass a checkpoint of this architecture.")
    raise ArchitectureMismatchError("\n".join(lines))


def network_tensors(state_dict: Mapping[str, Tensor],
                    prefixes: tuple[str, ...] = NETWORK_PREFIXES) -> dict[str, Tensor]:
    """The entries of G, D and G_ema (counters and other buffers of the module left out)."""
    return {key: value for key, value in state_dict.items() if key.startswith(prefixes)}


# ---------------------------------------------------------------------------------------------------- loading
@dataclass
class LoadedGenerator:
    """G_ema rebuilt from a training checkpoint or an export, with what sampling records about its origin."""

    generator: nn.Module
    config: dict[str, Any]
    path: Path
    sha256: str
    kind: str  # "training" or "export"
    global_step: int | None
    g_steps: int | None
    # The training checkpoint the weights come from (for an export: the one it was exported from).
    source_sha256: str | None = None

    @property
    def latent_dim(self) -> int:
        return int(self.generator.latent_dim)

    @property
    def num_classes(self) -> int:
        return int(getattr(self.generator, "num_classes", 0))

    @property
    def latent_codes(self) -> int:
        """Categories of the code drawn from z (gan.nets.dcgan.latent_code); 0 for a generator without them."""
        return int(getattr(self.generator, "latent_codes", 0))


def build_generator(config: Mapping[str, Any]) -> nn.Module:
    """A fresh generator as `config` (a stored, resolved training config) describes it."""
    from hydra.utils import instantiate

    try:
        return instantiate(config["model"]["generator"])
    except KeyError as error:
        raise NotAGANCheckpointError(f"the stored config has no model.generator ({error}); it was not written by "
                                     "gan-train") from error


def generator_state(checkpoint: Mapping[str, Any], path: Any) -> dict[str, Tensor]:
    """G_ema's weights, named as in the generator module itself, from a checkpoint of either kind."""
    if checkpoint_kind(checkpoint, path) == "export":
        return dict(checkpoint["state_dict"])
    state = checkpoint["state_dict"]
    ema = {key[len(GENERATOR_EMA_PREFIX):]: value for key, value in state.items()
           if key.startswith(GENERATOR_EMA_PREFIX)}
    if not ema:
        raise NotAGANCheckpointError(f"{path} has no {GENERATOR_EMA_PREFIX}* weights; it was not written by gan-train")
    return ema


def load_generator(path: str | os.PathLike, device: str | torch.device = "cpu") -> LoadedGenerator:
    """G_ema from a training checkpoint or an export, in eval mode on `device`, checked against its stored config."""
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={device} but torch finds no CUDA GPU on this machine; pass device=cpu")
    path = Path(path)
    checkpoint = read_checkpoint(path)
    kind = checkpoint_kind(checkpoint, path)
    config = dict(checkpoint["gan_config"] or {})
    generator = build_generator(config)
    state = generator_state(checkpoint, path)
    check_state_dict(generator.state_dict(), state, path=path, found_config=config)
    generator.load_state_dict(state)
    generator.to(device).eval().requires_grad_(False)
    sha256 = file_sha256(path)
    if kind == "export":
        source = checkpoint.get("source", {})
        global_step, g_steps, source_sha256 = source.get("global_step"), source.get("g_steps"), source.get("sha256")
    else:
        state = checkpoint["state_dict"]
        global_step, source_sha256 = checkpoint.get("global_step"), sha256
        g_steps = int(state["g_steps"]) if "g_steps" in state else None
    return LoadedGenerator(generator=generator, config=config, path=path, sha256=sha256, kind=kind,
                           global_step=global_step, g_steps=g_steps, source_sha256=source_sha256)


def load_pretrained_weights(module: nn.Module, path: str | os.PathLike,
                            expected_config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Copy G, D and G_ema from a training checkpoint into `module` (fine-tuning's starting point).

    Optimiser state, step counters and RNG state are not taken: the new run starts its own schedule at step 0.
    Returns the checkpoint's config, for the record.
    """
    path = Path(path)
    checkpoint = read_checkpoint(path)
    if checkpoint_kind(checkpoint, path) != "training":
        raise NotAGANCheckpointError(
            f"init_from={path} is an export (G_ema only); fine-tuning needs the discriminator too. Pass the full "
            "training checkpoint (checkpoints/last.ckpt or best.ckpt of the source run)."
        )
    found = network_tensors(checkpoint["state_dict"])
    expected = network_tensors(module.state_dict())
    check_state_dict(expected, found, path=path, found_config=checkpoint["gan_config"], expected_config=expected_config)
    # strict=False only because counters and other module buffers are deliberately not copied; the check above has
    # already proven every network tensor present with the right shape.
    result = module.load_state_dict(found, strict=False)
    if result.unexpected_keys:
        raise ArchitectureMismatchError(f"unexpected keys while loading {path}: {result.unexpected_keys}")
    return dict(checkpoint["gan_config"] or {})

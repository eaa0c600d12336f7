"""Blend two generators of one architecture into a new one: layer swapping by resolution, a global alpha, or both.

    gan-blend A B -o blend.pt [--swap-resolution R] [--alpha a] [--ramp-width k] [--mapping a|b|alpha]

The method is Pinkney & Adler 2020 ("Resolution dependent GAN interpolation for controllable image synthesis between
domains"): A and B are typically a model and its fine-tune (e.g. digits, then textures via `init_from=`), so their
weights still correspond layer by layer. In a style-based generator each synthesis block acts at one side (4, 8, ...,
R_out), and coarse sides decide layout and shape while fine sides decide texture and colour. Taking the coarse blocks
from A and the fine ones from B draws A's structure in B's style.

The rule, one number per tensor: blended = (1 - t) * A + t * B, with t the weight of B.
- Synthesis tensors (parameters and floating buffers such as noise_const) at side `res` (the generator's
  `resolution_of_parameter`): t(res) = alpha * s(res), where s is the swap step
      s(res) = 1                                            without --swap-resolution (a global alpha)
      s(res) = clip((log2 res - log2 R) / (k + 1), 0, 1)    with --swap-resolution R and --ramp-width k (levels)
  so k = 0 is the hard swap (sides <= R from A, above R from B) and k > 0 spreads the change over k more levels
  (k = 1 at R = 8: side 16 takes 0.5 of B, 32 and above all of B). alpha (default 1) scales B's share everywhere.
- The mapping network and w_avg (resolution None: they act before any layer) come from A by default: the blend is
  drawn with A's w space, the one its coarse layers were trained to read, and Pinkney & Adler swap synthesis layers
  only (their code clones the coarse model, mapping included). `mapping="b"` takes them from B; `mapping="alpha"`
  blends them with the global alpha, so alpha 1 with it reproduces B exactly and alpha 0 reproduces A.
- Integer buffers (counters) are copied from A.
- Generators without `resolution_of_parameter` (DCGAN, ResNet) have no levels: only a global alpha applies to every
  floating tensor; a swap, a ramp or a mapping choice is refused for them.
t = 0 and t = 1 copy the parent's tensor, so alpha 0 gives A's pixels and alpha 1 (mapping b or alpha) B's, bit for bit.

The result is an ordinary export (`gan-sample ckpt=blend.pt`, `gan.load`): A's config rebuilds the network, and the
record of the blend (both parents' paths and sha256, the settings and the command that remakes it) is stored twice:
at the top level (`blend`) and under the config's `blend` key, which gan-sample copies into every PNG
(`gan:model_config`), so images drawn from the blend name both parents.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

import gan
from gan.io import atomic_torch_save, file_sha256
from gan.sample.export import refuse_to_overwrite_training_state
from gan.train.checkpoints import (
    EXPORT_FORMAT,
    EXPORT_FORMAT_VERSION,
    ArchitectureMismatchError,
    build_generator,
    check_state_dict,
    checkpoint_kind,
    generator_state,
    load_generator,
    read_checkpoint,
    resolve_checkpoint_path,
)

MAPPING_CHOICES = ("a", "b", "alpha")
# The config key (and export key) holding the blend record.
BLEND_KEY = "blend"


@dataclass(frozen=True)
class BlendSettings:
    """alpha: B's share (scaled by the swap step); swap_resolution: the last side taken wholly from A (None: no swap);
    ramp_width: levels over which the swap goes from A to B; mapping: where mapping and w_avg come from (None: "a")."""

    alpha: float = 1.0
    swap_resolution: int | None = None
    ramp_width: int = 0
    mapping: str | None = None

    def check(self) -> None:
        if not (isinstance(self.alpha, int | float) and 0.0 <= self.alpha <= 1.0):  # also refuses NaN
            raise ValueError(f"alpha={self.alpha}: must be in [0, 1] (0: all A, 1: all B)")
        if not isinstance(self.ramp_width, int) or self.ramp_width < 0:
            raise ValueError(f"ramp_width={self.ramp_width}: must be an integer >= 0 (levels; 0 is the hard swap)")
        if self.ramp_width and self.swap_resolution is None:
            raise ValueError(f"ramp_width={self.ramp_width} needs swap_resolution (the ramp starts above it)")
        if self.mapping is not None and self.mapping not in MAPPING_CHOICES:
            raise ValueError(f"mapping={self.mapping!r}: choose one of {', '.join(MAPPING_CHOICES)}")


def is_style_based(generator: nn.Module) -> bool:
    return callable(getattr(generator, "resolution_of_parameter", None))


def swap_step(resolution: int, settings: BlendSettings) -> float:
    """s(res): 0 at and below the swap resolution, 1 from k + 1 levels above it, linear in levels between."""
    if settings.swap_resolution is None:
        return 1.0
    levels_above = math.log2(resolution) - math.log2(settings.swap_resolution)
    return min(1.0, max(0.0, levels_above / (settings.ramp_width + 1)))


def level_weight(resolution: int | None, settings: BlendSettings) -> float:
    """t: B's share of a tensor acting at side `resolution` (None: the mapping network and w_avg)."""
    if resolution is None:
        return {"a": 0.0, "b": 1.0, "alpha": float(settings.alpha)}[settings.mapping or "a"]
    return float(settings.alpha) * swap_step(resolution, settings)


def blend_weights(generator: nn.Module, state: Mapping[str, Tensor], settings: BlendSettings) -> dict[str, float]:
    """t per floating tensor of `state`, from the generator's levels (style-based) or alpha alone (others)."""
    settings.check()
    floating = [name for name, value in state.items() if torch.is_floating_point(value)]
    if not is_style_based(generator):
        if settings.swap_resolution is not None or settings.mapping is not None:
            raise ValueError(f"{type(generator).__name__} is not style-based (no resolution_of_parameter), so it has "
                             "no levels to swap and no mapping network: blend it with a global alpha only (drop "
                             "swap_resolution, ramp_width and mapping)")
        return {name: float(settings.alpha) for name in floating}
    if settings.swap_resolution is not None:
        levels = sorted({r for r in getattr(generator, "ws_resolutions", [])})
        if levels and settings.swap_resolution not in levels:
            raise ValueError(f"swap_resolution={settings.swap_resolution}: this generator's levels are "
                             f"{', '.join(map(str, levels))}; choose one of them (the last side taken from A)")
    return {name: level_weight(generator.resolution_of_parameter(name), settings) for name in floating}


def blend_state_dicts(state_a: Mapping[str, Tensor], state_b: Mapping[str, Tensor],
                      weights: Mapping[str, float]) -> dict[str, Tensor]:
    """(1 - t) A + t B per tensor (t = weights[name]); t 0 or 1 copies a parent exactly; names without a weight
    (integer buffers) are copied from A. The two dicts must hold the same names and shapes."""
    if state_a.keys() != state_b.keys():
        raise ArchitectureMismatchError(f"the parents' tensors differ: only in A {sorted(state_a.keys() - state_b)}, "
                                        f"only in B {sorted(state_b.keys() - state_a)}")
    blended: dict[str, Tensor] = {}
    for name, a in state_a.items():
        b, t = state_b[name], weights.get(name)
        if t is None or t == 0.0:
            blended[name] = a.clone()
        elif t == 1.0:
            blended[name] = b.clone()
        else:
            blended[name] = ((1.0 - t) * a + t * b).to(a.dtype)
    return blended


# ---------------------------------------------------------------------------------------------------- files
@dataclass
class Parent:
    """A parent as read: its resolved file, G_ema's weights and the config that rebuilds it."""

    path: Path
    kind: str
    state: dict[str, Tensor]
    config: dict[str, Any]
    sha256: str
    global_step: int | None

    def record(self) -> dict[str, Any]:
        return {"path": str(self.path.resolve()), "sha256": self.sha256, "kind": self.kind,
                "global_step": self.global_step}


def read_parent(value: str | Path, key: str, which: str = "last") -> Parent:
    """A training checkpoint, a run directory (its checkpoints/<which>.ckpt) or an export, read for blending."""
    path = resolve_checkpoint_path(value, key, which)
    loaded = read_checkpoint(path)
    kind = checkpoint_kind(loaded, path)
    step = loaded.get("source", {}).get("global_step") if kind == "export" else loaded.get("global_step")
    return Parent(path=path, kind=kind, state=generator_state(loaded, path), config=dict(loaded["gan_config"] or {}),
                  sha256=file_sha256(path), global_step=step)


def check_same_architecture(a: Parent, b: Parent, generator: nn.Module) -> None:
    """Both parents fit the network A's config builds (names and shapes), and name the same generator class."""
    target_a = a.config.get("model", {}).get("generator", {}).get("_target_")
    target_b = b.config.get("model", {}).get("generator", {}).get("_target_")
    if target_a != target_b:
        raise ArchitectureMismatchError(f"cannot blend different generators: {a.path} is {target_a}, {b.path} is "
                                        f"{target_b}; blend a model with its fine-tune (same model settings)")
    expected = generator.state_dict()
    check_state_dict(expected, a.state, path=a.path, found_config=a.config)
    check_state_dict(expected, b.state, path=b.path, found_config=b.config, expected_config=a.config)


class BlendTargetError(ValueError):
    """The output path would replace a parent or a training checkpoint (a ValueError: the CLIs report it cleanly)."""


def refuse_to_overwrite_inputs(target: Path, parents: list[Parent]) -> None:
    for parent in parents:
        if target.resolve() == parent.path.resolve() or (target.exists() and target.samefile(parent.path)):
            raise BlendTargetError(f"blend target {target} is the parent {parent.path}; writing it would destroy an "
                                   "input. Choose another -o path.")
    try:
        refuse_to_overwrite_training_state(target)
    except FileExistsError as error:  # not among the errors clean_errors reports; the message already has the fix
        raise BlendTargetError(str(error)) from error


def remake_command(a: Parent, b: Parent, target: Path, settings: BlendSettings) -> str:
    parts = ["gan-blend", str(a.path.resolve()), str(b.path.resolve()), "-o", str(target.resolve()),
             "--alpha", repr(float(settings.alpha))]
    if settings.swap_resolution is not None:
        parts += ["--swap-resolution", str(settings.swap_resolution), "--ramp-width", str(settings.ramp_width)]
    if settings.mapping is not None:
        parts += ["--mapping", settings.mapping]
    return shlex.join(parts)


def blend_generators(a: str | Path, b: str | Path, out: str | Path, settings: BlendSettings,
                     which: str = "last", log: Callable[[str], None] | None = None) -> Path:
    """Write the blend of A's and B's G_ema as an export at `out`; returns its path."""
    settings.check()
    target = Path(out)
    parent_a, parent_b = read_parent(a, "A", which), read_parent(b, "B", which)
    refuse_to_overwrite_inputs(target, [parent_a, parent_b])
    generator = build_generator(parent_a.config)
    check_same_architecture(parent_a, parent_b, generator)
    weights = blend_weights(generator, parent_a.state, settings)
    state = blend_state_dicts(parent_a.state, parent_b.state, weights)
    record = {
        "method": "Pinkney & Adler 2020 layer swap: (1 - t) A + t B, t(res) = alpha * swap_step(res)",
        "parents": {"a": parent_a.record(), "b": parent_b.record()},
        "settings": asdict(settings),
        "command": remake_command(parent_a, parent_b, target, settings),
    }
    if is_style_based(generator):
        resolutions = sorted(set(generator.ws_resolutions))
        record["b_share_by_resolution"] = {str(r): level_weight(r, settings) for r in resolutions}
        record["b_share_mapping"] = level_weight(None, settings)
    payload = {
        "format": EXPORT_FORMAT,
        "format_version": EXPORT_FORMAT_VERSION,
        "state_dict": state,
        # A's config rebuilds the network; the blend record rides along in it, so gan-sample's PNGs carry it.
        "gan_config": {**parent_a.config, BLEND_KEY: record},
        # No single training checkpoint made these weights: the parents are in `blend`.
        "source": {"path": None, "sha256": None, "global_step": None, "g_steps": None},
        BLEND_KEY: record,
        "gan_version": gan.__version__,
    }
    atomic_torch_save(payload, target)
    load_generator(target)  # proves the file rebuilds its network before anyone relies on it
    if log is not None:
        if "b_share_by_resolution" in record:  # a StyleGAN: per synthesis side, and the mapping network
            log(f"B's share per side: {record['b_share_by_resolution']}; mapping and w_avg: "
                f"{record['b_share_mapping']}")
        else:
            log(f"B's share of every tensor: {settings.alpha}")
    return target

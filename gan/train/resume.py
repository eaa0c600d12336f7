"""Which settings a resumed run trains with: the checkpoint's own, changed only where the user says so explicitly.

`gan-train resume=<run>` alone continues the run as it was configured (its stored config), not with today's
defaults. A resume that would silently train something else than the run recorded (another loss, seed or learning
rate) makes the run's record lie, so a changed training setting is refused unless `resume_allow_changes=true`, and
then recorded in `.hydra/resumes.jsonl`. Settings that do not change what is trained (length, evaluation schedule,
logging, callbacks) may change freely: a longer run resumed from a finished one is the common case.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from omegaconf import DictConfig, OmegaConf

# Top-level keys whose values decide what is trained; changing one mid-run needs resume_allow_changes=true.
TRAINING_KEYS = ("data", "model", "loss", "optim", "augment", "seed", "speed")
# Nodes whose values are interpolations of others (conf/train.yaml): rebuilt from the composed config so they follow
# the resumed values instead of keeping the resolved ones stored in the checkpoint.
DERIVED_KEYS = ("module",)
MAX_LISTED = 12


class ResumeSettingsError(ValueError):
    """A resume would change training settings of the run without resume_allow_changes=true."""


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(tree, Mapping):
        return {prefix.rstrip("."): tree}
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        flat.update(_flatten(value, f"{prefix}{key}."))
    return flat


def setting_changes(stored: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """`key: checkpoint X, now Y` for every training setting (TRAINING_KEYS) that differs."""
    old = _flatten({key: stored.get(key) for key in TRAINING_KEYS})
    new = _flatten({key: current.get(key) for key in TRAINING_KEYS})
    return [f"{key}: checkpoint {old.get(key)!r}, now {new.get(key)!r}"
            for key in sorted(old.keys() | new.keys()) if old.get(key) != new.get(key)]


def check_changes(changes: Sequence[str], allowed: bool, resume: str) -> None:
    if changes and not allowed:
        listed = "\n  ".join(changes[:MAX_LISTED]) + (f"\n  (+{len(changes) - MAX_LISTED} more)"
                                                       if len(changes) > MAX_LISTED else "")
        raise ResumeSettingsError(
            f"resume={resume} would change how the run trains:\n  {listed}\n"
            f"Fix: resume with the run's own settings (gan-train resume={resume} alone takes them from the "
            "checkpoint; trainer.max_steps, eval_every_n_steps and logging may change), or pass "
            "resume_allow_changes=true to change them on purpose (recorded in the run's .hydra/resumes.jsonl)."
        )


def _override_key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def resumed_config(composed: DictConfig, stored: Mapping[str, Any], overrides: Sequence[str]) -> DictConfig:
    """The checkpoint's config with the command line's overrides applied (what `gan-train resume=... k=v` means).

    `composed` is what Hydra composed from the same command line; each overridden key (or config group) is taken from
    it. An override that names no key of the config (a preset: experiment=...) takes the whole composed config.
    """
    result = OmegaConf.create(dict(stored))
    for override in overrides:
        key = _override_key(override)
        if key.startswith("hydra"):
            continue
        if OmegaConf.select(composed, key, default=_MISSING) is _MISSING:
            return composed
        OmegaConf.update(result, key, OmegaConf.select(composed, key), merge=False, force_add=True)
    for key in DERIVED_KEYS:
        if key in composed:
            result[key] = OmegaConf.to_container(composed[key], resolve=False)
    result.resume = composed.resume
    result.resume_allow_changes = composed.get("resume_allow_changes", False)
    return result


_MISSING = object()


def check_steps_left(checkpoint: Mapping[str, Any], max_steps: int | None, resume: str) -> None:
    """Refuse a resume with nothing left to train: Lightning would start, stop at once and rewrite the finished run's
    status, summary and last.ckpt (its loader state reset), so a later extension would no longer replay exactly."""
    step = int(checkpoint.get("global_step") or 0)
    if max_steps is None or max_steps < 0 or step < max_steps:
        return
    raise ValueError(f"resume={resume}: the run is already at global step {step} and trainer.max_steps={max_steps}: "
                     f"nothing to train, and the finished run is left as it is. To extend it, pass a larger "
                     f"trainer.max_steps (e.g. trainer.max_steps={2 * max(step, 1)}); to score it: gan-eval "
                     f"ckpt={resume}")

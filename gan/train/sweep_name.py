"""A sweep job's name in TensorBoard: the settings the sweep varies, with this job's values (`loss=hinge,seed=1`).

`tensorboard --logdir multirun/<study>` names each run by its folder, and Hydra numbers a sweep's folders (0, 1, ...),
so every run was `0/tensorboard`, `1/tensorboard`. The job folder keeps its number (gan-compare, resume commands and
cluster scripts use it; a folder named by every override overflowed the 255-character limit with a dozen of them);
the TensorBoard logs go one level down, into a folder named by the swept keys alone. Those are read from the sweep's
own record, `multirun.yaml` (written by Hydra before any job starts): keys whose command-line value is a sweep
(`a,b`, `range(...)`, ...) and the keys of `hydra.sweeper.params` (the presets' sweeps, Optuna's search space). A
resumed job is named from its recorded overrides (`gan.train.rundir.recorded_overrides`), so it keeps writing where it
started.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

SWEEP_RECORD = "multirun.yaml"
# Hydra's sweep functions (override grammar): a value starting with one of these is swept
SWEEP_FUNCTIONS = ("range(", "choice(", "interval(", "glob(", "tag(", "sort(", "shuffle(")


def _is_sweep(value: str) -> bool:
    """A top-level comma (`a,b`; not one inside [..], {..}, (..) or quotes) or a sweep function."""
    if value.startswith(SWEEP_FUNCTIONS):
        return True
    depth, quote = 0, ""
    for char in value:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "[{(":
            depth += 1
        elif char in "]})":
            depth -= 1
        elif char == "," and depth == 0:
            return True
    return False


def _key_value(override: str) -> tuple[str, str] | None:
    if "=" not in override:
        return None
    key, value = override.split("=", 1)
    return key.lstrip("+~"), value


def swept_keys(sweep_record: Mapping[str, Any]) -> list[str]:
    """The keys a sweep varies, in command-line order, then those of hydra.sweeper.params."""
    hydra = sweep_record.get("hydra") or {}
    task = (hydra.get("overrides") or {}).get("task") or []
    keys = [kv[0] for kv in map(_key_value, task) if kv is not None and _is_sweep(kv[1])]
    params = (hydra.get("sweeper") or {}).get("params") or {}
    return keys + [key for key in params if key not in keys]


def sweep_job_name(run_dir: Path, overrides: Sequence[str]) -> str | None:
    """`key=value,...` of the swept keys for a job of a Hydra sweep (its parent folder holds multirun.yaml); None
    for a single run or a sweep whose keys this job does not set."""
    record = Path(run_dir).parent / SWEEP_RECORD
    if not record.is_file():
        return None
    keys = swept_keys(yaml.safe_load(record.read_text()) or {})
    values = dict(kv for kv in map(_key_value, overrides) if kv is not None)
    name = ",".join(f"{key}={values[key]}" for key in keys if key in values)
    return name.replace("/", "_") or None  # a / would nest folders

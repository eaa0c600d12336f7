"""A run directory belongs to one run: claimed atomically, never reused by another run, its record written last.

What this guards against, each seen in practice: a new run pointed at a finished run's directory replacing its
`last.ckpt` and `metrics.csv`; two runs started in the same second sharing `outputs/<exp>/<time>/` and interleaving
their rows; a failed resume overwriting the config and status of a finished run. So:

- a new run claims its directory by creating `status.json` exclusively (O_EXCL): of two processes racing for one
  directory exactly one wins, and a directory holding anything of a run is refused with the resume command;
- a resume may continue its own run's directory (not while that run is still alive) or start a fresh directory;
- the config record (`.hydra/config.yaml`, `.hydra/overrides.yaml`) is written by us, after every check has passed,
  not by Hydra at start-up (`hydra.output_subdir: null`), so a refused start touches nothing;
- temporary files of a writer that was killed mid-save (`.last.ckpt.<pid>.tmp`) are removed on the next start.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from omegaconf import OmegaConf

from gan.io import TEMP_SUFFIX, write_json_atomic, write_text_atomic

STATUS_FILE = "status.json"
RECORD_DIR = ".hydra"
CONFIG_FILE, OVERRIDES_FILE, RESUMES_FILE = "config.yaml", "overrides.yaml", "resumes.jsonl"
# Anything of these in a directory means a run has used it.
RUN_MARKERS = (STATUS_FILE, "metrics.csv", "checkpoints")
CHECKPOINT_DIR = "checkpoints"


class RunDirectoryError(ValueError):
    """The run directory cannot be used for this run; the message says why and what to run instead."""


def run_dir_of_checkpoint(path: str | os.PathLike) -> Path:
    """The run directory a checkpoint path or run directory belongs to (`<run>/checkpoints/last.ckpt` -> `<run>`)."""
    path = Path(path).expanduser()
    if path.is_dir():
        return path.parent if path.name == CHECKPOINT_DIR else path  # `<run>/checkpoints` (tab completion) -> `<run>`
    return path.parent.parent if path.parent.name == CHECKPOINT_DIR else path.parent


def resume_run_dir(resume: str | None, default: str) -> str:
    """Hydra resolver behind `hydra.run.dir`: a resumed run continues in its own directory unless one is named."""
    return str(run_dir_of_checkpoint(resume)) if resume else default


def read_status(run_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((run_dir / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return None


def _alive(status: dict[str, Any]) -> bool:
    """Whether the process recorded in a `running` status is still alive on this machine."""
    if status.get("state") not in ("starting", "running") or status.get("host") != socket.gethostname():
        return False
    pid = status.get("pid")
    return isinstance(pid, int) and pid != os.getpid() and _alive_pid(pid)


def _never_trained(status: dict[str, Any] | None) -> bool:
    return bool(status) and status.get("state") == "failed" and status.get("step") is None


def _used_by(run_dir: Path) -> list[str]:
    return [name for name in RUN_MARKERS if (run_dir / name).exists()]


def launch_rank() -> int:
    """This process's global rank as the launcher set it (torchrun, Lightning's DDP relaunch, SLURM); 0 otherwise.

    Known before the Trainer exists, so only one process claims the directory and writes its record.
    """
    for variable in ("RANK", "SLURM_PROCID", "LOCAL_RANK"):
        if os.environ.get(variable, "").isdigit():
            return int(os.environ[variable])
    return 0


def continues_run(run_dir: Path, resume: str | None) -> bool:
    """Whether this run resumes the run that owns `run_dir` (rather than starting or branching into a new one)."""
    return bool(resume) and Path(run_dir).resolve() == run_dir_of_checkpoint(resume).resolve()


def claim(run_dir: Path, resume: str | None) -> bool:
    """Make `run_dir` this run's, or raise RunDirectoryError. Returns True when it continues an existing run."""
    run_dir = Path(run_dir)
    if continues_run(run_dir, resume):
        if not _used_by(run_dir):
            # A checkpoint outside any run directory (copied out of one, say): its folder would become a run
            # directory, with the config record, metrics and checkpoints written among unrelated files.
            raise RunDirectoryError(f"resume={resume}: {run_dir} is not a run directory (no status.json, metrics.csv "
                                    "or checkpoints/). To continue training from this checkpoint, give it a directory "
                                    f"of its own: gan-train resume={resume} hydra.run.dir=<new empty dir>")
        status = read_status(run_dir)
        if status and _alive(status):
            raise RunDirectoryError(f"{run_dir} is in use by a running process (pid {status['pid']}, state "
                                    f"{status['state']}); wait for it to stop, or stop it first (SIGTERM saves a "
                                    "checkpoint), then resume.")
        return True
    used = _used_by(run_dir)
    if used == [STATUS_FILE] and _never_trained(read_status(run_dir)):
        # A run that failed before it trained (a bad value, a missing file) left only its status: nothing to keep,
        # and "resume it" would be a dead end (no checkpoint). The corrected command takes the directory.
        (run_dir / STATUS_FILE).unlink(missing_ok=True)  # two such starts: the exclusive create below decides
        used = []
    if used:
        raise RunDirectoryError(
            f"{run_dir} already holds a run ({', '.join(used)}); a run directory belongs to one run, and starting "
            f"another there would replace its checkpoints and metrics. To continue that run: gan-train "
            f"resume={run_dir}. To start a new run, leave hydra.run.dir unset (every run gets its own directory) or "
            "name an empty one."
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(run_dir / STATUS_FILE, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError as error:
        raise RunDirectoryError(f"another run claimed {run_dir} at the same instant; start this one again (it will "
                                "get its own directory)") from error
    with os.fdopen(fd, "w") as handle:
        json.dump(status_record("starting"), handle)
    return False


def status_record(state: str, message: str = "", step: int | None = None, elapsed_s: float | None = None,
                  **extra: Any) -> dict[str, Any]:
    return {"state": state, "message": message, "step": step, "elapsed_s": elapsed_s, "pid": os.getpid(),
            "host": socket.gethostname(), "time": time.strftime("%Y-%m-%dT%H:%M:%S"), **extra}


def write_status(run_dir: Path, state: str, message: str = "", **fields: Any) -> None:
    write_json_atomic(Path(run_dir) / STATUS_FILE, status_record(state, message, **fields))


def remove_stale_temporaries(run_dir: Path) -> list[Path]:
    """Delete `.<name>.<pid>.tmp` files left by writers that no longer run (a kill mid-save); returns them."""
    removed = []
    for tmp in Path(run_dir).rglob(f".*{TEMP_SUFFIX}"):
        pid_text = tmp.name[: -len(TEMP_SUFFIX)].rsplit(".", 1)[-1]
        if pid_text.isdigit() and int(pid_text) != os.getpid() and not _alive_pid(int(pid_text)):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def _alive_pid(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recorded_overrides(run_dir: Path) -> list[str] | None:
    """The overrides a run started with (its `.hydra/overrides.yaml`, written by `write_record`), or None before its
    first start."""
    path = Path(run_dir) / RECORD_DIR / OVERRIDES_FILE
    return list(yaml.safe_load(path.read_text()) or []) if path.is_file() else None


def write_record(run_dir: Path, config: dict[str, Any], overrides: Sequence[str], continuing: bool,
                 changes: Sequence[str] = ()) -> None:
    """The run's config record: config.yaml always (what this process trains with); overrides.yaml when the run
    starts; on resume one line per resume in resumes.jsonl (its overrides and the accepted changes)."""
    record = Path(run_dir) / RECORD_DIR
    record.mkdir(parents=True, exist_ok=True)
    write_text_atomic(record / CONFIG_FILE, OmegaConf.to_yaml(OmegaConf.create(config)))
    if not continuing or not (record / OVERRIDES_FILE).exists():
        write_text_atomic(record / OVERRIDES_FILE, OmegaConf.to_yaml(OmegaConf.create(list(overrides))))
    if continuing:
        line = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "overrides": list(overrides), "changes": list(changes)}
        with open(record / RESUMES_FILE, "a") as handle:
            handle.write(json.dumps(line) + "\n")

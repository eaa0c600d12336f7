"""Reading run directories (README.md, "The run directory"): config, overrides, status and evaluation rows.

A run directory has `.hydra/config.yaml`, or only `status.json` (a run refused before training records no config); a
sweep directory (`multirun/...`) holds run directories below it. Nothing here decides what is comparable: that is
`gan.compare.table`. A run that cannot be read fully is still returned, with
`problems` saying what is wrong, so the report can list it instead of dropping it.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from omegaconf import OmegaConf

from gan.train import rundir

# the run-directory record, as gan/train/rundir.py writes it
CONFIG_FILE = Path(rundir.RECORD_DIR) / rundir.CONFIG_FILE
OVERRIDES_FILE = Path(rundir.RECORD_DIR) / rundir.OVERRIDES_FILE
STATUS_FILE = "status.json"
METRICS_FILE = "metrics.csv"

# Bookkeeping columns of an evaluation row: never metrics to compare.
NON_METRIC_COLUMNS = frozenset({"global_step", "step", "epoch", "elapsed_s", "eval_s", "protocol"})

# Config keys added after runs had been made: key -> (a key every run of before had in the same place, the value that
# gives what those runs trained with). A run whose config has the anchor but not the key gets that value, so a study
# that mixes runs from before and after the key does not split on it. Only keys whose old behaviour is one value
# belong here; conf/train.yaml's oc.select defaults give resume the same values (tests/test_compare.py checks both).
KEYS_ADDED_LATER: dict[str, tuple[str, Any]] = {
    "optim.lr_decay.end": ("optim.lr_decay.start", 1.0),
    "module.lr_decay_end": ("module.lr_decay_start", 1.0),
    "loss.r1_decay.start": ("loss.r1_weight", 1.0),
    "loss.r1_decay.end": ("loss.r1_weight", 1.0),
    "module.r1_decay_start": ("module.r1_weight", 1.0),
    "module.r1_decay_end": ("module.r1_weight", 1.0),
    "loss.top_k.final": ("loss.r1_weight", 1.0),
    "loss.top_k.start": ("loss.r1_weight", 0.0),
    "loss.top_k.end": ("loss.r1_weight", 1.0),
    "module.top_k_final": ("module.r1_weight", 1.0),
    "module.top_k_start": ("module.r1_weight", 0.0),
    "module.top_k_end": ("module.r1_weight", 1.0),
    # embed_dim: only the DCGAN generator has it (and only DCGAN has latent codes), so runs of the other models,
    # whose configs never have these keys, are not reported as predating them
    "model.latent_codes": ("model.generator.embed_dim", 0),
    "model.generator.latent_codes": ("model.generator.embed_dim", 0),
}


@dataclass
class EvalRow:
    """One evaluation of a run: `global_step`, seconds since fit start, the protocol id and the metric values."""

    global_step: int
    elapsed_s: float
    protocol: str
    values: dict[str, float]


@dataclass
class Run:
    path: Path
    config: dict[str, Any] = field(default_factory=dict)  # flattened: dotted key -> value
    overrides: list[str] = field(default_factory=list)
    state: str = "unknown"  # status.json state: running | finished | failed; "unknown" if there is no status.json
    message: str = ""
    status_step: int | None = None
    status_elapsed_s: float | None = None
    rows: list[EvalRow] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # why the run cannot go into the table (empty: it can)
    filled: list[str] = field(default_factory=list)  # KEYS_ADDED_LATER given their old value (the run predates them)

    @property
    def seed(self) -> Any:
        return self.config.get("seed")

    @property
    def protocols(self) -> list[str]:
        return sorted({row.protocol for row in self.rows})


def _natural_key(path: Path) -> list[Any]:
    # multirun job folders are 0, 1, ..., 10: sort 10 after 9, not after 1
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(path))]


def find_run_dirs(paths: list[str | Path]) -> list[Path]:
    """Run directories named by `paths`: each is a run directory or a folder (a sweep) with run directories below it."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.is_dir():
            raise FileNotFoundError(f"{path} is not a directory; pass run directories (with .hydra/config.yaml or "
                                    "status.json) or sweep directories (multirun/<name>/<time>) that contain them")
        if _is_run_dir(path):
            found.append(path)
            continue
        # A sweep job refused before training (a bad value for one combination) has status.json with the reason and
        # no config record: listed too, so a comparison never drops a failed job without a word.
        below = {config.parent.parent for config in path.rglob(str(CONFIG_FILE))}
        below |= {status.parent for status in path.rglob(STATUS_FILE)}
        if not below:
            raise FileNotFoundError(f"no run directories under {path}: a run directory has {CONFIG_FILE} or "
                                    f"{STATUS_FILE}. Pass the folder gan-train printed ('Results in ...'), or a "
                                    "multirun sweep folder")
        found += sorted(below, key=_natural_key)
    unique: list[Path] = []
    for path in found:
        if path.resolve() not in {p.resolve() for p in unique}:
            unique.append(path)
    return unique


def _is_run_dir(path: Path) -> bool:
    return (path / CONFIG_FILE).is_file() or (path / STATUS_FILE).is_file()


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts to dotted keys; lists become their JSON text so that they compare and print as one value."""
    if isinstance(node, dict):
        flat: dict[str, Any] = {}
        for key, value in node.items():
            flat.update(flatten(value, f"{prefix}{key}."))
        return flat
    if isinstance(node, list):
        return {prefix[:-1]: json.dumps(node)}
    return {prefix[:-1]: node}


def _read_config(path: Path) -> dict[str, Any]:
    # Hydra saves config.yaml with interpolations unresolved (e.g. ${data.channels}); resolve them so that two runs
    # whose values agree compare equal. A config that does not resolve is compared as written.
    conf = OmegaConf.load(path)
    try:
        return flatten(OmegaConf.to_container(conf, resolve=True))
    except Exception:  # noqa: BLE001 - any resolver failure: fall back to the text as written
        return flatten(OmegaConf.to_container(conf, resolve=False))


def fill_keys_added_later(config: dict[str, Any]) -> list[str]:
    """Give a flattened config from before a key existed that key's old value (KEYS_ADDED_LATER); the keys filled."""
    filled = []
    for key, (anchor, value) in KEYS_ADDED_LATER.items():
        if key not in config and anchor in config:
            config[key] = value
            filled.append(key)
    return filled


def _number(text: str | None) -> float | None:
    if text is None or text.strip() == "":
        return None
    try:
        return float(text)
    except ValueError:
        return None


class BrokenMetricsError(ValueError):
    """metrics.csv cannot be read as a whole: not text, not CSV, or cut off in the middle of a row."""


def read_eval_rows(metrics_csv: Path) -> list[EvalRow]:
    """The evaluation rows of a Lightning metrics.csv: those with a non-empty `protocol` (training rows have none).

    Raises BrokenMetricsError for a file that is not UTF-8 CSV or ends in a partial row (a writer killed mid-line):
    such a run is listed as broken rather than read as if complete.
    """
    try:
        text = metrics_csv.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise BrokenMetricsError(f"{metrics_csv.name} is not UTF-8 text ({error.reason} at byte "
                                 f"{error.start})") from error
    if text and not text.endswith("\n"):
        raise BrokenMetricsError(f"{metrics_csv.name} ends in the middle of a row (the writer was stopped while "
                                 "writing it); its last row is incomplete")
    rows: list[EvalRow] = []
    try:
        records = list(csv.DictReader(io.StringIO(text)))
    except csv.Error as error:
        raise BrokenMetricsError(f"{metrics_csv.name} is not valid CSV: {error}") from error
    for line, record in enumerate(records, start=2):
        if None in record or None in record.values():
            raise BrokenMetricsError(f"{metrics_csv.name} line {line} has {'more' if None in record else 'fewer'} "
                                     "fields than its header")
        protocol = (record.get("protocol") or "").strip()
        if not protocol:
            continue
        step = _number(record.get("global_step"))
        if step is None:
            step = _number(record.get("step"))
        values = {}
        for key, cell in record.items():
            value = _number(cell)
            if key is not None and key not in NON_METRIC_COLUMNS and value is not None:
                values[key] = value
        elapsed = _number(record.get("elapsed_s"))
        rows.append(EvalRow(global_step=int(step) if step is not None else -1,
                            elapsed_s=elapsed if elapsed is not None else math.nan,
                            protocol=protocol, values=values))
    rows.sort(key=lambda row: row.global_step)
    return rows


def load_run(path: Path) -> Run:
    """Everything gan-compare needs from one run directory; what is missing or broken goes into `problems`."""
    run = Run(path=path)
    # gan-train writes the config record after its checks: a run without one failed them or is still starting
    has_config = (path / CONFIG_FILE).is_file()
    if has_config:
        try:
            run.config = _read_config(path / CONFIG_FILE)
            run.filled = fill_keys_added_later(run.config)
        except Exception as error:  # noqa: BLE001 - a broken config is reported, not fatal for the whole comparison
            run.problems.append(f"unreadable {CONFIG_FILE}: {error}")
    try:
        run.overrides = [str(o) for o in (rundir.recorded_overrides(path) or [])]
    except yaml.YAMLError as error:
        run.problems.append(f"unreadable {OVERRIDES_FILE}: {error}")

    status_path = path / STATUS_FILE
    if status_path.is_file():
        try:
            status = json.loads(status_path.read_text())
            run.state = str(status.get("state", "unknown"))
            run.message = str(status.get("message", "") or "")
            run.status_step = status.get("step")
            run.status_elapsed_s = status.get("elapsed_s")
        except (json.JSONDecodeError, AttributeError) as error:
            run.problems.append(f"unreadable {STATUS_FILE}: {error}")
    else:
        run.problems.append(f"no {STATUS_FILE}: training never started (config or data error before fit; see the "
                            "job's log in the run directory)")
    if run.state == "failed":
        where = "before training" if run.status_step is None else f"at global step {run.status_step}"
        run.problems.append(f"failed {where}: {run.message}")
    if not has_config:  # (still starting: checks, building the data and the metrics' classifier)
        run.problems.append(f"no {CONFIG_FILE}: " + ("stopped before training, its settings were never recorded"
                                                     if run.state == "failed" else "has not started training yet"))

    metrics_path = path / METRICS_FILE
    if metrics_path.is_file():
        try:
            run.rows = read_eval_rows(metrics_path)
        except (BrokenMetricsError, OSError) as error:
            run.problems.append(f"broken: {error}")
        if not run.rows and not run.problems and run.state != "running":
            run.problems.append(f"no evaluation rows in {METRICS_FILE} (trained with metrics=none? pass metrics=... "
                                "or evaluate its checkpoints with gan-eval)")
    elif has_config:  # a run refused before training has none, and the reason is listed above
        run.problems.append(f"no {METRICS_FILE}")
    if run.state == "running":
        # status.json is written at the start and the end of fit, so the last evaluation tells how far it got
        reached = f"last evaluation at global step {run.rows[-1].global_step}" if run.rows else "no evaluation yet"
        run.problems.append(f"unfinished: status 'running', {reached} (still training, or the process was killed; "
                            "resume it with resume=<run dir>)")
    if len(run.protocols) > 1:
        run.problems.append(f"evaluated under {len(run.protocols)} metric protocols within one run "
                            f"({'; '.join(run.protocols)}): its numbers do not form one curve")
    return run

"""From runs to a comparison: the protocol check, grouping by the config keys that differ, mean ± std across seeds.

Grouping: flatten every run's config, keep the keys whose values differ between runs, drop the keys that are not a
setting of the experiment (the seed, names and paths derived per run), and merge keys that split the runs the same
way (`loss=hinge` changes `loss.name`, `loss.discriminator._target_`, ...): one representative column is shown and
the others are listed as moving with it. Runs equal on every remaining key form a group; the seeds are its samples.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gan.compare.runs import Run

# Keys that differ between runs of one study without being a setting being studied: the seed is what a group
# averages over; the rest are names, paths and starting points that follow from the run, not the recipe.
IGNORED_KEYS = frozenset({"seed", "experiment_name", "resume", "init_from"})
IGNORED_PREFIXES = ("hydra.",)

# Which way is better, for the metrics the evaluation callback writes. Other metrics need `mode` from the caller
# (or are the runs' own cfg.metrics.monitor, whose cfg.metrics.monitor_mode is used).
METRIC_MODES = {"fid": "min", "kid_mean": "min", "kl_uniform": "min", "is_mean": "max", "modes_covered": "max",
                "hq_fraction": "max", "precision": "max", "recall": "max"}
# Per-evaluation uncertainties, not quantities to rank by or average across seeds.
UNCERTAINTY_SUFFIX = "_std"


class ProtocolMismatchError(ValueError):
    """Runs measured under different metric protocols were asked to share one table."""


@dataclass
class RunSummary:
    """One run's numbers: the best evaluation of `metric` (step, wall time, other metrics there) and the last one."""

    run: Run
    metric: str
    best: float
    best_step: int
    best_elapsed_s: float
    last: float
    last_step: int
    at_best: dict[str, float]
    at_last: dict[str, float]


@dataclass
class Group:
    key: tuple[Any, ...]  # values of the group keys, in `Comparison.group_keys` order
    runs: list[Run] = field(default_factory=list)  # every run with these settings, included or not
    summaries: list[RunSummary] = field(default_factory=list)  # the runs in the table

    def label(self, keys: list[str]) -> str:
        shown = (f"{v:.4g}" if isinstance(v, float) else str(v) for v in self.key)
        return ", ".join(f"{k}={v}" for k, v in zip(keys, shown, strict=True)) or "all runs"


@dataclass
class Stat:
    mean: float
    std: float  # sample standard deviation (n-1); nan for one run
    n: int


@dataclass
class Comparison:
    metric: str
    mode: str
    protocol: str
    group_keys: list[str]
    moves_with: dict[str, list[str]]  # representative key -> other differing keys that split the runs the same way
    groups: list[Group]
    excluded: list[Run]  # runs listed but not in the table, each with `problems`
    other_metrics: list[str]


def metric_mode(metric: str, runs: list[Run], mode: str | None = None) -> str:
    """'min' or 'max': given, known for the callback's metrics, or the runs' own monitor_mode for their monitor."""
    if mode is not None:
        if mode not in ("min", "max"):
            raise ValueError(f"mode={mode!r}: use 'min' (lower is better) or 'max'")
        return mode
    if metric in METRIC_MODES:
        return METRIC_MODES[metric]
    modes = {r.config.get("metrics.monitor_mode") for r in runs if r.config.get("metrics.monitor") == metric}
    if len(modes) == 1 and None not in modes:
        return str(modes.pop())
    raise ValueError(f"do not know whether higher or lower {metric!r} is better; pass --mode min or --mode max")


def default_metric(runs: list[Run]) -> str:
    """The metric to rank by when none is named: FID if the runs have it, else the runs' common monitored metric."""
    columns = {name for run in runs for row in run.rows for name in row.values}
    if "fid" in columns:
        return "fid"
    monitors = {run.config.get("metrics.monitor") for run in runs if run.rows} - {None}
    if len(monitors) == 1:
        return str(monitors.pop())
    raise ValueError(f"no 'fid' column and no single cfg.metrics.monitor among the runs ({sorted(monitors)}); "
                     f"name the metric with --metric (columns: {sorted(columns)})")


def check_protocols(runs: list[Run]) -> str:
    """The one protocol id all evaluation rows share; raises ProtocolMismatchError naming protocols and runs if not."""
    by_protocol: dict[str, list[Path]] = {}
    for run in runs:
        for protocol in run.protocols:
            by_protocol.setdefault(protocol, []).append(run.path)
    if len(by_protocol) <= 1:
        return next(iter(by_protocol), "")
    lines = []
    for protocol, paths in sorted(by_protocol.items()):
        shown = ", ".join(str(p) for p in paths[:4]) + (f" and {len(paths) - 4} more" if len(paths) > 4 else "")
        lines.append(f"  {protocol}: {len(paths)} run(s): {shown}")
    raise ProtocolMismatchError(
        f"refusing to compare runs measured under {len(by_protocol)} different metric protocols:\n"
        + "\n".join(lines)
        + "\nA score depends on the feature extractor and its weights, the number of generated samples and the "
          "reference set, so numbers from different protocols are not comparable. Compare the runs of one protocol "
          "at a time, pass --by-protocol for one table per protocol, or re-evaluate the checkpoints under one "
          "protocol with gan-eval."
    )


def summarise_run(run: Run, metric: str, mode: str) -> RunSummary:
    rows = [row for row in run.rows if metric in row.values and not math.isnan(row.values[metric])]
    if not rows:
        raise ValueError(f"{run.path}: no evaluation row has {metric!r}")
    sign = 1.0 if mode == "min" else -1.0
    # the earliest of equal scores: "steps to best" should not grow because a plateau repeated the value
    best = min(rows, key=lambda row: (sign * row.values[metric], row.global_step))
    last = rows[-1]
    return RunSummary(run=run, metric=metric, best=best.values[metric], best_step=best.global_step,
                      best_elapsed_s=best.elapsed_s, last=last.values[metric], last_step=last.global_step,
                      at_best=dict(best.values), at_last=dict(last.values))


def stat(values: list[float]) -> Stat:
    """Mean and sample std of the values that are not nan. An infinite value (toy kl_uniform when a run has no
    high-quality sample) makes the mean infinite and the std undefined (nan)."""
    known = [v for v in values if v is not None and not math.isnan(v)]
    if not known:
        return Stat(math.nan, math.nan, 0)
    finite = all(math.isfinite(v) for v in known)
    std = statistics.stdev(known) if len(known) > 1 and finite else math.nan
    return Stat(statistics.fmean(known), std, len(known))


def _sort_key(value: Any) -> tuple[int, Any]:
    # numbers in numeric order (2 before 10), then everything else as text; None last
    if isinstance(value, bool) or value is None:
        return 2, repr(value)
    if isinstance(value, int | float):
        return 0, value
    return 1, str(value)


def _is_ignored(key: str, extra: tuple[str, ...]) -> bool:
    return key in IGNORED_KEYS or key.startswith(IGNORED_PREFIXES) or any(
        key == e or key.startswith(e.rstrip(".") + ".") for e in extra)


def _override_keys(runs: list[Run]) -> set[str]:
    """Keys named on the command line: `a.b=1` gives a.b; a group choice `loss=hinge` gives loss.name."""
    keys = set()
    for run in runs:
        for override in run.overrides:
            name = override.split("=", 1)[0].lstrip("+~")
            keys.add(name)
            keys.add(f"{name.split('@')[0].replace('/', '.')}.name")
    return keys


def _determines(finer: tuple[int, ...], coarser: tuple[int, ...]) -> bool:
    """Whether the partition `finer` (value index per run) fixes `coarser` and has more classes."""
    mapping: dict[int, int] = {}
    return all(mapping.setdefault(f, c) == c for f, c in zip(finer, coarser, strict=True)) and \
        len(set(finer)) > len(set(coarser))


def differing_keys(runs: list[Run], ignore: tuple[str, ...] = ()) -> tuple[list[str], dict[str, list[str]]]:
    """The keys that tell the runs' settings apart, one per distinct way of splitting them, and the keys merged in."""
    all_keys = sorted({key for run in runs for key in run.config})
    missing = object()
    differing = [k for k in all_keys if not _is_ignored(k, ignore)
                 and len({repr(run.config.get(k, missing)) for run in runs}) > 1]
    named = _override_keys(runs)

    def preference(key: str) -> tuple[int, int, str]:
        rank = 0 if key in named else 1 if key.endswith(".name") else 2
        return rank, len(key), key

    by_split: dict[tuple[int, ...], list[str]] = {}
    for key in differing:
        # the partition of the runs this key induces, as a canonical tuple of first-seen value indices
        seen: dict[str, int] = {}
        split = tuple(seen.setdefault(repr(run.config.get(key, missing)), len(seen)) for run in runs)
        by_split.setdefault(split, []).append(key)
    chosen, moves_with = [], {}
    for keys in by_split.values():
        keys = sorted(keys, key=preference)
        # keys set on the command line stay columns of their own even when they split the runs alike (an Optuna
        # search gives every trial distinct values of every searched key); the rest follow their representative
        shown = [k for k in keys if k in named] or keys[:1]
        chosen += shown
        for key in shown:
            moves_with[key] = []
        moves_with[shown[0]] = [k for k in keys if k not in shown]
    # A key whose value follows from a finer key's value (gradient_penalty_weight is 10 exactly when loss.name is
    # wgan_gp) adds no group: it moves with that key. Keys named on the command line stay.
    splits = {key: split for split, keys in by_split.items() for key in keys}
    for key in sorted(chosen, key=preference, reverse=True):
        if key in named:
            continue
        finer = [other for other in chosen if other != key and _determines(splits[other], splits[key])]
        if finer:
            chosen.remove(key)
            target = min(finer, key=preference)
            moves_with[target] = [*moves_with.get(target, []), key, *moves_with.pop(key, [])]
    chosen.sort(key=lambda k: differing.index(k))
    return chosen, moves_with


def _same_settings(a: Run, b: Run, ignore: tuple[str, ...]) -> bool:
    keys = {k for k in (*a.config, *b.config) if not _is_ignored(k, ignore)}
    return all(repr(a.config.get(k)) == repr(b.config.get(k)) for k in keys)


def compare(runs: list[Run], metric: str | None = None, mode: str | None = None,
            ignore: tuple[str, ...] = ()) -> Comparison:
    """Check protocols, group and summarise the runs without problems; a run with problems is listed in `excluded`
    and counted in the group whose settings it has, so a group shows how many of its runs it lost."""
    readable = [run for run in runs if run.config]
    included = [run for run in readable if not run.problems]
    if not included:
        reasons = "\n".join(f"  {run.path}: {'; '.join(run.problems)}" for run in runs)
        raise ValueError(f"none of the {len(runs)} run(s) can go into a table:\n{reasons}")
    protocol = check_protocols(included)
    metric = metric or default_metric(included)
    mode = metric_mode(metric, included, mode)
    for run in included:
        if not any(metric in row.values for row in run.rows):
            run.problems.append(f"no {metric!r} in its evaluation rows "
                                f"(has {sorted({k for row in run.rows for k in row.values})})")
    included = [run for run in included if not run.problems]
    if not included:
        raise ValueError(f"no run has evaluation rows with {metric!r}; choose another --metric")

    # Group keys come from the runs in the table: a run that failed or was never evaluated must not add columns.
    group_keys, moves_with = differing_keys(included, ignore)
    groups: dict[tuple[Any, ...], Group] = {}
    for run in included:
        key = tuple(run.config.get(k) for k in group_keys)
        groups.setdefault(key, Group(key=key)).runs.append(run)
        groups[key].summaries.append(summarise_run(run, metric, mode))
    included_ids = {id(run) for run in included}
    for run in readable:
        if id(run) in included_ids:
            continue
        # counted in a group (as "2/3 runs") only if it has exactly that group's settings, seed aside
        for group in groups.values():
            if _same_settings(run, group.runs[0], ignore):
                group.runs.append(run)
                break
    other = sorted({name for run in included for row in run.rows for name in row.values}
                   - {metric} - {n for run in included for row in run.rows for n in row.values
                                 if n.endswith(UNCERTAINTY_SUFFIX)})
    # Best group first: by the mean of the runs' best values (max mode: negated), then by settings for ties.
    sign = 1.0 if mode == "min" else -1.0
    ordered = sorted(groups.values(), key=lambda g: (sign * stat([s.best for s in g.summaries]).mean,
                                                     tuple(_sort_key(v) for v in g.key)))
    return Comparison(metric=metric, mode=mode, protocol=protocol, group_keys=group_keys, moves_with=moves_with,
                      groups=ordered, excluded=[run for run in runs if run.problems], other_metrics=other)

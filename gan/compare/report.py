"""Writing a Comparison: a Markdown report (group table, per-run table, runs left out), CSV tables, plots."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from gan.compare.table import METRIC_MODES, Comparison, Group, RunSummary, Stat, stat
from gan.metrics.protocol import is_machine_local

# Plots switch to a log y axis when the plotted values span more than this factor (early FIDs are 10-100x the
# late ones, which flattens the part of the curve where the groups differ).
LOG_SCALE_RATIO = 20.0
# Significant digits in the Markdown table; the CSV files keep full precision.
MEAN_DIGITS = 4
STD_DIGITS = 2
# Printed beside the table when its protocol's extractor weights were made on one machine (`/local/` in the id).
MACHINE_LOCAL_NOTE = ("this protocol's extractor weights were trained on one machine (`/local/` in the id), not "
                      "shipped with the package: the numbers compare with each other, but another machine training "
                      "the same recipe gets other weights and other numbers. Re-evaluate there with the same weights "
                      "file (copy the cache's classifiers/ entry) to reproduce them.")


def _fmt(value: float, digits: int = MEAN_DIGITS) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}g}"


def _fmt_key(value: Any) -> str:
    return _fmt(value) if isinstance(value, float) else str(value)


def _fmt_stat(s: Stat, integer: bool = False) -> str:
    if s.n == 0:
        return "–"
    mean = f"{s.mean:.0f}" if integer else _fmt(s.mean)
    if s.n == 1 or math.isnan(s.std):  # one run, or an infinite value among them: no spread to show
        return mean
    std = f"{s.std:.0f}" if integer else _fmt(s.std, STD_DIGITS)
    return f"{mean} ± {std}"


def group_columns(comparison: Comparison) -> list[tuple[str, Any, bool]]:
    """(column name, function RunSummary -> value, is an integer) for every aggregated column, in table order."""
    m = comparison.metric
    columns: list[tuple[str, Any, bool]] = [
        (f"best {m}", lambda s: s.best, False),
        (f"last {m}", lambda s: s.last, False),
    ]
    for other in comparison.other_metrics:
        columns.append((f"{other} at best", lambda s, o=other: s.at_best.get(o, math.nan), False))
        columns.append((f"last {other}", lambda s, o=other: s.at_last.get(o, math.nan), False))
    columns += [
        ("steps to best", lambda s: s.best_step, True),
        ("time to best (s)", lambda s: s.best_elapsed_s, False),
    ]
    return columns


def group_stats(comparison: Comparison, group: Group) -> dict[str, Stat]:
    return {name: stat([fn(s) for s in group.summaries]) for name, fn, _ in group_columns(comparison)}


def _seeds(group: Group) -> str:
    return " ".join(str(s.run.seed) for s in group.summaries)


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return lines


def to_markdown(comparison: Comparison, title: str = "Comparison", plots: list[Path] | None = None,
                relative_to: Path | None = None, references: dict[str, float] | None = None) -> str:
    c = comparison
    better = "lower" if c.mode == "min" else "higher"
    lines = [f"# {title}", "", f"Metric protocol: `{c.protocol}`", ""]
    if is_machine_local(c.protocol):
        lines += [f"Note: {MACHINE_LOCAL_NOTE}", ""]
    lines += [f"Ranked by `{c.metric}` ({better} is better). Each cell is mean ± sample std (n-1) over the runs of "
              "a group (seeds); \"at best\" is the value at the evaluation where the run's best "
              f"`{c.metric}` was reached; steps are global steps (D and G updates each count), times are seconds "
              "since the start of fit.", ""]
    columns = group_columns(c)
    header = [*c.group_keys, "runs", "seeds", *(name for name, _, _ in columns)]
    rows = []
    for group in c.groups:
        stats = group_stats(c, group)
        rows.append([*(_fmt_key(v) for v in group.key), f"{len(group.summaries)}/{len(group.runs)}", _seeds(group),
                     *(_fmt_stat(stats[name], integer) for name, _, integer in columns)])
    lines += _md_table(header, rows)
    moved = {k: v for k, v in c.moves_with.items() if v and k in c.group_keys}
    if moved:
        lines += ["", "Keys that change together with a group key (not shown as columns):"]
        lines += [f"- `{k}`: {', '.join(f'`{o}`' for o in v)}" for k, v in moved.items()]
    if not c.group_keys:
        lines += ["", "The runs differ only in seed (and run names): one group."]
    filled = _filled_keys(c)
    if filled:
        lines += ["", "Keys added to the config after some of these runs were made, given the value those runs "
                  "trained with (gan/compare/runs.py, KEYS_ADDED_LATER):"]
        lines += [f"- `{key}` = {value!r}: {count} run(s)" for key, (value, count) in filled.items()]
    if references:
        lines += ["", f"Reference values of `{c.metric}` (same protocol, given to gan-compare): "
                  + ", ".join(f"{label} = {value:g}" for label, value in references.items())]
    for plot in plots or []:
        shown = plot.relative_to(relative_to) if relative_to and plot.is_relative_to(relative_to) else plot
        lines += ["", f"![{plot.stem}]({shown})"]

    lines += ["", "## Runs", ""]
    run_header = ["run", *c.group_keys, "seed", f"best {c.metric}", "at step", f"last {c.metric}", "last step",
                  "wall time (s)"]
    run_rows = []
    for group in c.groups:
        for s in group.summaries:
            run_rows.append([str(s.run.path), *(_fmt_key(v) for v in group.key), str(s.run.seed), _fmt(s.best),
                             str(s.best_step), _fmt(s.last), str(s.last_step), _fmt(_wall_time(s))])
    lines += _md_table(run_header, run_rows)

    lines += ["", "## Runs not in the table", ""]
    if c.excluded:
        lines += _md_table(["run", "state", "why"],
                           [[str(r.path), r.state, "; ".join(r.problems)] for r in c.excluded])
    else:
        lines.append("None: every run finished and was evaluated.")
    return "\n".join(lines) + "\n"


def _filled_keys(c: Comparison) -> dict[str, tuple[Any, int]]:
    """Key -> (value filled in, how many of the listed runs got it)."""
    filled: dict[str, tuple[Any, int]] = {}
    # a run with problems can be both counted in a group and listed as excluded: count it once
    listed = {id(run): run for run in [run for group in c.groups for run in group.runs] + c.excluded}
    for run in listed.values():
        for key in run.filled:
            value, count = filled.get(key, (run.config[key], 0))
            filled[key] = (value, count + 1)
    return filled


def _wall_time(s: RunSummary) -> float:
    if s.run.status_elapsed_s is not None:
        return float(s.run.status_elapsed_s)
    return max((row.elapsed_s for row in s.run.rows), default=math.nan)


def write_group_csv(comparison: Comparison, path: Path) -> None:
    """One row per group: the group keys, counts, seeds and `<column>_mean`, `<column>_std`, `<column>_n`."""
    columns = group_columns(comparison)
    header = [*comparison.group_keys, "runs_included", "runs_total", "seeds"]
    for name, _, _ in columns:
        slug = name.replace(" ", "_").replace("(s)", "s").strip("_")
        header += [f"{slug}_mean", f"{slug}_std", f"{slug}_n"]
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        for group in comparison.groups:
            stats = group_stats(comparison, group)
            row: list[Any] = [*group.key, len(group.summaries), len(group.runs), _seeds(group)]
            for name, _, _ in columns:
                row += [stats[name].mean, stats[name].std, stats[name].n]
            writer.writerow(row)


def write_runs_csv(comparison: Comparison, path: Path) -> None:
    """One row per run, included or not, with why not."""
    c = comparison
    others = c.other_metrics
    header = ["run", *c.group_keys, "seed", "state", "included", "problems", f"best_{c.metric}", "best_step",
              "best_elapsed_s", f"last_{c.metric}", "last_step", *(f"{o}_at_best" for o in others),
              *(f"last_{o}" for o in others), "wall_time_s"]
    summaries = {id(s.run): s for g in c.groups for s in g.summaries}
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        for group in c.groups:
            for run in group.runs:
                s = summaries.get(id(run))
                base = [str(run.path), *group.key, run.seed, run.state, s is not None, "; ".join(run.problems)]
                if s is None:
                    writer.writerow(base + [""] * (len(header) - len(base)))
                    continue
                writer.writerow(base + [s.best, s.best_step, s.best_elapsed_s, s.last, s.last_step,
                                        *(s.at_best.get(o, "") for o in others),
                                        *(s.at_last.get(o, "") for o in others), _wall_time(s)])
        grouped = {id(run) for g in c.groups for run in g.runs}
        for run in c.excluded:
            if id(run) not in grouped:  # no group has its settings (or its config is unreadable)
                base = [str(run.path), *([""] * len(c.group_keys)), run.seed, run.state, False, "; ".join(run.problems)]
                writer.writerow(base + [""] * (len(header) - len(base)))


def curve(group: Group, metric: str) -> tuple[list[int], list[float], list[float]]:
    """Steps, mean and std (n-1; nan where one run) of `metric` across a group's included runs at each step."""
    by_step: dict[int, list[float]] = {}
    for s in group.summaries:
        for row in s.run.rows:
            if metric in row.values and not math.isnan(row.values[metric]):
                by_step.setdefault(row.global_step, []).append(row.values[metric])
    steps = sorted(by_step)
    stats = [stat(by_step[step]) for step in steps]
    return steps, [s.mean for s in stats], [s.std for s in stats]


def plot_metric(comparison: Comparison, metric: str, path: Path, title: str = "",
                references: dict[str, float] | None = None) -> Path:
    """PNG of `metric` against global step: per group the mean over seeds, with a ±1 std band; `references`
    (label -> value, e.g. a real-vs-real floor) are drawn as horizontal lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    plotted: list[float] = []
    infinite = 0
    for group in comparison.groups:
        if not group.summaries:
            continue
        steps, mean, std = curve(group, metric)
        if not steps:
            continue
        label = f"{group.label(comparison.group_keys)} (n={len(group.summaries)})"
        (line,) = ax.plot(steps, mean, marker="o", markersize=3, label=label)
        low = [m - s if not math.isnan(s) else m for m, s in zip(mean, std, strict=True)]
        high = [m + s if not math.isnan(s) else m for m, s in zip(mean, std, strict=True)]
        ax.fill_between(steps, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
        plotted += [m for m in mean if math.isfinite(m)]
        infinite += sum(1 for m in mean if math.isinf(m))
    if infinite and not plotted:
        # e.g. kl_uniform is inf while a generator has no high-quality sample at all: nothing to draw
        ax.text(0.5, 0.5, f"every value of {metric} is infinite ({infinite} evaluations):\nnothing to plot"
                + ("\n(kl_uniform is inf while no generated sample is high quality)" if metric == "kl_uniform" else ""),
                transform=ax.transAxes, ha="center", va="center", fontsize=8, wrap=True)
    elif infinite:
        ax.text(0.01, 0.01, f"{infinite} infinite values not drawn", transform=ax.transAxes, fontsize=7)
    for label, value in (references or {}).items():
        ax.axhline(value, color="black", linestyle="--", linewidth=1, label=f"{label} = {value:g}")
        plotted.append(value)
    if plotted and min(plotted) > 0 and max(plotted) / min(plotted) > LOG_SCALE_RATIO:
        ax.set_yscale("log")
    mode = comparison.mode if metric == comparison.metric else METRIC_MODES.get(metric, "")
    better = {"min": "lower is better", "max": "higher is better"}.get(mode, "")
    ax.set_xlabel("global step")
    ax.set_ylabel(f"{metric}" + (f" ({better})" if better else ""))
    ax.set_title((title or f"{metric}: mean ± std over seeds") + f"\nprotocol {comparison.protocol}", fontsize=8)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def write_all(comparison: Comparison, out_dir: Path, title: str = "Comparison", prefix: str = "",
              references: dict[str, float] | None = None) -> dict[str, Path]:
    """results.md, results.csv, runs.csv and one `<metric>_vs_step.png` per metric into `out_dir`; `references`
    (label -> value of the ranking metric) are drawn on its plot and listed in results.md."""
    out_dir.mkdir(parents=True, exist_ok=True)
    plots = [plot_metric(comparison, m, out_dir / f"{prefix}{m}_vs_step.png",
                         references=references if m == comparison.metric else None)
             for m in [comparison.metric, *comparison.other_metrics]]
    paths = {"markdown": out_dir / f"{prefix}results.md", "csv": out_dir / f"{prefix}results.csv",
             "runs_csv": out_dir / f"{prefix}runs.csv"}
    paths["markdown"].write_text(to_markdown(comparison, title=title, plots=plots, relative_to=out_dir,
                                             references=references))
    write_group_csv(comparison, paths["csv"])
    write_runs_csv(comparison, paths["runs_csv"])
    for plot in plots:
        paths[f"plot_{plot.stem}"] = plot
    return paths

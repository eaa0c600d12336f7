"""The printed report: a pure function of the results the parent collected (plain dicts), so tests can check it."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

NOT_MEASURED = "n/a"
# The evaluation table extrapolates the per-image cost to an evaluation of this many generated images.
IMAGES_PER_ESTIMATE = 10_000


def spread(values: Sequence[float], fmt: str) -> str:
    """'median [min-max]' of repeated measurements."""
    return f"{format(statistics.median(values), fmt)} [{format(min(values), fmt)}-{format(max(values), fmt)}]"


def throughputs(run: dict[str, Any], images_per_window: int) -> list[float]:
    return [images_per_window / s for s in run["window_s"]]


def overheads(runs: dict[str, Any]) -> list[float]:
    """Extra time per image of Lightning over the plain loop, window pair by window pair (adjacent in time)."""
    return [lt / pt - 1.0 for pt, lt in zip(runs["plain"]["window_s"], runs["lightning"]["window_s"], strict=True)]


def _mib(value: float | None) -> str:
    return NOT_MEASURED if value is None else f"{value:.0f}"


def _pair(runs: dict[str, Any], key: str) -> str:
    return " / ".join(_mib(runs[r]["memory"][key]) for r in ("plain", "lightning"))


def training_table(results: dict[str, Any]) -> list[str]:
    rows = [("variant", "plain img/s", "lightning img/s", "overhead", "warm-up s P/L", "peak RSS MiB P/L",
             "RSS after imports P/L", "CUDA peak MiB P/L")]
    compile_notes = []
    for v in results["train"]:
        if v["status"] != "ok":
            rows.append((v["name"], v["message"], "", "", "", "", "", ""))
            continue
        runs = v["runs"]
        per_window = runs["plain"]["batch_size"] * results["window_batches"]
        rows.append((
            v["name"],
            spread(throughputs(runs["plain"], per_window), ".0f"),
            spread(throughputs(runs["lightning"], per_window), ".0f"),
            spread([100 * o for o in overheads(runs)], "+.1f") + " %",
            " / ".join(f"{runs[r]['warmup_s']:.1f}" for r in ("plain", "lightning")),
            _pair(runs, "peak_rss_mib"), _pair(runs, "rss_after_imports_mib"), _pair(runs, "cuda_peak_mib"),
        ))
        if any("speed.compile=true" in o for o in v["overrides"]):
            extra = [runs[r]["warmup_s"] - results["warmup_batches"] * statistics.median(runs[r]["window_s"])
                     / results["window_batches"] for r in ("plain", "lightning")]
            compile_notes.append(f"  {v['name']}: compile time (warm-up minus the same batches at steady speed): "
                                 f"plain {extra[0]:.1f} s, lightning {extra[1]:.1f} s")
    return _columns(rows) + compile_notes


def evaluation_table(results: dict[str, Any]) -> list[str]:
    rows = [("extractor", "batch", "img/s extract+FID", "extract s per 10k img", "set-up s (cold)", "full eval s",
             "peak RSS MiB", "RSS after imports", "CUDA peak MiB")]
    for e in results["eval"]:
        if e["status"] != "ok":
            rows.append((e["name"], e["message"], "", "", "", "", "", "", ""))
            continue
        rates = throughputs(e, e["batch_size"] * results["eval_window_batches"])
        memory = e["memory"]
        rows.append((
            e["name"], str(e["batch_size"]), spread(rates, ".1f"),
            f"{IMAGES_PER_ESTIMATE / statistics.median(rates):.0f}",
            f"{e['setup_s']:.1f}", f"{e['full_eval_s']:.1f} ({e['num_fake_samples']} fake)",
            _mib(memory["peak_rss_mib"]), _mib(memory["rss_after_imports_mib"]), _mib(memory["cuda_peak_mib"]),
        ))
    return _columns(rows)


def _columns(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def _setup(results: dict[str, Any]) -> str:
    ok = [v["runs"]["plain"] for v in results["train"] if v["status"] == "ok"]
    return f"  (batch {ok[0]['batch_size']}, {ok[0]['threads']} torch threads)" if ok else ""


def verdict(results: dict[str, Any]) -> str:
    baseline = next((v for v in results["train"] if v["status"] == "ok"), None)
    if baseline is None:
        return "Stack overhead: not measured (no training variant ran)"
    runs = baseline["runs"]
    median = statistics.median(overheads(runs))
    # Other processes only ever slow a window down: the fastest window of each side is the least disturbed one.
    best = min(runs["lightning"]["window_s"]) / min(runs["plain"]["window_s"]) - 1.0
    goal = results["overhead_goal"]
    state = "met" if median < goal else "NOT met"
    return (f"Stack overhead ({baseline['name']}): {100 * median:+.1f} % per image (median of "
            f"{len(runs['plain']['window_s'])} window pairs), {100 * best:+.1f} % fastest vs fastest window; "
            f"goal < {100 * goal:.0f} %: {state}")


def format_report(results: dict[str, Any]) -> str:
    lb, la = results["load_before"], results["load_after"]
    lines = [
        f"gan benchmark  {results['date']}  device: {results['device']}  host: {results['host']}",
        f"code: {results['code']}",
        f"load average (1/5/15 min) before: {lb[0]:.2f} {lb[1]:.2f} {lb[2]:.2f}   after: "
        f"{la[0]:.2f} {la[1]:.2f} {la[2]:.2f}  (other processes slow every figure down; compare runs at low load)",
        "",
        f"Training throughput: gan-train {' '.join(results['train_overrides'])}{_setup(results)}",
        f"  {results['window_batches']} iterations per window, {results['repeats']} windows per runner, "
        "median [min-max]; overhead = Lightning time per image / plain time per image - 1, per adjacent window pair",
        *training_table(results),
        verdict(results),
        "",
        f"Evaluation throughput: extractor forward + FID update on generated images in memory, "
        f"{results['eval_window_batches']} batches per window, {results['eval_repeats']} windows, median [min-max]",
        "  set-up = build_evaluator from an empty cache (classifier training, real features); full eval = "
        "evaluator.evaluate (generate with G_ema, extract, FID + KID + IS)",
        *evaluation_table(results),
        "",
        f"Memory: each measurement in its own process; peak RSS = ru_maxrss (parent's own: "
        f"{results['parent_rss_mib']:.0f} MiB, a floor for every child); CUDA peak = torch.cuda.max_memory_allocated",
    ]
    return "\n".join(lines)

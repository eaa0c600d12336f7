"""Table of the stacked-digits study: modes_covered and kl_uniform of every run's last evaluation row, CPU and wall
seconds from its <run>.time.txt (experiments/run_jobs.sh), per seed and mean ± std per preset (markdown on stdout).

    .venv/bin/python experiments/stacked_digits/summarise.py [multirun/stacked_digits]
"""

from __future__ import annotations

import csv
import statistics
import sys
from pathlib import Path


def last_evaluation(run: Path) -> dict[str, str] | None:
    with open(run / "metrics.csv", newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row.get("protocol")]
    return rows[-1] if rows else None


def main(root: Path) -> None:
    by_preset: dict[str, list[tuple[int, float, float, float, float, str]]] = {}
    for run in sorted(path for path in root.glob("*_s*") if path.is_dir()):
        row = last_evaluation(run) if (run / "metrics.csv").is_file() else None
        timing = root / f"{run.name}.time.txt"
        if row is None or not timing.is_file():
            print(f"<!-- {run.name}: not finished -->")
            continue
        user, system, wall = (float(v) for v in timing.read_text().split()[-3:])
        preset, seed = run.name.rsplit("_s", 1)
        by_preset.setdefault(preset, []).append((int(seed), float(row["modes_covered"]), float(row["kl_uniform"]),
                                                 user + system, wall, row["protocol"]))
    print("| preset | seed | modes (of 1000) | KL | CPU s | wall s |\n|---|---|---|---|---|---|")
    for preset, runs in by_preset.items():
        for seed, modes, kl, cpu, wall, _ in runs:
            print(f"| {preset} | {seed} | {modes:.0f} | {kl:.3f} | {cpu:.0f} | {wall:.0f} |")
        if len(runs) > 1:
            cols = list(zip(*runs, strict=True))
            mean_std = [f"{statistics.mean(c):.{p}f} ± {statistics.stdev(c):.{p}f}"
                        for c, p in ((cols[1], 1), (cols[2], 3), (cols[3], 0), (cols[4], 0))]
            print(f"| **{preset}** | mean ± std ({len(runs)}) | " + " | ".join(mean_std) + " |")
    protocols = {run[5] for runs in by_preset.values() for run in runs}
    print(f"\nprotocol(s): {', '.join(sorted(protocols))}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "multirun/stacked_digits"))

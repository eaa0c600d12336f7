"""`python -m gan.bench [key=value ...]`: run every measurement of conf/bench.yaml and print the report."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from gan.bench.config import BENCH_CONFIG, BenchUsageError, load_config
from gan.bench.memory import peak_rss_mib
from gan.bench.orchestrate import cuda_available, header, run_evaluation, run_training
from gan.bench.report import format_report


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if {"-h", "--help"} & set(args):
        # the header of conf/bench.yaml is the list of what is measured and how to change it
        print(__doc__.strip() + "\n")
        print("".join(line[2:] if line.startswith("# ") else "\n" for line in
                      BENCH_CONFIG.read_text().splitlines(keepends=True)[:3]).rstrip())
        print(f"Every key and its default: {BENCH_CONFIG}")
        return 0
    try:
        cfg = load_config(args)
    except BenchUsageError as error:
        print(f"gan.bench: error: {error}", file=sys.stderr)
        return 2
    device = cfg.device if cfg.device != "auto" else ("cuda" if cuda_available() else "cpu")
    results = header(cfg, device)
    results["train"] = run_training(cfg, device)
    results["eval"] = run_evaluation(cfg, device)
    results["load_after"] = os.getloadavg()
    results["parent_rss_mib"] = peak_rss_mib()
    print(format_report(results))
    if cfg.json_out:
        Path(cfg.json_out).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

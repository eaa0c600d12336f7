"""`python -m gan.bench [key=value ...]`: run every measurement of conf/bench.yaml and print the report."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from gan.bench.config import load_config
from gan.bench.memory import peak_rss_mib
from gan.bench.orchestrate import cuda_available, header, run_evaluation, run_training
from gan.bench.report import format_report


def main(argv: list[str] | None = None) -> int:
    cfg = load_config(sys.argv[1:] if argv is None else argv)
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

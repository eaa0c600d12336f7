"""`gan-compare RUN_OR_SWEEP_DIR...`: one table of runs grouped by the settings that differ, mean ± std over seeds.

    gan-compare multirun/grid25_mlp/2026-11-25_06-00-00               # a sweep: every run below it
    gan-compare outputs/a outputs/b --out cmp --metric kl_uniform      # runs, written to cmp/
    gan-compare multirun/study --by-protocol                           # one table per metric protocol

Writes results.md, results.csv (one row per group), runs.csv (one row per run, with why a run was left out) and
`<metric>_vs_step.png` plots; prints the Markdown. Runs measured under different metric protocols are refused.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from pathlib import Path

from gan.cli.errors import debugging
from gan.compare.report import to_markdown, write_all
from gan.compare.runs import Run, find_run_dirs, load_run
from gan.compare.table import compare

DEFAULT_OUT_NAME = "compare"
DESCRIPTION = "One table of runs grouped by the settings that differ, mean ± std over seeds."


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="gan-compare", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("dirs", nargs="+", metavar="RUN_OR_SWEEP_DIR",
                        help="run directories (with .hydra/config.yaml) or sweep directories containing them")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"where to write the tables and plots (default: <DIR>/{DEFAULT_OUT_NAME} for one DIR)")
    parser.add_argument("--metric", default=None,
                        help="metric to rank by (default: fid if present, else the runs' cfg.metrics.monitor)")
    parser.add_argument("--mode", choices=["min", "max"], default=None,
                        help="whether lower or higher --metric is better (known for fid, kid_mean, is_mean, "
                             "kl_uniform, modes_covered, hq_fraction)")
    parser.add_argument("--ignore", action="append", default=[], metavar="KEY",
                        help="a config key (or key prefix) that should not split groups; repeatable")
    parser.add_argument("--by-protocol", action="store_true",
                        help="instead of refusing mixed protocols, write one table per protocol")
    parser.add_argument("--title", default=None, help="heading of results.md")
    parser.add_argument("--reference", action="append", default=[], metavar="LABEL=VALUE",
                        help="a reference value of --metric under the same protocol, sample count included (e.g. "
                             "baseline=1.38; a real-vs-real floor of a few hundred held-out images is not one: see "
                             "gan-eval floor=true), drawn on its plot and listed in results.md; repeatable")
    return parser.parse_args(argv)


def _slug(text: str) -> str:
    """A file-name prefix for one protocol's tables: readable, cut to 60 characters, and unique (protocols often differ
    only past the cut, e.g. in the sample count: a short hash of the whole id tells them apart)."""
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")[:60] + "_" + digest


def _partitions(runs: list[Run]) -> list[tuple[str, list[Run]]]:
    """Runs split by protocol; runs with no single protocol go with every part (they are listed, not compared)."""
    unassigned = [run for run in runs if len(run.protocols) != 1]
    protocols = sorted({run.protocols[0] for run in runs if len(run.protocols) == 1})
    return [(p, [run for run in runs if run.protocols == [p]] + unassigned) for p in protocols] or [("", runs)]


def _references(items: list[str]) -> dict[str, float]:
    references = {}
    for item in items:
        label, _, value = item.rpartition("=")
        try:
            references[label] = float(value)
        except ValueError:
            raise ValueError(f"--reference {item!r}: expected LABEL=NUMBER, e.g. real-vs-real=23.6") from None
        if not label:
            raise ValueError(f"--reference {item!r}: expected LABEL=NUMBER, e.g. real-vs-real=23.6")
    return references


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if debugging():  # GAN_DEBUG=1 / HYDRA_FULL_ERROR=1: the traceback, as the other commands give it
        return _run(args)
    try:
        return _run(args)
    except (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError) as error:  # ProtocolMismatch too
        print(f"gan-compare: error: {error}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    references = _references(args.reference)
    run_dirs = find_run_dirs(args.dirs)
    if args.out is None and len(args.dirs) > 1:
        raise ValueError("several directories given; say where the results go with --out DIR")
    out = args.out or Path(args.dirs[0]) / DEFAULT_OUT_NAME
    if Path(out).exists() and not Path(out).is_dir():
        raise NotADirectoryError(f"--out {out} is a file; the results go into a folder: name another --out")
    runs = [load_run(path) for path in run_dirs]
    title = args.title or "Comparison of " + ", ".join(args.dirs)
    parts = _partitions(runs) if args.by_protocol else [("", runs)]
    results = [(protocol, compare(part, metric=args.metric, mode=args.mode, ignore=tuple(args.ignore)))
               for protocol, part in parts]
    for protocol, comparison in results:
        prefix = f"{_slug(protocol)}_" if len(results) > 1 else ""
        part_title = f"{title} ({protocol})" if len(results) > 1 else title
        paths = write_all(comparison, out, title=part_title, prefix=prefix, references=references)
        print(to_markdown(comparison, title=part_title, plots=[p for k, p in paths.items() if k.startswith("plot_")],
                          references=references))
        print("Written: " + ", ".join(str(p) for p in paths.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

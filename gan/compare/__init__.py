"""gan-compare's library: read run directories, refuse mixed metric protocols, group by the settings that differ,
aggregate over seeds, write Markdown/CSV tables and plots. `gan/cli/compare.py` is the command line."""

from gan.compare.report import plot_metric, to_markdown, write_all, write_group_csv, write_runs_csv
from gan.compare.runs import EvalRow, Run, find_run_dirs, load_run, read_eval_rows
from gan.compare.table import Comparison, Group, ProtocolMismatchError, check_protocols, compare, differing_keys

__all__ = [
    "Comparison", "EvalRow", "Group", "ProtocolMismatchError", "Run", "check_protocols", "compare",
    "differing_keys", "find_run_dirs", "load_run", "plot_metric", "read_eval_rows", "to_markdown", "write_all",
    "write_group_csv", "write_runs_csv",
]

"""Thin command-line entry points; the work happens in the library modules they call."""

from pathlib import Path

# The Hydra config groups live at the repository root (conf/), beside the package: one definition for every entry
# point and tool that composes them.
CONFIG_DIR = Path(__file__).resolve().parents[2] / "conf"

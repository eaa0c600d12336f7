"""Where the project's own files are: the repository root and the Hydra config groups (conf/) beside the package.

One definition for every entry point, tool, benchmark and test that composes configs or runs commands.
"""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = REPO_ROOT / "conf"

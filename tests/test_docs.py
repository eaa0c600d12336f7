"""The commands the README and the studies' READMEs print still work: every `gan-train`, `gan-sample` and `gan-eval`
line composes with the config groups of today (a renamed key, group or option fails here), every `gan-compare` and
`gan-export` line parses, and `make train`'s preset composes and validates. Placeholders (`<time>`, `...`) stand
for paths, which composing does not need."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from gan.cli.blend import parse_args as blend_args
from gan.cli.compare import parse_args as compare_args
from gan.config import compose_config
from gan.paths import REPO_ROOT
from gan.train.validate import validate

DOCUMENTS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "experiments").glob("*/README.md"))]
CONFIG_OF = {"gan-train": "train", "gan-sample": "sample", "gan-eval": "eval", "gan-project": "project"}
# Hydra's own command-line flags (not overrides) and values that only name a path.
FLAGS = ("-m", "--multirun", "--cfg", "job", "--help")


def command_lines(path: Path) -> list[str]:
    """Commands inside ```bash blocks, continuation lines joined and comments stripped."""
    lines, commands = path.read_text().splitlines(), []
    in_block, pending = False, ""
    for line in lines:
        if line.startswith("```"):
            in_block = line.strip() == "```bash" if not in_block else False
            continue
        if not in_block:
            continue
        text = (pending + " " + line.strip()) if pending else line.strip()
        if text.endswith("\\"):
            pending = text[:-1]
            continue
        pending = ""
        text = re.sub(r"\s+#.*$", "", text)
        if re.match(r"^(\.venv/bin/)?gan-[a-z]+\b", text):
            commands.append(re.sub(r"^\.venv/bin/", "", text))
    return commands


def first_job(overrides: list[str]) -> list[str]:
    """The first job of a sweep: `k=a,b` -> `k=a`; sweeper expressions (`k=interval(...)`) are left to the sweeper."""
    job = []
    for override in overrides:
        key, _, value = override.partition("=")
        if re.match(r"^\w+\(", value):
            continue
        job.append(f"{key}={value.split(',')[0]}" if "," in value and "[" not in value else override)
    return job


ALL = [(path.relative_to(REPO_ROOT), line) for path in DOCUMENTS for line in command_lines(path)]


def test_the_documents_have_commands():
    assert len(ALL) > 20


@pytest.mark.parametrize(("document", "line"), ALL, ids=[f"{d}:{i}" for i, (d, _) in enumerate(ALL)])
def test_documented_command_composes(document: Path, line: str):
    words = shlex.split(line.replace("<", "").replace(">", ""))
    command, args = words[0], words[1:]
    if command in CONFIG_OF:
        overrides = [word for word in args if word not in FLAGS]
        if "-m" in args:
            overrides = first_job(overrides)
        hydra = any(word.startswith("hydra/") for word in overrides)
        cfg = compose_config(CONFIG_OF[command], overrides, return_hydra_config=hydra)
        assert cfg is not None
    elif command == "gan-compare":
        compare_args(args)
    elif command == "gan-blend":
        blend_args(args)
    elif command == "gan-export":
        assert args, "gan-export needs a checkpoint"
    else:
        pytest.fail(f"{document}: unknown command {command}")


def test_make_train_preset_composes_and_validates():
    makefile = (REPO_ROOT / "Makefile").read_text()
    overrides = re.search(r"gan-train (.*)", makefile).group(1).split()
    validate(compose_config("train", overrides))

"""Shared test helpers: composing the real Hydra config, as `gan-train` would."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from gan.paths import CONFIG_DIR

CONF_DIR = str(CONFIG_DIR)


def make_config(*overrides: str, config_name: str = "train") -> DictConfig:
    """The composed config for `overrides`, outside any Hydra run (no run directory is created)."""
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose(config_name=config_name, overrides=list(overrides))


@pytest.fixture
def compose_config():
    return make_config

"""Shared test helpers: composing the real Hydra config, as `gan-train` would."""

from __future__ import annotations

import pytest
from omegaconf import DictConfig

from gan import config as gan_config
from gan.paths import CONFIG_DIR

CONF_DIR = str(CONFIG_DIR)


def make_config(*overrides: str, config_name: str = "train") -> DictConfig:
    """The composed config for `overrides`, outside any Hydra run (no run directory is created)."""
    return gan_config.compose_config(config_name, overrides)


@pytest.fixture
def compose_config():
    return make_config

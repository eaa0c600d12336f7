"""conf/bench.yaml plus command-line overrides (OmegaConf dotlist: key=value)."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

BENCH_CONFIG = Path(__file__).resolve().parents[2] / "conf" / "bench.yaml"


def load_config(argv: list[str]) -> DictConfig:
    cfg = OmegaConf.merge(OmegaConf.load(BENCH_CONFIG), OmegaConf.from_cli(argv))
    assert isinstance(cfg, DictConfig)
    return cfg

"""conf/bench.yaml plus command-line overrides (OmegaConf dotlist: key=value)."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

BENCH_CONFIG = Path(__file__).resolve().parents[2] / "conf" / "bench.yaml"


def load_config(argv: list[str]) -> DictConfig:
    """bench.yaml, then `quick_settings` when quick=true, then the command line (which always has the last word)."""
    cli = OmegaConf.from_cli(argv)
    cfg = OmegaConf.merge(OmegaConf.load(BENCH_CONFIG), cli)
    if cfg.quick:
        cfg = OmegaConf.merge(cfg, cfg.quick_settings, cli)
    assert isinstance(cfg, DictConfig)
    return cfg

"""conf/bench.yaml plus command-line overrides (OmegaConf dotlist: key=value)."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from gan.paths import CONFIG_DIR

BENCH_CONFIG = CONFIG_DIR / "bench.yaml"


def load_config(argv: list[str]) -> DictConfig:
    """bench.yaml, then `quick_settings` when quick=true, then the command line (which always has the last word)."""
    cli = OmegaConf.from_cli(argv)
    cfg = OmegaConf.merge(OmegaConf.load(BENCH_CONFIG), cli)
    if cfg.quick:
        cfg = OmegaConf.merge(cfg, cfg.quick_settings, cli)
    assert isinstance(cfg, DictConfig)
    return cfg

"""conf/bench.yaml plus command-line overrides (OmegaConf dotlist: key=value)."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from gan.paths import CONFIG_DIR

BENCH_CONFIG = CONFIG_DIR / "bench.yaml"


class BenchUsageError(ValueError):
    """A command-line key that conf/bench.yaml does not have (a typo would otherwise be measured as the default)."""


def load_config(argv: list[str]) -> DictConfig:
    """bench.yaml, then `quick_settings` when quick=true, then the command line (which always has the last word).
    A key bench.yaml does not have is refused (BenchUsageError), naming it."""
    cli = OmegaConf.from_cli(argv)
    base = OmegaConf.load(BENCH_CONFIG)
    unknown = [key for key in _dotted_keys(cli) if OmegaConf.select(base, key, default=_MISSING) is _MISSING]
    if unknown:
        raise BenchUsageError(f"{unknown[0]}: conf/bench.yaml has no such key (keys: {', '.join(base)}; "
                              "`python -m gan.bench --help`)")
    try:
        cfg = OmegaConf.merge(base, cli)
        if cfg.quick:
            cfg = OmegaConf.merge(cfg, cfg.quick_settings, cli)
    except OmegaConfBaseException as error:  # e.g. one item of a list (train.variants.0.name=x): set the whole list
        raise BenchUsageError(f"{' '.join(argv)}: {str(error).splitlines()[0]} (a list is set whole, e.g. "
                              "'train.variants=[{name: fp32, overrides: []}]')") from None
    assert isinstance(cfg, DictConfig)
    return cfg


_MISSING = object()


def _dotted_keys(node: DictConfig, prefix: str = "") -> list[str]:
    """The leaf keys the command line set, dotted (train.repeats=3 -> ["train.repeats"])."""
    keys = []
    for key, value in node.items_ex(resolve=False):
        if isinstance(value, DictConfig):
            keys += _dotted_keys(value, f"{prefix}{key}.")
        else:
            keys.append(f"{prefix}{key}")
    return keys

"""conf/bench.yaml plus command-line overrides (OmegaConf dotlist: key=value)."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

from gan.paths import CONFIG_DIR

BENCH_CONFIG = CONFIG_DIR / "bench.yaml"


class BenchUsageError(ValueError):
    """A command-line key that conf/bench.yaml does not have (a typo would otherwise be measured as the default)."""


def load_config(argv: list[str]) -> DictConfig:
    """bench.yaml, then `quick_settings` when quick=true, then the command line (which always has the last word).
    A key bench.yaml does not have is refused (BenchUsageError), naming it."""
    cli = OmegaConf.from_cli(argv)
    base = OmegaConf.load(BENCH_CONFIG)
    OmegaConf.set_struct(base, True)  # the merge refuses a key bench.yaml lacks, at any depth
    try:
        cfg = OmegaConf.merge(base, cli)
        if cfg.quick:
            cfg = OmegaConf.merge(cfg, cfg.quick_settings, cli)
    except ConfigKeyError as error:
        raise BenchUsageError(f"{error.full_key}: conf/bench.yaml has no such key (keys: {', '.join(base)}; "
                              "`python -m gan.bench --help`)") from None
    except OmegaConfBaseException as error:  # e.g. one item of a list (train.variants.0.name=x): set the whole list
        raise BenchUsageError(f"{' '.join(argv)}: {str(error).splitlines()[0]} (a list is set whole, e.g. "
                              "'train.variants=[{name: fp32, overrides: []}]')") from None
    assert isinstance(cfg, DictConfig)
    OmegaConf.set_struct(cfg, False)  # the merged settings read as before the check
    return cfg

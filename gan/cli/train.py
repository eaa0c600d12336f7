"""`gan-train`: train a GAN from the Hydra config in conf/ (see `gan-train --help`)."""

from __future__ import annotations

from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from gan.cli.errors import clean_errors, exit_2_on_config_errors
from gan.cli.quiet import quiet_known_messages
from gan.config import register_resolvers
from gan.paths import CONFIG_DIR
from gan.train.multirun import check_ddp_multirun
from gan.train.run import train

register_resolvers()  # before Hydra composes: hydra.run.dir uses them


@hydra.main(config_path=str(CONFIG_DIR), config_name="train", version_base="1.3")
def hydra_main(cfg: DictConfig) -> float:
    quiet_known_messages()
    hydra_cfg = HydraConfig.get()
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    # Before anything starts: under -m, Lightning's DDP launcher would re-run the whole sweep in every process. Refused
    # at the first job, that is the sweep's error: it ends the command (exit 2) instead of failing each job in turn. A
    # later job refused (the sweep varies the trainer: trainer=cpu,ddp_cpu) fails alone, so the jobs before and after
    # it still run.
    with clean_errors("gan-train", multirun=multirun and hydra_cfg.job.get("num", 0) > 0):
        check_ddp_multirun(cfg, hydra_cfg)
    # Under -m a failed job must not end the sweep: the next combination (or Optuna trial) still runs.
    with clean_errors("gan-train", multirun=multirun):
        return train(cfg, Path(hydra_cfg.runtime.output_dir), overrides=list(hydra_cfg.overrides.task))


def main() -> None:
    """The console script: Hydra's config errors exit 2 like the command's own (gan.cli.errors)."""
    exit_2_on_config_errors(hydra_main)


if __name__ == "__main__":
    main()

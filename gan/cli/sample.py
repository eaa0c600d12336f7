"""`gan-sample`: PNG grids, per-class grids, single images, interpolations, GIFs and style-mixing grids from G_ema
(conf/sample.yaml)."""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig

from gan.cli.errors import exit_2_on_config_errors, run_output_command
from gan.paths import CONFIG_DIR
from gan.sample.render import resolve_seeds, sample_to_dir
from gan.train.checkpoints import load_generator, resolve_checkpoint_path

# The summary names this many of the files written.
LISTED_FILES = 3


def run(cfg: DictConfig, out_dir: Path) -> list[Path]:
    loaded = load_generator(resolve_checkpoint_path(cfg.ckpt, "ckpt", cfg.which), cfg.device)
    # The per-class and style-mixing grids hold (a multiple of) seeds^2 images: a few seeds by default.
    default_n = {"classes": cfg.class_grid.default_n, "style_mix": cfg.style_mix.default_n}.get(cfg.mode, cfg.default_n)
    seeds = resolve_seeds(cfg.n, cfg.seeds, default_n)
    written = sample_to_dir(
        loaded, out_dir, seeds, mode=cfg.mode, truncation=cfg.truncation, truncation_psi=cfg.truncation_psi,
        class_label=cfg["class"],
        batch_size=cfg.batch_size, upscale=cfg.upscale, grid=dict(cfg.grid), individual=cfg.individual,
        interpolation=dict(cfg.interpolation), col_seeds=cfg.col_seeds, style_mix=dict(cfg.style_mix),
    )
    step = f"global step {loaded.global_step}" if loaded.global_step is not None else "unknown step"
    print(f"G_ema of {loaded.path} ({loaded.kind}, {step}), {len(seeds)} seeds -> {len(written)} files in {out_dir}/")
    for path in written[:LISTED_FILES]:
        print(f"  {path}")
    if len(written) > LISTED_FILES:
        print(f"  ... and {len(written) - LISTED_FILES} more")
    return written


@hydra.main(config_path=str(CONFIG_DIR), config_name="sample", version_base="1.3")
def hydra_main(cfg: DictConfig) -> None:
    run_output_command("gan-sample", lambda out_dir, _overrides: run(cfg, out_dir))


def main() -> None:
    """The console script: Hydra's config errors exit 2 like the command's own (gan.cli.errors)."""
    exit_2_on_config_errors(hydra_main)


if __name__ == "__main__":
    main()

"""`gan-project`: project an image into a StyleGAN-lite model's w space, then restyle it (conf/project.yaml,
gan/sample/project.py)."""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from gan.cli.errors import exit_2_on_config_errors, run_output_command
from gan.paths import CONFIG_DIR
from gan.sample.project import project_to_dir, psnr, read_target
from gan.train.checkpoints import load_generator, resolve_checkpoint_path


def run(cfg: DictConfig, out_dir: Path, command: str | None = None) -> list[Path]:
    loaded = load_generator(resolve_checkpoint_path(cfg.ckpt, "ckpt", cfg.which), cfg.device)
    style_from = None
    if cfg.style_from is not None:
        style_from = load_generator(resolve_checkpoint_path(cfg.style_from, "style_from", cfg.style_which), cfg.device)
    settings = {**OmegaConf.to_container(cfg.projection, resolve=True),
                "features": OmegaConf.to_container(cfg.features, resolve=True),
                "progress": OmegaConf.to_container(cfg.progress, resolve=True)}
    projection, written = project_to_dir(
        loaded, cfg.image, out_dir, settings, style_from=style_from, style_seed=cfg.style_seed,
        crossover=cfg.crossover, style_truncation_psi=cfg.style_truncation_psi, command=command)
    generator = loaded.generator
    target = read_target(cfg.image, projection.image.shape[1], generator.ws_resolutions[-1])
    mse = float((projection.image.clamp(-1, 1).cpu() - target).square().mean())
    print(f"projected {cfg.image} into {loaded.path} ({len(projection.history)} steps): pixel MSE {mse:.5f}, PSNR "
          f"{psnr(projection.image.cpu(), target):.2f} dB -> {len(written)} files in {out_dir}/")
    return written


@hydra.main(config_path=str(CONFIG_DIR), config_name="project", version_base="1.3")
def hydra_main(cfg: DictConfig) -> None:
    run_output_command("gan-project",
                       lambda out_dir, overrides: run(cfg, out_dir, " ".join(["gan-project", *overrides])))


def main() -> None:
    """The console script: Hydra's config errors exit 2 like the command's own (gan.cli.errors)."""
    exit_2_on_config_errors(hydra_main)


if __name__ == "__main__":
    main()

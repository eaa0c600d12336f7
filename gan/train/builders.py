"""Config -> objects. The one place that knows the shape of the Hydra config; CLIs and tests call these."""

from __future__ import annotations

from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from gan.data.datamodule import GANDataModule
from gan.data.resumable import ResumableDataModule
from gan.train.module import GAN


def build_datamodule(cfg: DictConfig) -> GANDataModule:
    """The data module; its training order is a function of `cfg.seed` and the epoch, so resuming is exact."""
    return ResumableDataModule(
        dataset_factory=instantiate(cfg.data.dataset),
        batch_size=cfg.data.batch_size,
        num_workers=cfg.data.num_workers,
        seed=cfg.seed,
    )


def build_module(cfg: DictConfig) -> GAN:
    """The LightningModule described by `cfg`, with the resolved config stored inside for its checkpoints."""
    model, loss, optim = cfg.model, cfg.loss, cfg.optim
    augment_cfg = cfg.get("augment")
    return GAN(
        generator=instantiate(model.generator),
        discriminator=instantiate(model.discriminator),
        d_loss=instantiate(loss.discriminator),
        g_loss=instantiate(loss.generator),
        g_optimizer=instantiate(optim.generator),
        d_optimizer=instantiate(optim.discriminator),
        n_critic=optim.n_critic,
        ema_decay=model.ema.decay,
        ema_start_step=model.ema.start_step,
        ema_rampup=model.ema.get("rampup", 0.0),
        gradient_penalty=instantiate(loss.gradient_penalty) if loss.get("gradient_penalty") else None,
        gradient_penalty_weight=loss.gradient_penalty_weight,
        r1_penalty=instantiate(loss.r1_penalty) if loss.get("r1_penalty") else None,
        r1_weight=loss.r1_weight,
        r1_every=loss.r1_every,
        augment=instantiate(augment_cfg.transform) if augment_cfg and augment_cfg.get("transform") else None,
        freeze_d_blocks=model.get("freeze_d_blocks", 0),
        channels_last=cfg.speed.channels_last,
        compile_networks=cfg.speed.compile,
        config=to_container(cfg),
    )


def to_container(cfg: DictConfig) -> dict[str, Any]:
    """The config as plain Python, resolved, without Hydra's runtime section (it is machine-specific)."""
    container = OmegaConf.to_container(cfg, resolve=True)
    container.pop("hydra", None)
    return container

"""Config -> objects. Hydra instantiates each part from its `_target_`; these functions only say which node is which.

The GAN module is `cfg.module` (conf/train.yaml wires the model, loss, optim, augment and speed groups into it), the
data is `cfg.data.dataset` (a partial: called with `split=`), the evaluation is `cfg.metrics`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from gan.config import instantiate_node
from gan.data.base import GANDataset

if TYPE_CHECKING:  # Lightning is imported only by what trains: gan-eval builds datasets without it
    from gan.data.resumable import ResumableDataModule
    from gan.train.module import GAN


def build_dataset_factory(cfg: DictConfig) -> Callable[[str], GANDataset]:
    """`split -> dataset` for the configured data (what metrics and the classifier read their reference data from)."""
    make = instantiate(cfg.data.dataset)
    return lambda split: make(split=split)


def build_datamodule(cfg: DictConfig) -> ResumableDataModule:
    """The data module; its training order is a function of `cfg.seed` and the epoch, so resuming is exact."""
    from gan.data.resumable import ResumableDataModule

    return ResumableDataModule(
        dataset_factory=instantiate(cfg.data.dataset),
        batch_size=cfg.data.batch_size,
        num_workers=cfg.data.num_workers,
        seed=cfg.seed,
    )


def build_module(cfg: DictConfig) -> GAN:
    """The LightningModule `cfg.module` describes, with the resolved config stored inside for its checkpoints."""
    module = instantiate_node(cfg.module)
    # Set after construction: passed to instantiate, the config's own `_target_` nodes would be instantiated too.
    module.config = to_container(cfg)
    return module


def to_container(cfg: DictConfig) -> dict[str, Any]:
    """The config as plain Python, resolved, without Hydra's runtime section (it is machine-specific)."""
    container = OmegaConf.to_container(cfg, resolve=True)
    container.pop("hydra", None)
    return container

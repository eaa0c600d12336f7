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


def check_data_fits(cfg: DictConfig, num_classes: int, dataset: Any) -> None:
    """Before the first step, the training data must be what the networks were built for: a conditional model needs
    the data's own classes (other labels index past G's and D's class embeddings), an image model the data's channels
    (else the first convolution fails mid-step with a shape error)."""
    name = cfg.data.get("name", "?")
    data_classes = int(getattr(dataset, "num_classes", 0) or 0)
    if num_classes and not 0 < data_classes <= num_classes:  # more classes than the data's: unused embeddings, fine
        found = f"has {data_classes} classes" if data_classes else "has no labels"
        fix = (f"model.num_classes={data_classes} (or 0: unconditional)" if data_classes
               else "model.num_classes=0 (unconditional)")
        raise ValueError(f"model.num_classes={num_classes} but data={name} {found}; a conditional model needs a "
                         f"class for every label of the data: {fix}")
    channels = cfg.data.get("channels")
    if getattr(dataset, "kind", None) == "image" and channels and getattr(dataset, "channels", channels) != channels:
        raise ValueError(f"data.channels={channels} but data={name} has {dataset.channels}-channel images; leave "
                         f"data.channels at {dataset.channels} (the networks are built for it)")


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

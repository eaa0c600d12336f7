"""The interface every dataset of this project implements, written down (metrics, callbacks and caches rely on it).

A dataset is a torch `Dataset` of `(x, y)` items (`y = -1` when unlabelled) that also says what it is:

- `kind`: "image" (x is (C, H, W) in [-1, 1]) or "points" (x is a 2D point of a toy mixture);
- `fingerprint`: a string that changes whenever the data changes; metric caches and the classifier are keyed by it,
  so it must describe the *content* (folder datasets hash their bytes), not only a path;
- `num_classes` (0 when unlabelled) and `split`.

Image datasets add `channels` and `resolution`; toy mixtures add `means` and `std`, which the mode metrics and the
scatter plots use. A user's own dataset subclasses `ImageDataset` and is named by `_target_` in `conf/data/`.
"""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor
from torch.utils.data import Dataset


class GANDataset(Dataset):
    kind: ClassVar[str]
    fingerprint: str
    num_classes: int = 0
    split: str

    def __len__(self) -> int:  # pragma: no cover - interface
        raise NotImplementedError

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:  # pragma: no cover - interface
        raise NotImplementedError


class ImageDataset(GANDataset):
    kind: ClassVar[str] = "image"
    channels: int
    resolution: int


class PointsDataset(GANDataset):
    kind: ClassVar[str] = "points"
    means: Tensor
    std: float


def check_dataset(dataset: object, need: type[GANDataset] = GANDataset, purpose: str = "this") -> GANDataset:
    """`dataset` if it is a `need`, else an error that names what it is and what was expected."""
    if isinstance(dataset, need):
        return dataset
    what = getattr(dataset, "fingerprint", None) or type(dataset).__name__
    if need is PointsDataset:
        fix = "use metrics=classifier or metrics=inception for images, metrics=toy for data=ring8/grid25"
    elif need is ImageDataset:
        fix = "use metrics=toy for 2D mixtures"
    else:
        fix = "subclass gan.data.base.ImageDataset (see its docstring) for your own data"
    raise TypeError(f"{purpose} needs a {need.__name__}, got {what} ({type(dataset).__name__}); {fix}")

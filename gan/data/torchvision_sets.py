"""torchvision datasets (mnist, cifar10, celeba), downloaded only when the user sets `download: true`."""

from __future__ import annotations

from pathlib import Path

import torch

from gan.data.base import ImageDataset
from gan.data.errors import DataError

CHANNELS = {"mnist": 1, "cifar10": 3, "celeba": 3}
CLASSES = {"mnist": 10, "cifar10": 10, "celeba": 0}


class TorchvisionDataset(ImageDataset):
    """Wraps a torchvision dataset: resizes to `resolution` and scales to [-1, 1]."""


    def __init__(self, name: str, root: str, resolution: int, split: str = "train", download: bool = False):
        import torchvision
        from torchvision import transforms as T

        if name not in CHANNELS:
            raise DataError(f"unknown torchvision dataset {name!r}; choose one of {sorted(CHANNELS)}")
        steps = [T.Resize(resolution), T.CenterCrop(resolution), T.ToTensor(), T.Normalize(0.5, 0.5)]
        transform = T.Compose(steps)
        root_path = Path(root).expanduser()
        try:
            if name == "celeba":
                self.inner = torchvision.datasets.CelebA(
                    root_path, split="train" if split == "train" else "test", transform=transform, download=download
                )
            else:
                cls = torchvision.datasets.MNIST if name == "mnist" else torchvision.datasets.CIFAR10
                self.inner = cls(root_path, train=split == "train", transform=transform, download=download)
        except RuntimeError as err:  # torchvision raises RuntimeError for "not found, use download=True"
            hint = (
                f"run once with data.dataset.download=true on a machine with internet, or copy the files into "
                f"{str(root_path)!r}"
            )
            raise DataError(f"{name} not found under {str(root_path)!r} ({err}); {hint}") from err
        except OSError as err:  # no network during a requested download
            raise DataError(
                f"downloading {name} into {str(root_path)!r} failed ({err}); this machine may be offline: copy "
                "the dataset files there by hand"
            ) from err
        self.channels = CHANNELS[name]
        self.num_classes = CLASSES[name]
        self.resolution = resolution
        self.split = split
        self.fingerprint = f"{name}-r{resolution}-{split}"

    def __len__(self) -> int:
        return len(self.inner)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, target = self.inner[i]
        label = target if isinstance(target, int) else -1
        return image, torch.tensor(label)

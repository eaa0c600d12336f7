"""A domain classifier the project trains itself: the offline feature extractor for labelled bundled data.

Inception features are the standard, but need a 100 MB download and describe natural photographs; on 8x8 digits
upsampled to 32x32 they say little. A small CNN trained on the dataset's own labels gives features (penultimate layer,
for FID/KID) and logits (for IS) that measure what matters there. It is trained deterministically from a seed, saved
under the cache directory with the sha256 of its weights (which goes into every protocol id), and retrained when the
file is missing, damaged, or was made by another recipe.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from gan.data.base import check_dataset
from gan.io import atomic_torch_save
from gan.metrics.extractors import FeatureExtractor

log = logging.getLogger(__name__)

FORMAT = "gan-domain-classifier"
# Bump when the architecture or training recipe changes in code: old files are then retrained, not reused.
FORMAT_VERSION = 1
# The last conv map is average-pooled to this side before the feature layer, so any input resolution works and
# coarse layout (where the strokes are) survives.
POOLED_SIDE = 4
# Reading the dataset into memory goes in batches of this size.
LOAD_BATCH = 1024


class DomainClassifier(nn.Module):
    """Three conv layers (strides 1, 2, 2), pooled to 4x4, a feature layer (penultimate) and a linear head."""

    def __init__(self, channels: int, num_classes: int, width: int, feature_dim: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(2 * width, 4 * width, 3, stride=2, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(POOLED_SIDE), nn.Flatten(),
            nn.Linear(4 * width * POOLED_SIDE**2, feature_dim), nn.ReLU(),
        )
        self.head = nn.Linear(feature_dim, num_classes)

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        features = self.body(images)
        return features, self.head(features)


def state_sha256(state_dict: Mapping[str, Tensor]) -> str:
    """sha256 of the weights themselves (names, dtypes, shapes, bytes): independent of how the file was written."""
    digest = hashlib.sha256()
    for key in sorted(state_dict):
        tensor = state_dict[key].detach().cpu().contiguous()
        digest.update(f"{key}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()


class ClassifierExtractor(FeatureExtractor):
    def __init__(self, model: DomainClassifier, name: str, weights_sha256: str, channels: int,
                 test_accuracy: float | None = None, path: Path | None = None):
        super().__init__()
        self.model = model.eval().requires_grad_(False)
        self.name = name
        self.weights_sha256 = weights_sha256
        self.channels = channels
        self.num_features = model.head.in_features
        self.num_logits = model.head.out_features
        self.test_accuracy = test_accuracy
        self.path = path

    def train(self, mode: bool = True) -> ClassifierExtractor:
        return super().train(False)

    @torch.no_grad()
    def forward(self, images: Tensor) -> tuple[Tensor, Tensor | None]:
        if images.ndim != 4 or images.shape[1] != self.channels:
            raise ValueError(f"{self.name} takes ({self.channels}-channel) images (N, {self.channels}, H, W), got "
                             f"{tuple(images.shape)}; use the classifier of this dataset or metrics=inception")
        return self.model(images.float())


def _load_all(dataset: Dataset) -> tuple[Tensor, Tensor]:
    images, labels = [], []
    for x, y in DataLoader(dataset, batch_size=LOAD_BATCH, shuffle=False):
        images.append(x)
        labels.append(torch.as_tensor(y))
    return torch.cat(images), torch.cat(labels).long()


def _check_labelled(dataset: Dataset, labels: Tensor) -> int:
    dataset = check_dataset(dataset, purpose="the domain classifier")
    num_classes = int(dataset.num_classes)
    if num_classes < 2 or (labels < 0).any() or (labels >= num_classes).any():
        raise ValueError(
            f"the domain classifier needs a labelled dataset (class ids 0..num_classes-1); "
            f"{dataset.fingerprint} has num_classes={num_classes} and labels in "
            f"[{int(labels.min())}, {int(labels.max())}]. Use metrics=inception for unlabelled data."
        )
    return num_classes


def _accuracy(model: DomainClassifier, images: Tensor, labels: Tensor, batch_size: int) -> float:
    model.eval()
    with torch.no_grad():
        correct = sum(int((model(images[i : i + batch_size])[1].argmax(1) == labels[i : i + batch_size]).sum())
                      for i in range(0, len(images), batch_size))
    return correct / max(1, len(images))


def train_classifier(train_set: Dataset, eval_set: Dataset | None, seed: int, epochs: int, batch_size: int,
                     lr: float, weight_decay: float, width: int, feature_dim: int) -> tuple[DomainClassifier, float]:
    """Train on `train_set`, deterministic from `seed` (own RNG streams); returns the model and accuracy on eval_set.

    Training runs on one CPU thread: the intra-op thread count changes the order of float reductions and so the
    weights (measured: a different sha256 with 1 and 2 threads), and the weights hash is part of every protocol id.
    With one thread the same recipe gives the same classifier, and the same protocol id, on any machine of the same
    CPU architecture.
    """
    with _one_thread():
        return _train_classifier(train_set, eval_set, seed, epochs, batch_size, lr, weight_decay, width, feature_dim)


@contextmanager
def _one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _train_classifier(train_set: Dataset, eval_set: Dataset | None, seed: int, epochs: int, batch_size: int,
                      lr: float, weight_decay: float, width: int, feature_dim: int) -> tuple[DomainClassifier, float]:
    images, labels = _load_all(train_set)
    num_classes = _check_labelled(train_set, labels)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = DomainClassifier(images.shape[1], num_classes, width, feature_dim)
    order_rng = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    model.train()
    for _ in range(epochs):
        for batch in torch.randperm(len(images), generator=order_rng).split(batch_size):
            loss = F.cross_entropy(model(images[batch])[1], labels[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    accuracy = float("nan")
    if eval_set is not None:
        eval_images, eval_labels = _load_all(eval_set)
        accuracy = _accuracy(model, eval_images, eval_labels, LOAD_BATCH)
    return model.eval(), accuracy


def load_or_train_classifier(
    dataset: Callable[..., Dataset],
    cache_dir: str,
    seed: int,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    width: int,
    feature_dim: int,
    train_split: str = "train",
    eval_split: str | None = "test",
) -> ClassifierExtractor:
    """The classifier of `dataset(split=train_split)` from the cache, trained and saved first if it is not there."""
    train_set = dataset(split=train_split)
    fingerprint = check_dataset(train_set, purpose="the domain classifier cache").fingerprint
    recipe: dict[str, Any] = {"format_version": FORMAT_VERSION, "dataset": fingerprint, "seed": seed,
                              "epochs": epochs, "batch_size": batch_size, "lr": lr, "weight_decay": weight_decay,
                              "width": width, "feature_dim": feature_dim}
    recipe_hash = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]
    path = Path(cache_dir) / "classifiers" / f"{fingerprint}-{recipe_hash}.pt"
    name = f"classifier:{fingerprint}"
    stored = _read(path, recipe)
    if stored is not None:
        model = DomainClassifier(stored["channels"], stored["num_classes"], width, feature_dim)
        model.load_state_dict(stored["state_dict"])
        return ClassifierExtractor(model, name, stored["sha256"], stored["channels"], stored["test_accuracy"], path)
    start = time.monotonic()
    eval_set = dataset(split=eval_split) if eval_split else None
    model, accuracy = train_classifier(train_set, eval_set, seed, epochs, batch_size, lr, weight_decay, width,
                                       feature_dim)
    state = {key: value.detach().clone() for key, value in model.state_dict().items()}
    sha256 = state_sha256(state)
    channels, num_classes = model.body[0].in_channels, model.head.out_features
    atomic_torch_save({"format": FORMAT, "recipe": recipe, "state_dict": state, "sha256": sha256,
                       "channels": channels, "num_classes": num_classes, "test_accuracy": accuracy}, path)
    log.info("trained the domain classifier on %s in %.1fs: %s accuracy %.4f, weights sha256 %s, saved to %s",
             fingerprint, time.monotonic() - start, eval_split, accuracy, sha256[:12], path)
    return ClassifierExtractor(model, name, sha256, channels, accuracy, path)


def _read(path: Path, recipe: Mapping[str, Any]) -> dict[str, Any] | None:
    """The stored classifier if `path` holds an intact one made by `recipe`, else None (and it will be retrained)."""
    if not path.is_file():
        return None
    try:
        stored = torch.load(path, map_location="cpu", weights_only=True)
        intact = (stored.get("format") == FORMAT and stored.get("recipe") == dict(recipe)
                  and state_sha256(stored["state_dict"]) == stored["sha256"])
    except Exception as error:  # unreadable: truncated by a crash that bypassed the atomic write, or overwritten
        log.warning("classifier file %s is unreadable (%s); retraining it", path, error)
        return None
    if not intact:
        log.warning("classifier file %s does not match its recipe or its stored hash; retraining it", path)
        os.replace(path, path.with_suffix(".pt.bad"))
        return None
    return stored

"""Features of real (reference) data, cached on disk so a sweep extracts them once.

The cache key is everything the features depend on: the dataset fingerprint (dataset, split, transform), the split,
the extractor name and the sha256 of its weights, and the number of samples. A change in any of them is a different
file (a miss); the stored key is also checked on reading, so a file can never be used for another key. Files are
written atomically (temporary file + rename): concurrent runs of a sweep may both compute the same entry, never read a
half-written one.

Features are stored (not only mean and covariance) because KID needs them; FID sums are derived from them.

Before anything is scored, the reference features pass a check (`check_features`): an extractor that maps every image
to (nearly) one point, or whose feature units are mostly dead (constant over the whole reference set), gives FIDs near
zero or in a smaller space than the protocol claims, silently. It is refused with an error naming the problem.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Subset

from gan.data.base import check_dataset
from gan.io import atomic_torch_save
from gan.metrics.extractors import FeatureExtractor

log = logging.getLogger(__name__)

FORMAT = "gan-real-features"
FORMAT_VERSION = 1
# Characters of the key hash in file names (collisions are caught by the stored-key check anyway).
KEY_HASH_CHARS = 16


class DegenerateFeaturesError(ValueError):
    """The extractor's features of the reference data do not vary enough to measure anything."""


def dead_units(features: Tensor, min_relative_spread: float) -> Tensor:
    """Mask of the feature units that are constant over `features` (N, D): std <= min_relative_spread x their RMS.

    A ReLU unit that never fires (zero on every image) and a unit stuck at any other constant both count.
    """
    double = features.double()
    return double.std(0) <= min_relative_spread * double.pow(2).mean(0).sqrt()


def relative_spread(features: Tensor) -> float:
    """How much the feature vectors vary across images relative to their size: sqrt(total variance) / RMS norm."""
    double = features.double()
    scale = float(double.pow(2).sum(1).mean().sqrt())
    return float(double.var(0).sum().sqrt()) / scale if scale > 0 else 0.0


def check_features(features: Tensor, extractor: FeatureExtractor, what: str) -> None:
    """Raise DegenerateFeaturesError if `features` (of real images `what`) show a broken extractor."""
    if len(features) < 2:
        return
    if not torch.isfinite(features).all():
        raise DegenerateFeaturesError(f"extractor {extractor.id} gives non-finite features on {what}: its weights are "
                                      "damaged; use another weights file")
    spread = relative_spread(features)
    if spread < extractor.min_relative_spread:
        raise DegenerateFeaturesError(
            f"extractor {extractor.id} gives (nearly) the same features for every image of {what}: relative spread "
            f"{spread:.3g} < {extractor.min_relative_spread:g}. Its FIDs would be ~0 whatever the generator does. "
            "The weights are broken or untrained (a random network needs its batch-norm statistics calibrated); use "
            "the standard weights file or metrics=classifier.")
    dead = int(dead_units(features, extractor.min_relative_spread).sum())
    if dead > extractor.max_dead_fraction * features.shape[1]:
        raise DegenerateFeaturesError(
            f"extractor {extractor.id}: {dead} of its {features.shape[1]} feature units are dead (constant on every "
            f"image of {what}), more than max_dead_fraction={extractor.max_dead_fraction:g} allows. FID/KID would "
            "live in fewer dimensions than the protocol claims (and KID's gamma = 1/num_features would be wrong). "
            "Use weights whose features all vary (the shipped classifiers have none dead).")


@dataclass(frozen=True)
class StatsKey:
    dataset: str
    split: str
    extractor: str
    weights_sha256: str
    num_samples: int | None  # None: the whole split

    def as_dict(self) -> dict[str, object]:
        return {"format_version": FORMAT_VERSION, **asdict(self)}

    def file_name(self) -> str:
        digest = hashlib.sha256(json.dumps(self.as_dict(), sort_keys=True).encode()).hexdigest()
        readable = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{self.dataset}-{self.extractor}")
        return f"{readable}-{digest[:KEY_HASH_CHARS]}.pt"


@dataclass
class RealFeatures:
    features: Tensor  # (N, num_features) float32, CPU, in dataset order
    key: StatsKey
    path: Path
    hit: bool  # read from the cache (True) or extracted now (False)


def cache_path(cache_dir: str | Path, key: StatsKey) -> Path:
    return Path(cache_dir) / "real_features" / key.file_name()


@torch.no_grad()
def extract_features(extractor: FeatureExtractor, dataset: Dataset, batch_size: int,
                     device: str | torch.device = "cpu") -> Tensor:
    chunks = []
    for images, _ in DataLoader(dataset, batch_size=batch_size, shuffle=False):
        features, _ = extractor(images.to(device))
        chunks.append(features.float().cpu())
    return torch.cat(chunks)


def real_features(dataset: Dataset, split: str, extractor: FeatureExtractor, cache_dir: str | Path,
                  num_samples: int | None, batch_size: int, device: str | torch.device = "cpu") -> RealFeatures:
    """Features of the first `num_samples` items of `dataset` (all if None), from the cache or extracted and cached."""
    fingerprint = check_dataset(dataset, purpose="the real-feature cache").fingerprint
    if num_samples is not None and not 1 < num_samples <= len(dataset):
        raise ValueError(f"metrics.num_real_samples={num_samples} but {fingerprint} has {len(dataset)} items; use a "
                         "number in [2, len] or null for all")
    key = StatsKey(fingerprint, split, extractor.name, extractor.weights_sha256, num_samples)
    path = cache_path(cache_dir, key)
    stored = _read(path, key)
    if stored is not None:
        check_features(stored, extractor, fingerprint)
        return RealFeatures(stored, key, path, hit=True)
    subset = dataset if num_samples is None else Subset(dataset, range(num_samples))
    features = extract_features(extractor, subset, batch_size, device)
    check_features(features, extractor, fingerprint)
    atomic_torch_save({"format": FORMAT, "key": key.as_dict(), "features": features}, path)
    log.info("real features of %s (%d items) with %s cached at %s", fingerprint, len(features), extractor.name, path)
    return RealFeatures(features, key, path, hit=False)


def _read(path: Path, key: StatsKey) -> Tensor | None:
    if not path.is_file():
        return None
    try:
        stored = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        log.warning("real-feature cache %s is unreadable (%s); recomputing it", path, error)
        return None
    if not isinstance(stored, dict) or stored.get("format") != FORMAT or stored.get("key") != key.as_dict():
        log.warning("real-feature cache %s was made for another key; recomputing it", path)
        return None
    return stored["features"]

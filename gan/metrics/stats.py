"""Features of real (reference) data, cached on disk so a sweep extracts them once.

The cache key is everything the features depend on: the dataset fingerprint (dataset, split, transform), the split,
the extractor name and the sha256 of its weights, and the number of samples. A change in any of them is a different
file (a miss); the stored key is also checked on reading, so a file can never be used for another key. Files are
written atomically (temporary file + rename): concurrent runs of a sweep may both compute the same entry, never read a
half-written one.

Features are stored (not only mean and covariance) because KID needs them; FID sums are derived from them.
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
        return RealFeatures(stored, key, path, hit=True)
    subset = dataset if num_samples is None else Subset(dataset, range(num_samples))
    features = extract_features(extractor, subset, batch_size, device)
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

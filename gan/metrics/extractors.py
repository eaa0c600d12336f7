"""Feature extractors: images in [-1, 1] -> (features, logits). FID/KID use the features, IS the logits.

- `InceptionExtractor`: the standard Inception-v3 of FID papers (TensorFlow 2015-12-05 weights as converted by
  torch-fidelity), from a local weights file or the torch hub cache; never downloads unless asked to.
- `gan.metrics.classifier`: a small domain classifier (offline default for labelled data; shipped weights for the
  bundled datasets, trained locally for others).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
from torch import Tensor, nn

from gan.data.pixels import to_uint8
from gan.io import file_sha256

INCEPTION_URL = (
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth"
)
# File names the same weights go by in the torch hub cache: torch-fidelity's (what torchmetrics downloads) and
# pytorch-fid's. Both hold the 2015-12-05 TensorFlow graph's weights with the same parameter names.
INCEPTION_FILE_NAMES = ("weights-inception-2015-12-05-6726825d.pth", "pt_inception-2015-12-05-6726825d.pth")
# torch hub convention: the file name carries the first 8 hex digits of the official file's sha256.
INCEPTION_SHA256_PREFIX = "6726825d"
# torch-fidelity's layer names: pool3 features (what FID uses) and the logits IS uses (torch-fidelity's default).
INCEPTION_FEATURES, INCEPTION_LOGITS = "2048", "logits_unbiased"



# Defaults of the broken-extractor check (conf/metrics/*.yaml set their own): features of distinct images differ by
# far more than float32 rounding (~1e-7 relative), so a relative spread below 1e-4 means the extractor maps every image
# to (nearly) one point, e.g. an uncalibrated random network. Dead units are not limited unless configured.
DEFAULT_MIN_RELATIVE_SPREAD = 1e-4
DEFAULT_MAX_DEAD_FRACTION = 1.0


class NonStandardWeightsWarning(UserWarning):
    """The Inception weights file is not the one published numbers use."""


class FeatureExtractor(nn.Module):
    """Interface: `forward(images in [-1, 1], (N, C, H, W)) -> (features (N, num_features), logits or None)`.

    `name` and `weights_sha256` go into protocol ids and cache keys; `num_logits` is 0 when there are no logits.
    `machine_local` marks weights made on this machine (not reproducible elsewhere); the protocol id says so.
    `max_dead_fraction` and `min_relative_spread` are the limits of the broken-extractor check the real features
    pass before anything is scored (`gan.metrics.stats.check_features`).
    """

    name: str
    weights_sha256: str
    num_features: int
    num_logits: int
    machine_local: bool = False
    max_dead_fraction: float = DEFAULT_MAX_DEAD_FRACTION
    min_relative_spread: float = DEFAULT_MIN_RELATIVE_SPREAD

    def set_feature_check(self, max_dead_fraction: float | None, min_relative_spread: float | None) -> None:
        """Limits of the broken-extractor check; None keeps the default."""
        if max_dead_fraction is not None:
            self.max_dead_fraction = float(max_dead_fraction)
        if min_relative_spread is not None:
            self.min_relative_spread = float(min_relative_spread)

    @property
    def record(self) -> dict[str, object]:
        """What the protocol id abbreviates, for logs and result files (extractors add their own facts)."""
        return {"extractor": self.name, "weights_sha256": self.weights_sha256, "num_features": self.num_features,
                "num_logits": self.num_logits, "machine_local": self.machine_local}

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor | None]:  # pragma: no cover - interface
        raise NotImplementedError

    @property
    def id(self) -> str:
        """Extractor name and full weights hash: what real-feature caches are keyed by."""
        return f"{self.name}@sha256:{self.weights_sha256}"


def to_uint8_rgb(images: Tensor) -> Tensor:
    """[-1, 1] float images (N, 1 or 3, H, W) -> uint8 RGB in [0, 255], grayscale repeated to 3 channels."""
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"expected images (N, 1 or 3, H, W) in [-1, 1], got shape {tuple(images.shape)}")
    pixels = to_uint8(images)
    return pixels.expand(-1, 3, -1, -1) if pixels.shape[1] == 1 else pixels


def hub_checkpoint_dir() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def find_inception_weights(weights_path: str | os.PathLike | None, allow_download: bool = False) -> Path:
    """The Inception weights file: `weights_path` if given, else the torch hub cache; a clear error if neither."""
    if weights_path:
        path = Path(weights_path).expanduser()
        if not path.is_file():
            raise FileNotFoundError(
                f"metrics.extractor.weights_path={weights_path}: no such file. Download {INCEPTION_URL} and pass its "
                f"path, or put it in the torch hub cache as {hub_checkpoint_dir() / INCEPTION_FILE_NAMES[0]} and "
                "leave weights_path null."
            )
        return path
    candidates = [hub_checkpoint_dir() / name for name in INCEPTION_FILE_NAMES]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    if allow_download:
        torch.hub.load_state_dict_from_url(INCEPTION_URL, model_dir=str(hub_checkpoint_dir()), map_location="cpu")
        return candidates[0]
    raise FileNotFoundError(
        "Inception weights not found (looked in the torch hub cache: "
        f"{', '.join(str(c) for c in candidates)}). Offline, this project does not download them. Fix: on a machine "
        f"with internet, download {INCEPTION_URL} and put it at {candidates[0]} (the hub cache is $TORCH_HOME/hub, "
        "default ~/.cache/torch/hub), or pass metrics.extractor.weights_path=/path/to/"
        f"{INCEPTION_FILE_NAMES[0]}; or allow the download with metrics.extractor.allow_download=true; or use "
        "metrics=classifier (trained locally, no download)."
    )


class InceptionExtractor(FeatureExtractor):
    """torch-fidelity's Inception-v3 (TF-1 compatible resizing to 299x299): pool3 features (2048) and logits."""

    num_features = 2048
    num_logits = 1008

    def __init__(self, weights_path: str | None = None, allow_download: bool = False, name: str = "inception-v3",
                 max_dead_fraction: float | None = None, min_relative_spread: float | None = None):
        super().__init__()
        self.set_feature_check(max_dead_fraction, min_relative_spread)
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

        path = find_inception_weights(weights_path, allow_download)
        try:
            # Checks the file is plain tensors before torch-fidelity loads it (it does so with weights_only=False).
            torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:
            raise RuntimeError(f"Inception weights file {path} is not a readable state dict ({error}); download "
                               f"{INCEPTION_URL} again") from error
        self.net = FeatureExtractorInceptionV3(
            "inception-v3-compat", [INCEPTION_FEATURES, INCEPTION_LOGITS], feature_extractor_weights_path=str(path)
        )
        self.name = name
        self.weights_path = path
        self.weights_sha256 = file_sha256(path)
        if not self.weights_sha256.startswith(INCEPTION_SHA256_PREFIX):
            # A warning rather than a log line: it must reach the user whatever logging config the entry point set.
            warnings.warn(f"Inception weights {path} (sha256 {self.weights_sha256[:12]}...) are not the standard "
                          "2015-12-05 file: FIDs are comparable only with runs using the same file (the protocol id "
                          "records its hash), not with published numbers.", NonStandardWeightsWarning, stacklevel=2)

    def train(self, mode: bool = True) -> InceptionExtractor:
        return super().train(False)  # batch-norm statistics of the reference network must never change

    @torch.no_grad()
    def forward(self, images: Tensor) -> tuple[Tensor, Tensor | None]:
        features, logits = self.net(to_uint8_rgb(images))
        return features.float(), logits.float()


class Passthrough(nn.Module):
    """The `feature` module handed to torchmetrics: features are extracted once and fed to FID, KID and IS."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features

    def forward(self, features: Tensor) -> Tensor:
        return features

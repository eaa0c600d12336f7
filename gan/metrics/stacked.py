"""Mode metrics of stacked digits (Stacked MNIST: Srivastava et al. 2017, VEEGAN; Lin et al. 2018, PacGAN).

Every channel of a generated sample is classified with the single-channel digits classifier; the sample's mode is
its channels' classes read as a base-10 number (100*d0 + 10*d1 + d2, the dataset's label), one of 10^3 = 1000.
Over `num_fake_samples` samples (26,000 in the papers) we report the number of modes with at least one sample and
KL(mode histogram || uniform) in nats, the two columns of VEEGAN's and PacGAN's tables. Both are functions of the
per-mode counts, which add up across DDP ranks.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch import Tensor
from torchmetrics import Metric

from gan.data.stacked import triple_label
from gan.metrics.extractors import FeatureExtractor
from gan.metrics.protocol import LOCAL_MARKER, short_hash
from gan.metrics.toy import metrics_from_counts


def stacked_protocol(extractor: str, weights_sha256: str, num_fake: int, num_modes: int,
                     machine_local: bool = False) -> str:
    """`stacked:classifier:digits-...@sha256:1a2b3c4d5e6f/fake26000/modes1000` (`/local` after the hash for
    weights trained on this machine, as in image protocol ids)."""
    local = f"/{LOCAL_MARKER}" if machine_local else ""
    return f"stacked:{extractor}@sha256:{short_hash(weights_sha256)}{local}/fake{num_fake}/modes{num_modes}"


@torch.no_grad()
def channel_classes(images: Tensor, classifier: FeatureExtractor) -> Tensor:
    """(N, C, H, W) images -> (N, C) class of each channel under a single-channel `classifier` (argmax of logits)."""
    if images.ndim != 4:
        raise ValueError(f"expected images (N, C, H, W), got {tuple(images.shape)}")
    n, c, h, w = images.shape
    _, logits = classifier(images.reshape(n * c, 1, h, w))
    if logits is None:
        raise ValueError(f"{classifier.name} has no logits; metrics=stacked needs the digits classifier")
    return logits.argmax(dim=1).reshape(n, c)


def mode_counts(classes: Tensor, num_classes: int) -> Tensor:
    """(N, C) per-channel classes -> (num_classes^C,) int64 count of each mode."""
    num_modes = num_classes ** classes.shape[1]
    return torch.bincount(triple_label(classes, num_classes), minlength=num_modes).long()


def stacked_metrics(counts: Tensor) -> dict[str, float]:
    """modes_covered (modes with >= 1 sample) and kl_uniform = KL(histogram || uniform over all modes), nats."""
    total = int(counts.sum())
    toy = metrics_from_counts(counts, total)  # every sample counts (no quality threshold): hq_fraction is 1
    return {"modes_covered": float(toy.modes_covered), "kl_uniform": float(toy.kl_uniform)}


class ModeCounts(Metric):
    """Per-mode counts as a torchmetrics state, so the shares of DDP ranks are summed before `compute`."""

    full_state_update = False

    def __init__(self, num_modes: int, **kwargs):
        super().__init__(**kwargs)
        self.add_state("counts", torch.zeros(num_modes, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, counts: Tensor) -> None:
        self.counts += counts.to(self.counts.device)

    def compute(self) -> Tensor:
        return self.counts.clone()


class StackedEvaluator:
    """modes_covered and kl_uniform of generated stacked digits, each channel classified by `classifier`."""

    def __init__(self, classifier: FeatureExtractor, channels: int, protocol: str, num_fake_samples: int,
                 batch_size: int):
        if not classifier.num_logits:
            raise ValueError(f"{classifier.name} has no logits; metrics=stacked needs the digits classifier")
        self.classifier = classifier
        self.channels = channels
        self.num_classes = int(classifier.num_logits)
        self.num_modes = self.num_classes**channels
        self.protocol = protocol
        self.num_fake_samples = num_fake_samples
        self.batch_size = batch_size

    @torch.no_grad()
    def evaluate(self, sample: Callable[[int, int], Tensor], seed: int, rank: int = 0, world_size: int = 1,
                 device: str | torch.device = "cpu") -> dict[str, float]:
        from gan.metrics.evaluator import chunk_plan, rank_share  # the evaluator module imports this one

        start = time.monotonic()
        self.classifier.to(device)
        counts = ModeCounts(self.num_modes).to(device)
        plan = chunk_plan(self.num_fake_samples, self.batch_size, seed)
        for i in rank_share(len(plan), rank, world_size):
            size, chunk_seed = plan[i]
            images = sample(size, chunk_seed).to(device)
            if images.ndim != 4 or images.shape[1] != self.channels:
                raise ValueError(f"metrics=stacked expects {self.channels}-channel images, got {tuple(images.shape)}")
            counts.update(mode_counts(channel_classes(images, self.classifier), self.num_classes))
        row = stacked_metrics(counts.compute().cpu())
        row["eval_s"] = time.monotonic() - start
        return row

"""Mode metrics of toy 2D mixtures, the PacGAN protocol (Lin et al. 2018, sec. 5.1).

Each generated point is assigned to the nearest mode by distance in units of the mixture's std; it is "high quality"
(HQ) if that distance is below `threshold` (3 std in the paper). A mode is covered if at least one HQ point is
assigned to it. Reported: modes covered, the fraction of HQ points, and KL(histogram of HQ points over modes ||
uniform), in nats. Everything is a function of per-mode HQ counts and the total, which add up across DDP ranks.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import Tensor
from torchmetrics import Metric


@dataclass  # not frozen: torchmetrics walks compute()'s result and refuses frozen dataclasses
class ToyMetrics:
    modes_covered: int
    hq_fraction: float
    kl_uniform: float

    def as_dict(self) -> dict[str, float]:
        return {key: float(value) for key, value in asdict(self).items()}


def hq_counts(points: Tensor, means: Tensor, std: float, threshold: float) -> Tensor:
    """Number of high-quality points assigned to each mode, shape (K,), int64."""
    if points.ndim != 2 or points.shape[1] != means.shape[1]:
        raise ValueError(f"points must be (N, {means.shape[1]}), got {tuple(points.shape)}")
    if std <= 0:
        raise ValueError(f"std must be > 0, got {std}")
    distance = torch.cdist(points.double(), means.to(points.device).double()) / std  # in units of std
    nearest_distance, nearest = distance.min(dim=1)
    hq = nearest_distance < threshold
    return torch.bincount(nearest[hq], minlength=len(means)).long()


def metrics_from_counts(counts: Tensor, total: int) -> ToyMetrics:
    """ToyMetrics from per-mode HQ counts and the number of points. No HQ point: KL is inf (nothing matches)."""
    if total <= 0:
        raise ValueError(f"need at least one point, got total={total}")
    counts = counts.double()
    num_hq = float(counts.sum())
    if num_hq == 0:
        kl = math.inf
    else:
        p = counts / num_hq
        nonzero = p > 0  # 0 log 0 = 0
        kl = float((p[nonzero] * (p[nonzero] * len(counts)).log()).sum())
    return ToyMetrics(modes_covered=int((counts > 0).sum()), hq_fraction=num_hq / total, kl_uniform=kl)


def mode_metrics(points: Tensor, means: Tensor, std: float, threshold: float = 3.0) -> ToyMetrics:
    """PacGAN metrics of `points` (N, 2) against a mixture with `means` (K, 2) and isotropic `std`."""
    return metrics_from_counts(hq_counts(points, means, std, threshold), len(points))


class ModeCoverage(Metric):
    """torchmetrics wrapper of the counts, so DDP ranks that each generated a share are summed before `compute`."""

    full_state_update = False

    def __init__(self, means: Tensor, std: float, threshold: float, **kwargs):
        super().__init__(**kwargs)
        self.register_buffer("means", means.clone().float(), persistent=False)
        self.std, self.threshold = float(std), float(threshold)
        self.add_state("counts", torch.zeros(len(means), dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("total", torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")

    def update(self, points: Tensor) -> None:
        self.counts += hq_counts(points, self.means, self.std, self.threshold).to(self.counts.device)
        self.total += len(points)

    def compute(self) -> ToyMetrics:
        return metrics_from_counts(self.counts.cpu(), int(self.total))

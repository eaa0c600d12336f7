"""Precision, recall and a memorisation ratio in an extractor's feature space: what FID folds into one number.

FID mixes fidelity (do generated samples look real?) and diversity (is all of the real data produced?) and cannot say
whether a generator copies its training set. Here:

- precision and recall (Kynkäänniemi et al. 2019, "Improved precision and recall metric for assessing generative
  models"; StyleGAN2-ADA's pr50k3): each point of a set gets a ball reaching its k-th nearest neighbour in the same
  set (k=3). Precision = fraction of generated points inside at least one real ball; recall = fraction of real
  points inside at least one generated ball. Both sets have the same size (the radii shrink with the size of a set,
  so unequal sizes would bias one against the other): min(num_samples, reals, fakes), reals a seeded subset.
- memorisation ratio = median over generated points of the distance to the nearest training point, divided by the
  same median for held-out real points (a split the generator never saw). About 1: generated samples are as far
  from the training images as unseen real ones; well below 1: they sit closer, i.e. copy training images.

All distances are Euclidean, in float64, computed `chunk_size` rows at a time, so memory stays at
chunk_size x (size of the other set) whatever the number of samples.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor


def _chunks(count: int, chunk_size: int) -> list[slice]:
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    return [slice(start, min(start + chunk_size, count)) for start in range(0, count, chunk_size)]


def _distances(queries: Tensor, support: Tensor) -> Tensor:
    return torch.cdist(queries.double(), support.double())


def knn_radii(features: Tensor, k: int, chunk_size: int) -> Tensor:
    """(N,) distance from each point to its k-th nearest neighbour among the other points of `features` (N, D)."""
    if not 1 <= k < len(features):
        raise ValueError(f"k must be in [1, {len(features) - 1}] for {len(features)} points, got {k}")
    # The k+1-th smallest distance of a row: its smallest is the point itself (0).
    return torch.cat([_distances(features[rows], features).kthvalue(k + 1, dim=1).values
                      for rows in _chunks(len(features), chunk_size)])


def inside_any_ball(queries: Tensor, centres: Tensor, radii: Tensor, chunk_size: int) -> Tensor:
    """(Q,) bool: query point within distance radii[j] (inclusive) of at least one centre j."""
    radii = radii.double().to(queries.device)
    return torch.cat([(_distances(queries[rows], centres) <= radii[None]).any(dim=1)
                      for rows in _chunks(len(queries), chunk_size)])


def precision_recall(real: Tensor, fake: Tensor, k: int, chunk_size: int) -> tuple[float, float]:
    """Kynkäänniemi et al. 2019 precision and recall of `fake` (M, D) against `real` (N, D), k-NN balls."""
    precision = inside_any_ball(fake, real, knn_radii(real, k, chunk_size), chunk_size).double().mean()
    recall = inside_any_ball(real, fake, knn_radii(fake, k, chunk_size), chunk_size).double().mean()
    return float(precision), float(recall)


def nearest_distances(queries: Tensor, support: Tensor, chunk_size: int) -> Tensor:
    """(Q,) distance from each query point to its nearest point of `support`."""
    return torch.cat([_distances(queries[rows], support).min(dim=1).values
                      for rows in _chunks(len(queries), chunk_size)])


def memorisation_ratio(fake: Tensor, heldout: Tensor, train: Tensor, chunk_size: int) -> float:
    """median_f min_t |f - t| / median_h min_t |h - t| (medians as numpy's: the mean of the middle two)."""
    fake_median = nearest_distances(fake, train, chunk_size).quantile(0.5)
    heldout_median = nearest_distances(heldout, train, chunk_size).quantile(0.5)
    return float(fake_median / heldout_median)


def equal_size_subsets(real: Tensor, fake: Tensor, num_samples: int, seed: int) -> tuple[Tensor, Tensor]:
    """The same number of real and fake points, min(num_samples, len(real), len(fake)): a random subset of `real`
    drawn from `seed` (dataset order may be sorted, e.g. by class), the first points of `fake` (already i.i.d.)."""
    n = min(int(num_samples), len(real), len(fake))
    order = torch.randperm(len(real), generator=torch.Generator().manual_seed(seed))[:n]
    return real[order.to(real.device)], fake[:n]


def fidelity_protocol(k: int, num_samples: int, heldout_split: str | None) -> str:
    """`/pr:k3n1438/mem:test`: what precision/recall (k, points per set) and memorisation (held-out split) used."""
    memorisation = f"/mem:{heldout_split}" if heldout_split else ""
    return f"/pr:k{k}n{num_samples}{memorisation}"


def gather_rows(rows: Tensor, world_size: int) -> Tensor:
    """Every rank's `rows` (R_i, ...) concatenated in rank order, on every rank (DDP); `rows` itself on one process.

    Ranks may hold different numbers of rows: each is padded to the largest for all_gather and trimmed after.
    """
    if world_size == 1:
        return rows
    if not (dist.is_available() and dist.is_initialized()):
        raise RuntimeError(f"world_size={world_size} but torch.distributed is not initialised")
    count = torch.tensor([len(rows)], dtype=torch.long, device=rows.device)
    counts = [torch.zeros_like(count) for _ in range(world_size)]
    dist.all_gather(counts, count)
    largest = int(max(int(c) for c in counts))
    padded = torch.zeros(largest, *rows.shape[1:], dtype=rows.dtype, device=rows.device)
    padded[: len(rows)] = rows
    gathered = [torch.empty_like(padded) for _ in range(world_size)]
    dist.all_gather(gathered, padded.contiguous())
    return torch.cat([part[: int(c)] for part, c in zip(gathered, counts, strict=True)])

"""Metrics of class-conditional generators, as pure functions of features, logits and labels.

- Classification accuracy (the "GAN-train/GAN-test" style check used by conditional-GAN papers): a classifier trained
  on real data reads each generated image; a sample counts as correct when the classifier's arg-max is the label G was
  asked for. Reported per class and as the mean over classes (each class weighs the same, whatever its sample count).
- Intra-class FID (Miyato & Koyama 2018): FID between the real and the generated features of one class at a time,
  averaged over classes. A conditional G that draws good images of the wrong class, or one mode per class, scores
  well on plain FID but badly here.

FID of two feature sets with means mu_r, mu_g and covariances S_r, S_g (unbiased, N - 1):

    FID = |mu_r - mu_g|^2 + Tr(S_r) + Tr(S_g) - 2 Tr((S_r S_g)^(1/2))

Tr((S_r S_g)^(1/2)) is computed as the sum of the square roots of the eigenvalues of S_r^(1/2) S_g S_r^(1/2), a
symmetric positive semi-definite matrix with the eigenvalues of S_r S_g (AB and BA share their non-zero
eigenvalues, with A = S_r^(1/2), B = S_r^(1/2) S_g): the trace needs no
non-symmetric matrix square root (scipy.linalg.sqrtm, which the tests use as the independent reference), and
round-off negatives are clipped to 0. Everything is computed in float64.

These functions know nothing of generators or extractors; the evaluator passes them features, logits and labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class PerClass:
    """A metric per class (NaN for a class without samples) and its mean over the classes that have one."""

    per_class: Tensor  # (num_classes,) float64
    mean: float

    def as_row(self, name: str) -> dict[str, float]:
        """{name: mean, name/class_k: value} for metrics.csv."""
        row = {name: self.mean}
        row.update({f"{name}/class_{k}": float(v) for k, v in enumerate(self.per_class)})
        return row


def _check_labels(labels: Tensor, num_classes: int, what: str, count: int) -> Tensor:
    if labels.dim() != 1 or len(labels) != count:
        raise ValueError(f"{what}: expected one label per sample ({count}), got shape {tuple(labels.shape)}")
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"{what}: labels must be in 0..{num_classes - 1}, got {int(labels.min())}.."
                         f"{int(labels.max())}")
    return labels.long().cpu()


def classification_accuracy(logits: Tensor, labels: Tensor, num_classes: int | None = None) -> PerClass:
    """Fraction of samples whose arg-max logit is their intended label, per class, and the mean over classes.

    logits: (N, K) from a classifier of real data; labels: (N,) the classes G was asked for. A class with no sample
    gets NaN and is left out of the mean.
    """
    if logits.dim() != 2:
        raise ValueError(f"logits must be (N, num_classes), got shape {tuple(logits.shape)}")
    num_classes = logits.shape[1] if num_classes is None else num_classes
    labels = _check_labels(labels, num_classes, "classification_accuracy", len(logits))
    correct = (logits.detach().cpu().argmax(dim=1) == labels).double()
    count = torch.bincount(labels, minlength=num_classes).double()
    hits = torch.bincount(labels, weights=correct, minlength=num_classes)
    per_class = torch.where(count > 0, hits / count.clamp(min=1), torch.full_like(count, float("nan")))
    return PerClass(per_class, _nanmean(per_class))


def gaussian_stats(features: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and unbiased covariance (N - 1) of (N, D) features, float64."""
    if len(features) < 2:
        raise ValueError(f"need at least 2 samples for a covariance, got {len(features)}")
    x = features.detach().double().cpu()
    mu = x.mean(dim=0)
    centred = x - mu
    return mu, centred.t().mm(centred) / (len(x) - 1)


def _psd_sqrt(matrix: Tensor) -> Tensor:
    """Square root of a symmetric PSD matrix via its eigendecomposition (round-off negatives clipped)."""
    values, vectors = torch.linalg.eigh(matrix)
    return (vectors * values.clamp(min=0).sqrt()) @ vectors.t()


def frechet_distance(mu1: Tensor, cov1: Tensor, mu2: Tensor, cov2: Tensor) -> float:
    """|mu1 - mu2|^2 + Tr(S1) + Tr(S2) - 2 Tr((S1 S2)^(1/2)) (see the module docstring), in float64."""
    mu1, mu2, cov1, cov2 = (t.double() for t in (mu1, mu2, cov1, cov2))
    root1 = _psd_sqrt(cov1)
    inner = root1 @ cov2 @ root1
    trace_sqrt = torch.linalg.eigvalsh((inner + inner.t()) / 2).clamp(min=0).sqrt().sum()
    value = (mu1 - mu2).square().sum() + cov1.trace() + cov2.trace() - 2 * trace_sqrt
    return float(value)


def intra_class_fid(real_features: Tensor, real_labels: Tensor, fake_features: Tensor, fake_labels: Tensor,
                    num_classes: int) -> PerClass:
    """FID between real and generated features of each class, and the mean over classes.

    Every class needs at least 2 real and 2 generated samples (a covariance); a class with fewer in either set is
    refused, naming it, since leaving it out would flatter a generator that never draws it.
    """
    if real_features.dim() != 2 or fake_features.dim() != 2 or real_features.shape[1] != fake_features.shape[1]:
        raise ValueError(f"features must be (N, D) with equal D, got {tuple(real_features.shape)} and "
                         f"{tuple(fake_features.shape)}")
    real_labels = _check_labels(real_labels, num_classes, "intra_class_fid real labels", len(real_features))
    fake_labels = _check_labels(fake_labels, num_classes, "intra_class_fid fake labels", len(fake_features))
    real_features, fake_features = real_features.detach().cpu(), fake_features.detach().cpu()
    values = []
    for k in range(num_classes):
        real_k, fake_k = real_features[real_labels == k], fake_features[fake_labels == k]
        if len(real_k) < 2 or len(fake_k) < 2:
            raise ValueError(f"intra-class FID: class {k} has {len(real_k)} real and {len(fake_k)} generated samples; "
                             "each class needs at least 2 of both (draw more samples)")
        values.append(frechet_distance(*gaussian_stats(real_k), *gaussian_stats(fake_k)))
    per_class = torch.tensor(values, dtype=torch.float64)
    return PerClass(per_class, float(per_class.mean()))


def _nanmean(values: Tensor) -> float:
    present = values[~values.isnan()]
    return float(present.mean()) if len(present) else float("nan")

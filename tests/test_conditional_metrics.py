"""Conditional metrics (gan/metrics/conditional.py) against hand counts and an independent scipy FID."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from gan.metrics.conditional import classification_accuracy, frechet_distance, gaussian_stats, intra_class_fid

NUM_CLASSES, PER_CLASS, DIM = 3, 40, 4


def scipy_fid(a: np.ndarray, b: np.ndarray) -> float:
    """The textbook formula with scipy's general matrix square root (not the eigenvalue route of the code)."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy.linalg.sqrtm(cov_a @ cov_b).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * np.trace(root))


def labelled_set(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """PER_CLASS samples of each class, class k centred at k along every axis, each class its own covariance."""
    rng = torch.Generator().manual_seed(seed)
    features = [torch.randn(PER_CLASS, DIM, generator=rng) @ torch.randn(DIM, DIM, generator=rng) + k
                for k in range(NUM_CLASSES)]
    return torch.cat(features), torch.arange(NUM_CLASSES).repeat_interleave(PER_CLASS)


def test_accuracy_per_class_and_mean_from_known_logits():
    # class 0: 2 of 2 right; class 1: 1 of 3 right; class 2: 0 of 1 right
    labels = torch.tensor([0, 0, 1, 1, 1, 2])
    predicted = torch.tensor([0, 0, 1, 2, 0, 1])
    logits = torch.nn.functional.one_hot(predicted, NUM_CLASSES).float() * 5 - 1
    result = classification_accuracy(logits, labels)
    assert result.per_class.tolist() == pytest.approx([1.0, 1 / 3, 0.0])
    assert result.mean == pytest.approx((1 + 1 / 3 + 0) / 3)  # every class weighs the same, not 3/6 overall
    row = result.as_row("cond_acc")
    assert row["cond_acc"] == result.mean and row["cond_acc/class_1"] == pytest.approx(1 / 3)


def test_accuracy_leaves_out_classes_without_samples_and_checks_labels():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 3.0]])
    result = classification_accuracy(logits, torch.tensor([0, 0]))
    assert result.per_class[0] == 0.5 and math.isnan(result.per_class[1]) and result.mean == 0.5
    with pytest.raises(ValueError, match="0..2"):
        classification_accuracy(logits, torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="one label per sample"):
        classification_accuracy(logits, torch.tensor([0]))


def test_frechet_distance_matches_scipy_on_unequal_gaussians():
    a, _ = labelled_set(0)
    b, _ = labelled_set(1)
    ours = frechet_distance(*gaussian_stats(a), *gaussian_stats(b))
    assert ours == pytest.approx(scipy_fid(a.numpy().astype(np.float64), b.numpy().astype(np.float64)), rel=1e-6)
    assert ours > 1.0  # not trivially zero


def test_intra_fid_is_zero_when_each_fake_class_equals_the_real_one():
    real, labels = labelled_set(0)
    order = torch.randperm(len(real), generator=torch.Generator().manual_seed(3))  # order must not matter
    result = intra_class_fid(real, labels, real[order], labels[order], NUM_CLASSES)
    assert result.per_class.abs().max() < 1e-8 and abs(result.mean) < 1e-8


def test_a_shifted_class_scores_its_squared_shift_and_the_mean_averages_classes():
    real, labels = labelled_set(0)
    shift = torch.tensor([1.0, -2.0, 0.5, 0.0])
    fake = real.clone()
    fake[labels == 1] += shift  # equal covariances: FID is the squared mean shift alone
    result = intra_class_fid(real, labels, fake, labels, NUM_CLASSES)
    expected = float(shift.square().sum())  # 5.25
    assert result.per_class.tolist() == pytest.approx([0.0, expected, 0.0], abs=1e-6)  # float32 features
    assert result.mean == pytest.approx(expected / NUM_CLASSES)


def test_intra_fid_is_the_mean_of_per_class_scipy_fids_not_the_pooled_fid():
    real, real_labels = labelled_set(0)
    fake, fake_labels = labelled_set(1)
    # a generator that mixes up classes 0 and 2 has the pooled distribution right but every class wrong
    swapped = torch.tensor([2, 1, 0])[fake_labels]
    result = intra_class_fid(real, real_labels, fake, swapped, NUM_CLASSES)
    expected = [scipy_fid(real[real_labels == k].double().numpy(), fake[swapped == k].double().numpy())
                for k in range(NUM_CLASSES)]
    assert result.per_class.tolist() == pytest.approx(expected, rel=1e-6)
    assert result.mean == pytest.approx(np.mean(expected), rel=1e-6)
    pooled = scipy_fid(real.double().numpy(), fake.double().numpy())
    assert result.mean > 2 * pooled


def test_intra_fid_refuses_a_class_with_too_few_samples():
    real, labels = labelled_set(0)
    keep = labels != 2
    with pytest.raises(ValueError, match="class 2 has 0 real"):
        intra_class_fid(real[keep], labels[keep], real, labels, NUM_CLASSES)

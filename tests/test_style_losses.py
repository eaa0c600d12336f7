"""Content and style (Gram) losses against hand computations: explicit loops and numpy einsum."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gan.losses import content_loss, gram_matrix, pixel_loss, style_loss


def _maps(seed: int, shape=(2, 3, 4, 5)) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _gram_loops(x: np.ndarray) -> np.ndarray:
    n, c, h, w = x.shape
    out = np.zeros((n, c, c))
    for k in range(n):
        for i in range(c):
            for j in range(c):
                out[k, i, j] = sum(x[k, i, p, q] * x[k, j, p, q] for p in range(h) for q in range(w)) / (c * h * w)
    return out


def test_gram_matrix_matches_explicit_loops():
    x = _maps(0)
    assert gram_matrix(x).shape == (2, 3, 3)
    np.testing.assert_allclose(gram_matrix(x).numpy(), _gram_loops(x.numpy()), rtol=1e-12)


def test_gram_matrix_refuses_vectors():
    with pytest.raises(ValueError, match="N, C, H, W"):
        gram_matrix(torch.zeros(2, 3))


def test_style_loss_is_the_summed_mean_squared_gram_difference():
    a = [_maps(1), _maps(2, (2, 6, 2, 2))]
    b = [_maps(3), _maps(4, (2, 6, 2, 2))]
    expected = 0.0
    for x, y in zip(a, b, strict=True):
        x, y = x.numpy(), y.numpy()
        c, h, w = x.shape[1:]
        gx = np.einsum("nchw,ndhw->ncd", x, x) / (c * h * w)
        gy = np.einsum("nchw,ndhw->ncd", y, y) / (c * h * w)
        expected += ((gx - gy) ** 2).mean()
    assert float(style_loss(a, b)) == pytest.approx(expected, rel=1e-12)


def test_content_loss_is_the_summed_mean_squared_difference():
    a = [_maps(5), _maps(6, (2, 7))]
    b = [_maps(7), _maps(8, (2, 7))]
    expected = sum(((x.numpy() - y.numpy()) ** 2).mean() for x, y in zip(a, b, strict=True))
    assert float(content_loss(a, b)) == pytest.approx(expected, rel=1e-12)
    assert float(pixel_loss(a[0], b[0])) == pytest.approx(((a[0].numpy() - b[0].numpy()) ** 2).mean(), rel=1e-12)


def test_losses_vanish_for_identical_inputs():
    a = [_maps(9), _maps(10, (2, 6, 2, 2))]
    assert float(style_loss(a, [x.clone() for x in a])) == 0.0
    assert float(content_loss(a, [x.clone() for x in a])) == 0.0
    assert float(pixel_loss(a[0], a[0].clone())) == 0.0


def test_style_loss_ignores_where_things_are():
    # Gram matrices sum over positions: a spatial permutation of the maps keeps the style, not the content.
    x = _maps(11)
    shuffled = x.flatten(2)[:, :, torch.randperm(20, generator=torch.Generator().manual_seed(0))].reshape(x.shape)
    assert float(style_loss([x], [shuffled])) == pytest.approx(0.0, abs=1e-15)
    assert float(content_loss([x], [shuffled])) > 0.1


def test_gradients_flow_to_both_inputs():
    a, b = _maps(12).requires_grad_(True), _maps(13).requires_grad_(True)
    (style_loss([a], [b]) + content_loss([a], [b]) + pixel_loss(a, b)).backward()
    for x in (a, b):
        assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_mismatched_layer_lists_are_refused():
    with pytest.raises(ValueError, match="one per layer"):
        style_loss([_maps(0)], [])
    with pytest.raises(ValueError, match="one per layer"):
        content_loss([_maps(0)], [_maps(0), _maps(1)])

"""Each loss against a hand computation on fixed logits (values worked out with math, not the code)."""

import math

import pytest
import torch

from gan import losses

REAL = torch.tensor([2.0, -1.0])
FAKE = torch.tensor([0.5, -3.0])


def sig(v):
    return 1 / (1 + math.exp(-v))


def test_ns_and_minimax():
    real_term = -(math.log(sig(2.0)) + math.log(sig(-1.0))) / 2
    expected_d = real_term - (math.log(1 - sig(0.5)) + math.log(1 - sig(-3.0))) / 2
    assert losses.ns_d(REAL, FAKE).item() == pytest.approx(expected_d, rel=1e-6)
    assert losses.minimax_d(REAL, FAKE).item() == pytest.approx(expected_d, rel=1e-6)
    assert losses.ns_g(FAKE).item() == pytest.approx(-(math.log(sig(0.5)) + math.log(sig(-3.0))) / 2, rel=1e-6)
    expected_minimax_g = (math.log(1 - sig(0.5)) + math.log(1 - sig(-3.0))) / 2
    assert losses.minimax_g(FAKE).item() == pytest.approx(expected_minimax_g, rel=1e-6)


def test_ns_is_stable_for_large_logits():
    assert torch.isfinite(losses.ns_d(torch.tensor([-200.0]), torch.tensor([200.0])))
    assert losses.ns_g(torch.tensor([-200.0])).item() == pytest.approx(200.0)


def test_hinge():
    # D: mean(relu(1 - [2, -1])) + mean(relu(1 + [0.5, -3])) = (0 + 2)/2 + (1.5 + 0)/2
    assert losses.hinge_d(REAL, FAKE).item() == pytest.approx(1.0 + 0.75)
    assert losses.hinge_g(FAKE).item() == pytest.approx(1.25)


def test_wasserstein():
    assert losses.wasserstein_d(REAL, FAKE).item() == pytest.approx(-1.25 - 0.5)
    assert losses.wasserstein_g(FAKE).item() == pytest.approx(1.25)


def test_lsgan():
    # 0.5 * mean((real-1)^2) + 0.5 * mean(fake^2) = 0.5*(1+4)/2 + 0.5*(0.25+9)/2
    assert losses.lsgan_d(REAL, FAKE).item() == pytest.approx(1.25 + 2.3125)
    assert losses.lsgan_g(FAKE).item() == pytest.approx(0.5 * (0.25 + 16) / 2)


def test_gradient_penalty_of_a_linear_critic():
    # D(x) = w.x has gradient w everywhere: the penalty is (||w|| - 1)^2 whatever the interpolates.
    w = torch.tensor([3.0, 4.0])
    critic = lambda x: x @ w  # noqa: E731
    real, fake = torch.randn(16, 2), torch.randn(16, 2)
    assert losses.gradient_penalty(critic, real, fake).item() == pytest.approx((5.0 - 1.0) ** 2, rel=1e-5)


def test_gradient_penalty_of_a_quadratic_critic_uses_interpolates():
    # D(x) = 0.5 ||x||^2 has gradient x: with real = fake = p, x̂ = p and the penalty is (||p|| - 1)^2.
    critic = lambda x: 0.5 * x.pow(2).sum(dim=1)  # noqa: E731
    p = torch.tensor([[0.0, 2.0], [3.0, 0.0]])
    assert losses.gradient_penalty(critic, p, p).item() == pytest.approx(((2 - 1) ** 2 + (3 - 1) ** 2) / 2, rel=1e-5)


def test_gradient_penalty_backpropagates_into_the_critic():
    w = torch.tensor([3.0, 4.0], requires_grad=True)
    losses.gradient_penalty(lambda x: x @ w, torch.randn(4, 2), torch.randn(4, 2)).backward()
    # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||
    assert torch.allclose(w.grad, 2 * 4 * torch.tensor([3.0, 4.0]) / 5, atol=1e-4)


def test_r1_of_a_quadratic_critic():
    x = torch.tensor([[1.0, 2.0], [0.0, 3.0]], requires_grad=True)
    logits = 0.5 * x.pow(2).sum(dim=1)
    # gradient is x: mean of ||x||^2 = (5 + 9) / 2
    assert losses.r1_penalty(logits, x).item() == pytest.approx(7.0)


def test_top_k_keeps_the_largest_logits_by_hand():
    logits = torch.tensor([3.0, -1.0, 2.0, 0.5])
    assert sorted(losses.top_k_logits(logits, 0.5).tolist()) == [2.0, 3.0]
    assert sorted(losses.top_k_logits(logits, 0.6).tolist()) == [0.5, 2.0, 3.0]  # ceil(0.6 x 4) = 3
    assert sorted(losses.top_k_logits(logits, 0.01).tolist()) == [3.0]  # never empty
    assert losses.top_k_logits(logits, 1.0) is logits
    with pytest.raises(ValueError, match="top-k fraction"):
        losses.top_k_logits(logits, 0.0)


def test_top_k_gives_the_discarded_samples_no_gradient():
    logits = torch.tensor([3.0, -1.0, 2.0, 0.5], requires_grad=True)
    losses.hinge_g(losses.top_k_logits(logits, 0.5)).backward()
    # hinge_g = -mean over the kept two: -1/2 for each of them, 0 for the thrown-away ones
    assert logits.grad.tolist() == [-0.5, 0.0, -0.5, 0.0]

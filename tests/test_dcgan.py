"""The class-conditional DCGAN discriminator: its projection term must start on the scale of the unconditional logit.

Regression (issue 15): the projection <embed(y), features> used sum-pooled features and nn.Embedding's N(0, 1) init,
so at 32x32 it was ~200 times the head's logit. D's logits sat at +-50 from the first step, the losses saturated and
conditional runs never trained (FID ~4000 at every evaluation, against ~20-140 for the unconditional model).
"""

import math

import pytest
import torch
import torch.nn.functional as F

from gan.data.embedded import DigitsDataset
from gan.nets.dcgan import DCGANDiscriminator, DCGANGenerator

BATCH = 64


def real_batch(resolution: int) -> tuple[torch.Tensor, torch.Tensor]:
    data = DigitsDataset(resolution)
    return data.images[:BATCH], data.labels[:BATCH]


def head_and_projection(d: DCGANDiscriminator, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """D's unconditional logit (the head on the last feature map) and the class term (the rest of the logit)."""
    h = x
    for block in d.blocks:
        h = block(h)
    head = d.head(h).flatten()
    return head, d(x, y) - head


@pytest.mark.parametrize("spectral_norm", [False, True])
@pytest.mark.parametrize("resolution,width", [(16, 16), (32, 32), (64, 16)])
def test_projection_term_starts_on_the_scale_of_the_head(resolution, width, spectral_norm):
    torch.manual_seed(0)
    x, y = real_batch(resolution)
    d = DCGANDiscriminator(channels=1, resolution=resolution, width=width, num_classes=10,
                           spectral_norm=spectral_norm)
    with torch.no_grad():
        head, projection = head_and_projection(d, x, y)
    ratio = projection.std() / head.std()
    # Measured with the fix: 0.6-1.3. Before it: ~200 without spectral norm.
    assert 0.1 < ratio < 5, f"projection std / head std = {ratio:.3g}"


def test_conditional_d_starts_unsaturated_like_the_unconditional_one():
    """At initialisation D knows nothing: its non-saturating loss on real vs generated digits is near log 4 (logits
    near 0), with or without classes. Saturated logits (the bug) give a loss of tens and no useful gradient to G."""
    torch.manual_seed(0)
    x, y = real_batch(32)
    losses = {}
    for num_classes in (0, 10):
        torch.manual_seed(1)
        g = DCGANGenerator(latent_dim=100, channels=1, resolution=32, width=32, num_classes=num_classes, embed_dim=32)
        d = DCGANDiscriminator(channels=1, resolution=32, width=32, num_classes=num_classes)
        labels = y if num_classes else None
        with torch.no_grad():
            fake = g(torch.randn(BATCH, 100), labels)
            real_logits, fake_logits = d(x, labels), d(fake, labels)
        losses[num_classes] = (F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()).item()
        assert real_logits.abs().max() < 5 and fake_logits.abs().max() < 5, num_classes
    assert losses[10] == pytest.approx(math.log(4), abs=0.5)
    assert losses[10] == pytest.approx(losses[0], abs=0.5)


def test_one_d_step_moves_the_class_term_on_the_scale_of_the_head():
    """One Adam step on D moves the projection term by about as much as the head's logit (not orders of magnitude
    more or less): the class embedding learns at the speed of the rest of D."""
    torch.manual_seed(0)
    x, y = real_batch(32)
    d = DCGANDiscriminator(channels=1, resolution=32, width=32, num_classes=10)
    opt = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    with torch.no_grad():
        head0, proj0 = head_and_projection(d, x, y)
    loss = F.softplus(-d(x, y)).mean() + F.softplus(d(torch.rand_like(x) * 2 - 1, y)).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    with torch.no_grad():
        head1, proj1 = head_and_projection(d, x, y)
    ratio = (proj1 - proj0).abs().mean() / (head1 - head0).abs().mean()
    assert 0.05 < ratio < 20, f"class-term change / head change = {ratio:.3g}"

import pytest
import torch

from gan.nets.dcgan import DCGANDiscriminator, DCGANGenerator
from gan.nets.mlp import MLPDiscriminator, MLPGenerator


@pytest.mark.parametrize("resolution,channels", [(16, 1), (32, 3), (64, 1)])
def test_dcgan_shapes(resolution, channels):
    g = DCGANGenerator(latent_dim=8, channels=channels, resolution=resolution, width=8)
    d = DCGANDiscriminator(channels=channels, resolution=resolution, width=8)
    x = g(torch.randn(3, 8))
    assert x.shape == (3, channels, resolution, resolution)
    assert x.abs().max() <= 1
    assert d(x).shape == (3,)
    assert len(d.blocks) == {16: 2, 32: 3, 64: 4}[resolution]


def test_dcgan_rejects_bad_resolution():
    with pytest.raises(ValueError, match="4·2\\^k"):
        DCGANGenerator(latent_dim=8, channels=1, resolution=28, width=8)


def test_conditional_dcgan_uses_labels():
    torch.manual_seed(0)
    g = DCGANGenerator(latent_dim=8, channels=1, resolution=16, width=8, num_classes=3, embed_dim=4).eval()
    d = DCGANDiscriminator(channels=1, resolution=16, width=8, num_classes=3).eval()
    z = torch.randn(2, 8)
    a, b = g(z, torch.tensor([0, 0])), g(z, torch.tensor([1, 1]))
    assert not torch.allclose(a, b)
    x = torch.randn(2, 1, 16, 16)
    assert not torch.allclose(d(x, torch.tensor([0, 0])), d(x, torch.tensor([2, 2])))
    with pytest.raises(ValueError, match="class-conditional"):
        g(z)


def test_mlp_pacgan_packing():
    d = MLPDiscriminator(in_dim=2, hidden_dim=16, num_hidden=2, pack=4)
    assert d(torch.randn(8, 2)).shape == (2,)
    with pytest.raises(ValueError, match="multiple of PacGAN pack=4"):
        d(torch.randn(6, 2))
    g = MLPGenerator(latent_dim=2, out_dim=2, hidden_dim=16, num_hidden=2)
    assert g(torch.randn(5, 2)).shape == (5, 2)

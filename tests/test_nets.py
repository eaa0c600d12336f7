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


def test_latent_code_is_the_argmax_of_z_first_entries_and_uniform():
    from gan.nets.dcgan import latent_code

    z = torch.tensor([[0.1, 2.0, -1.0, 5.0], [3.0, -2.0, 0.5, 9.0]])
    assert latent_code(z, 3).tolist() == [1, 0]  # the 4th entry is not part of the code
    codes = latent_code(torch.randn(20000, 16, generator=torch.Generator().manual_seed(0)), 10)
    counts = torch.bincount(codes, minlength=10).double()
    # uniform over the 10 codes: each count 2000 +- ~42 (binomial std); chi-square with 9 dof far below its 0.1 % tail
    assert ((counts - 2000) ** 2 / 2000).sum() < 27.9


def test_dcgan_generator_reads_the_embedding_of_its_latent_code():
    torch.manual_seed(0)
    g = DCGANGenerator(latent_dim=8, channels=1, resolution=16, width=8, embed_dim=4, latent_codes=3).eval()
    assert g.num_classes == 0  # unconditional: samplers draw no labels
    z = torch.randn(5, 8)
    z[:, :3] = torch.tensor([[2.0, 0, 0], [0, 2.0, 0], [0, 0, 2.0], [2.0, 0, 0], [0, 2.0, 0]])
    by_hand = g.net(torch.cat([z, g.code_embed.weight[[0, 1, 2, 0, 1]]], dim=1)[:, :, None, None])
    torch.testing.assert_close(g(z), by_hand)
    with torch.no_grad():
        g.code_embed.weight[1] += 1.0  # moving code 1's embedding moves exactly the samples with code 1
    changed = (g(z) - by_hand).flatten(1).abs().amax(dim=1) > 0
    assert changed.tolist() == [False, True, False, False, True]
    for bad in (1, 9):
        with pytest.raises(ValueError, match="latent_codes must be 0"):
            DCGANGenerator(latent_dim=8, channels=1, resolution=16, width=8, embed_dim=4, latent_codes=bad)


def test_mlp_pacgan_packing():
    d = MLPDiscriminator(in_dim=2, hidden_dim=16, num_hidden=2, pack=4)
    assert d(torch.randn(8, 2)).shape == (2,)
    with pytest.raises(ValueError, match="multiple of PacGAN pack=4"):
        d(torch.randn(6, 2))
    g = MLPGenerator(latent_dim=2, out_dim=2, hidden_dim=16, num_hidden=2)
    assert g(torch.randn(5, 2)).shape == (5, 2)


def test_minibatch_std_appends_each_group_spread_by_hand():
    from gan.nets.dcgan import minibatch_std

    h = torch.zeros(4, 2, 1, 1)
    h[0, 0], h[1, 0] = 1.0, 3.0  # group 0: feature 0 has std 1 (population), feature 1 std 0 -> mean 0.5
    h[2, 1], h[3, 1] = -2.0, 2.0  # group 1: feature 0 std 0, feature 1 std 2 -> mean 1
    out = minibatch_std(h, 2)
    assert out.shape == (4, 3, 1, 1) and torch.equal(out[:, :2], h)
    torch.testing.assert_close(out[:, 2].flatten(), torch.tensor([0.5, 0.5, 1.0, 1.0]), atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="multiple of minibatch_std_group=3"):
        minibatch_std(h, 3)


def test_dcgan_discriminator_with_minibatch_std_sees_the_batch_spread():
    torch.manual_seed(0)
    d = DCGANDiscriminator(channels=1, resolution=16, width=8, minibatch_std_group=2).eval()
    x = torch.randn(4, 1, 16, 16)
    alone = d(x)
    # replacing sample 1 changes the logit of its group partner (sample 0) but not of the other group's samples
    y = x.clone()
    y[1] = torch.randn(1, 16, 16)
    moved = d(y)
    assert not torch.allclose(alone[0], moved[0]) and torch.equal(alone[2:], moved[2:])
    with pytest.raises(ValueError, match="minibatch_std_group must be 0"):
        DCGANDiscriminator(channels=1, resolution=16, width=8, minibatch_std_group=1)

"""ResNet-SN (gan/nets/resnet.py): block shapes, spectral norm, conditional BN, the projection term, widths, DDP."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from gan.config import instantiate_node
from gan.nets.resnet import ConditionalBatchNorm2d, ResNetDiscriminator, ResNetGenerator
from tests.conftest import make_config
from tests.test_train_e2e import run_train

LATENT, WIDTH, CLASSES, BATCH = 8, 8, 10, 4
# D's raw weights are scaled by this before the spectral-norm check
RAW_SCALE = 5.0


def nets(resolution: int, num_classes: int = CLASSES, shared: int = 0, width: int = WIDTH, **kwargs):
    torch.manual_seed(0)
    g = ResNetGenerator(LATENT, 1, resolution, width, num_classes=num_classes, shared_embed_dim=shared, **kwargs)
    d = ResNetDiscriminator(1, resolution, width, num_classes=num_classes, **kwargs)
    return g, d


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def randomise_class_tables(g: ResNetGenerator) -> None:
    """At init every class has gain 1 and bias 0 (SNGAN), so classes only differ once trained: stand in for that."""
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for module in g.modules():
            if isinstance(module, ConditionalBatchNorm2d) and module.conditional:
                for table in (module.gain.weight, module.bias.weight):
                    table.copy_(torch.randn(table.shape, generator=generator))


@pytest.mark.parametrize("resolution", [16, 32, 64])
@pytest.mark.parametrize("blocks_per_stage", [1, 2])
def test_every_block_doubles_or_halves_the_side(resolution: int, blocks_per_stage: int):
    multipliers = {16: [2, 1], 32: [4, 2, 1], 64: [8, 4, 2, 1]}[resolution]
    g, d = nets(resolution, channel_multipliers=multipliers, blocks_per_stage=blocks_per_stage)
    y = torch.arange(BATCH)
    h = g.linear(torch.randn(BATCH, LATENT)).view(BATCH, -1, 4, 4)
    side, stages = 4, len(multipliers)
    assert len(g.blocks) == len(d.blocks) == stages * blocks_per_stage
    for i, block in enumerate(g.blocks):
        h = block(h, y)
        side *= 2 if i % blocks_per_stage == 0 else 1
        assert h.shape == (BATCH, WIDTH * multipliers[i // blocks_per_stage], side, side), i
    assert side == resolution
    x = g(torch.randn(BATCH, LATENT), y)
    assert x.shape == (BATCH, 1, resolution, resolution) and x.abs().max() <= 1
    h = x
    for i, block in enumerate(d.blocks):
        h = block(h)
        side //= 2 if i % blocks_per_stage == 0 else 1
        assert h.shape == (BATCH, WIDTH * multipliers[i // blocks_per_stage], side, side), i
    assert side == 4
    assert d(x, y).shape == (BATCH,)


def test_unsupported_resolution_and_bad_widths_are_refused():
    with pytest.raises(ValueError, match="16, 32, 64"):
        ResNetGenerator(LATENT, 1, 8, WIDTH)
    with pytest.raises(ValueError, match="need 3 positive integers"):
        ResNetDiscriminator(1, 32, WIDTH, channel_multipliers=[1, 2])


def test_spectral_norm_keeps_every_d_weight_at_unit_largest_singular_value():
    _, d = nets(32, width=16)
    d.train()
    with torch.no_grad():
        for module in d.modules():
            if hasattr(module, "parametrizations"):
                module.parametrizations.weight.original.mul_(RAW_SCALE)  # far from unit, whatever the init gave
        for _ in range(20):  # each train-mode forward runs one more power iteration per weight
            d(torch.randn(BATCH, 1, 32, 32), torch.randint(CLASSES, (BATCH,)))
    checked = 0
    for name, module in d.named_modules():
        if not hasattr(module, "parametrizations"):
            continue
        raw = module.parametrizations.weight.original
        weight = module.weight.detach()  # W / sigma estimated by power iteration
        raw_sigma = torch.linalg.svdvals(raw.detach().reshape(raw.shape[0], -1))[0]
        sigma = torch.linalg.svdvals(weight.reshape(weight.shape[0], -1))[0]
        assert sigma == pytest.approx(1.0, abs=0.05), name
        assert raw_sigma > 2, name  # the raw weight is not already unit: the normalisation did the work
        checked += 1
    # 3 convs (two 3x3 and the 1x1 shortcut) in each of the 3 blocks at 32x32, the head and the class embedding
    assert checked == 3 + 3 + 3 + 2


def test_discriminator_without_spectral_norm_has_plain_weights_and_the_same_shapes():
    torch.manual_seed(0)
    plain = ResNetDiscriminator(1, 32, WIDTH, num_classes=CLASSES, spectral_norm=False)
    _, normed = nets(32)
    assert not any(hasattr(m, "parametrizations") for m in plain.modules())
    def shapes(d):
        return {n.replace("parametrizations.weight.original", "weight"): p.shape for n, p in d.named_parameters()}

    assert shapes(plain) == shapes(normed)
    with torch.no_grad():
        plain.head.weight.mul_(RAW_SCALE)  # a plain weight is used as it is: the logit scales with it
        x, y = torch.randn(BATCH, 1, 32, 32), torch.randint(CLASSES, (BATCH,))
        before = plain.projection(plain.features(x), y)
        logits = plain(x, y)
    torch.testing.assert_close(logits, plain.head(plain.features(x)).flatten() + before)


@pytest.mark.parametrize("shared", [0, 6])
def test_conditional_bn_gives_each_class_its_own_image(shared: int):
    g, _ = nets(16, shared=shared)
    if not shared:
        randomise_class_tables(g)
    g.eval()
    z = torch.randn(1, LATENT).repeat(3, 1)
    with torch.no_grad():
        out = g(z, torch.tensor([2, 5, 2]))
    assert torch.equal(out[0], out[2])  # same z, same label: same image
    assert (out[0] - out[1]).abs().max() > 1e-3  # same z, other label: another image
    if shared:
        assert g.shared_embed is not None and g.blocks[0].bn1.gain.in_features == shared
    else:
        assert g.blocks[0].bn1.gain.weight.shape == (CLASSES, WIDTH)  # a gain per class and channel


def test_unconditional_nets_take_no_labels_and_conditional_ones_require_them():
    g, d = nets(16, num_classes=0)
    assert g(torch.randn(2, LATENT)).shape == (2, 1, 16, 16) and d(torch.zeros(2, 1, 16, 16)).shape == (2,)
    g, d = nets(16)
    with pytest.raises(ValueError, match="pass class labels"):
        g(torch.randn(2, LATENT))
    with pytest.raises(ValueError, match="pass class labels"):
        d(torch.zeros(2, 1, 16, 16))


def test_projection_term_is_the_inner_product_of_the_class_embedding_and_the_features():
    _, d = nets(32)
    d.eval()  # no power iteration between the calls: every call sees the same normalised weights
    x, y = torch.randn(BATCH, 1, 32, 32), torch.tensor([0, 3, 3, 9])
    with torch.no_grad():
        logits = d(x, y)
        h = x
        for block in d.blocks:
            h = block(h)
        h = torch.relu(h).sum(dim=(2, 3))  # global sum pooling, by hand
        unconditional = h @ d.head.weight.t() + d.head.bias
        embed = d.embed.weight  # the spectrally normalised class table, indexed by hand
        by_hand = (embed[y] * h).sum(dim=1)
    assert torch.allclose(logits - unconditional.flatten(), by_hand, atol=1e-4, rtol=1e-4)
    assert by_hand.abs().min() > 0  # the term is there, not trivially zero


def test_parameter_counts_follow_the_configured_widths():
    counts = {}
    for width in (8, 16):
        cfg = make_config("model=resnet_sn", "data.resolution=16", f"model.generator.width={width}",
                          "model.discriminator.width=8", "model.latent_dim=8", "model.num_classes=10")
        # the model nodes alone (build_module would import Lightning, ~15 s on a busy 2-core machine)
        counts[width] = (count(instantiate_node(cfg.model.generator)), count(instantiate_node(cfg.model.discriminator)))
    assert counts[16][0] > 2 * counts[8][0]  # convolutions grow with width squared
    assert counts[16][1] == counts[8][1]  # D's width was not changed
    g8, d8 = nets(16, width=8)
    g16, d16 = nets(16, width=16)
    assert count(d16) > 2 * count(d8) and count(g16) == counts[16][0]


@pytest.mark.slow
def test_ddp_two_cpu_processes_train_resnet_sn_in_sync(tmp_path):
    """Conditional BN, the shared embedding and the projection D under DDP: no unused-parameter error, and the two
    ranks (which saw different batches) end with equal weights."""
    run_dir, probe = tmp_path / "run", tmp_path / "probe"
    run_train(run_dir, "model=resnet_sn", "loss=hinge", "model.num_classes=10", "model.generator.shared_embed_dim=4",
              "data.resolution=16", "data.batch_size=16", "model.generator.width=8", "model.discriminator.width=8",
              "model.latent_dim=8", "trainer=ddp_cpu", "trainer.max_steps=6", "eval_every_n_steps=6",
              f"callbacks=[{{_target_: tests.ddp_probe.WeightDigest, out_dir: '{probe}'}}]")
    ranks = [json.loads((probe / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert all(r["world_size"] == 2 for r in ranks)
    assert ranks[0]["digest"].keys() == ranks[1]["digest"].keys()
    assert any("embed" in name for name in ranks[0]["digest"])
    for name, value in ranks[0]["digest"].items():
        assert value == pytest.approx(ranks[1]["digest"][name], rel=1e-6, abs=1e-6), name
    assert json.loads((run_dir / "status.json").read_text())["state"] == "finished"

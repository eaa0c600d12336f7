"""StyleGAN-lite (gan/nets/stylegan.py): shapes, the modulated convolution against a per-sample hand computation,
demodulation, style mixing (which w reaches which layer), truncation, w_avg, noise, and training with it (exact
resume, fine-tuning with FreezeD, DDP)."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from gan.nets.stylegan import StyleGANGenerator, StyleLayer, ToRGB, modulated_conv2d
from tests.test_resume import TOTAL
from tests.test_train_e2e import run_train
from tests.training_helpers import Crash, CrashAt, callback, last_ckpt, load, train_tiny

LATENT, W_DIM = 8, 16
# model=stylegan at the tiny size of tests/training_helpers.py (which sets widths 8 and latent 8)
TINY_STYLEGAN = ("model=stylegan", "model.generator.channel_max=16", "model.generator.w_dim=16",
                 "model.generator.mapping_layers=2")


def generator(resolution: int = 16, **kwargs) -> StyleGANGenerator:
    torch.manual_seed(0)
    return StyleGANGenerator(LATENT, 1, resolution, w_dim=W_DIM, width=4, channel_max=8, **kwargs)


@pytest.mark.parametrize(("resolution", "resolutions"), [
    (16, [4, 8, 8, 16, 16, 16]),
    (32, [4, 8, 8, 16, 16, 32, 32, 32]),
    (64, [4, 8, 8, 16, 16, 32, 32, 64, 64, 64]),
])
def test_output_shape_and_one_w_per_conv_layer_plus_the_last_torgb(resolution, resolutions):
    g = generator(resolution)
    assert g(torch.randn(3, LATENT)).shape == (3, 1, resolution, resolution)
    convs = sum(isinstance(m, StyleLayer) for m in g.modules())
    assert g.num_ws == convs + 1 and g.ws_resolutions == resolutions


def test_unsupported_resolution_and_bad_mixing_probability_are_refused():
    with pytest.raises(ValueError, match="resolution"):
        generator(24)
    with pytest.raises(ValueError, match="style_mixing_prob"):
        generator(style_mixing_prob=1.5)


@pytest.mark.parametrize("demodulate", [True, False])
def test_modulated_conv_equals_a_convolution_with_each_samples_own_modulated_weight(demodulate):
    torch.manual_seed(1)
    x, weight, styles = torch.randn(3, 5, 6, 6), torch.randn(4, 5, 3, 3), torch.rand(3, 5) * 3
    expected = []
    for i in range(3):  # StyleGAN2's definition: w'_oik = s_i w_oik, w''_oik = w'_oik / sqrt(sum_ik w'^2)
        w = weight * styles[i][None, :, None, None]
        if demodulate:
            w = w / w.pow(2).sum(dim=(1, 2, 3), keepdim=True).sqrt()
        expected.append(F.conv2d(x[i : i + 1], w, padding=1))
    torch.testing.assert_close(modulated_conv2d(x, weight, styles, demodulate, padding=1), torch.cat(expected),
                               rtol=1e-4, atol=1e-5)


def test_demodulation_keeps_unit_variance_whatever_the_style_magnitude():
    torch.manual_seed(2)
    x = torch.randn(8, 64, 16, 16)
    weight = torch.randn(64, 64, 3, 3)
    for scale in (0.01, 1.0, 100.0):
        styles = (torch.rand(8, 64) + 0.5) * scale
        std = modulated_conv2d(x, weight, styles, demodulate=True, padding=1)[..., 1:-1, 1:-1].std()
        assert 0.9 < float(std) < 1.1, (scale, float(std))
    undemodulated = modulated_conv2d(x, weight, torch.full((8, 64), 100.0), demodulate=False, padding=1)
    assert float(undemodulated.std()) > 100  # so the check above can fail


def recorded_layer_inputs(g: StyleGANGenerator, run) -> list[torch.Tensor]:
    """The w each layer's style affine receives, in synthesis order (conv0, conv1, torgb per block)."""
    seen: list[torch.Tensor] = []
    hooks = [m.affine.register_forward_hook(lambda _m, args, _out: seen.append(args[0].detach().clone()))
             for m in g.synthesis.modules() if isinstance(m, StyleLayer | ToRGB)]
    try:
        run()
    finally:
        for hook in hooks:
            hook.remove()
    return seen


def layer_ws_index(g: StyleGANGenerator) -> list[int]:
    """The ws index of each affine in synthesis order, by StyleGAN2's layout (a block's toRGB shares the next
    block's first w)."""
    index, start = [], 0
    for block in g.synthesis.blocks.values():
        convs = 1 if block.conv0 is None else 2
        index += [start + i for i in range(convs)] + [start + convs]
        start += convs
    return index


def test_style_mixing_feeds_w1_before_the_crossover_and_w2_after():
    g = generator(32, style_mixing_prob=1.0).train()
    z = torch.randn(4, LATENT)
    w1 = g.mapping(z, None).detach()
    for draw in range(6):
        torch.manual_seed(draw)
        inputs = recorded_layer_inputs(g, lambda: g(z))
        index = layer_ws_index(g)
        from_w1 = [torch.allclose(w, w1) for w in inputs]
        # the crossover: the first ws index not fed w1; every layer before it gets w1, every layer from it on w2
        cutoff = min(i for i, ok in zip(index, from_w1, strict=True) if not ok)
        assert 1 <= cutoff < g.num_ws
        assert all(ok == (i < cutoff) for i, ok in zip(index, from_w1, strict=True))
        w2 = [w for i, w in zip(index, inputs, strict=True) if i >= cutoff]
        assert all(torch.equal(w, w2[0]) for w in w2) and not torch.allclose(w2[0], w1)
    # without mixing (probability 0, or eval mode) every layer gets w1
    for net in (generator(32, style_mixing_prob=0.0).train(), g.eval()):
        assert all(torch.allclose(w, net.mapping(z, None)) for w in recorded_layer_inputs(net, lambda n=net: n(z)))


def test_truncation_psi_zero_gives_the_mean_w_image_for_every_seed():
    g = generator()
    with torch.no_grad():
        g.w_avg.copy_(torch.randn(W_DIM))
    g.eval()
    z = torch.randn(5, LATENT)
    at_mean = g(z, truncation_psi=0.0)
    assert all(torch.allclose(img, at_mean[0], atol=1e-6) for img in at_mean)
    ws = g.w_avg[None, None].expand(1, g.num_ws, -1)
    torch.testing.assert_close(at_mean[:1], g.synthesis(ws, "const"))
    plain = g(z)
    assert not torch.allclose(plain[0], plain[1])
    halfway = g.map(z, truncation_psi=0.5)[:, 0]
    torch.testing.assert_close(halfway, (g.w_avg + g.map(z)[:, 0]) / 2)


def test_w_avg_tracks_training_batches_only():
    g = generator(w_avg_beta=0.5).train()
    z = torch.randn(16, LATENT)
    g(z)
    torch.testing.assert_close(g.w_avg, 0.5 * g.mapping(z, None).mean(dim=0))  # from 0, one batch at beta 0.5
    before = g.w_avg.clone()
    g.eval()(z)
    with torch.no_grad():
        g.train()(z)
    assert torch.equal(g.w_avg, before)


def test_eval_mode_uses_the_fixed_noise_and_training_draws_new_noise():
    g = generator(style_mixing_prob=0.0)
    with torch.no_grad():
        for m in g.modules():
            if isinstance(m, StyleLayer):
                m.noise_strength.fill_(1.0)
    z = torch.randn(2, LATENT)
    g.eval()
    assert torch.equal(g(z), g(z))
    assert not torch.allclose(g(z), g(z, noise_mode="none"))
    g.train()
    assert not torch.allclose(g(z), g(z))


def test_conditional_mapping_needs_labels_and_gives_classes_their_own_w():
    g = generator(num_classes=3)
    z = torch.randn(2, LATENT)
    with pytest.raises(ValueError, match="labels"):
        g(z)
    assert not torch.allclose(g.map(z, torch.tensor([0, 0])), g.map(z, torch.tensor([1, 1])))


def test_parameters_are_placed_at_their_blocks_resolution():
    g = generator(32)
    sides = {name: g.resolution_of_parameter(name) for name in g.state_dict()}
    assert sides["synthesis.const"] == 4 and sides["w_avg"] is None
    assert all(side is None for name, side in sides.items() if name.startswith("mapping."))
    for name, side in sides.items():
        if name.startswith("synthesis.blocks."):
            assert side == int(name.split(".")[2][1:])


def test_training_resumes_exactly_with_style_mixing_and_noise(tmp_path):
    """Style mixing and noise draw random numbers inside G: a crash and resume must still equal an uninterrupted
    run bit for bit (the draws come from the module's training RNG, saved in the checkpoint)."""
    common = (*TINY_STYLEGAN, f"trainer.max_steps={TOTAL}", "checkpoint.every_n_steps=50")
    train_tiny(tmp_path / "whole", *common)
    with pytest.raises(Crash):
        train_tiny(tmp_path / "cut", *common, callback(CrashAt, step=50))
    train_tiny(tmp_path / "cut", *common, f"resume={tmp_path / 'cut'}")
    a, b = load(last_ckpt(tmp_path / "whole"))["state_dict"], load(last_ckpt(tmp_path / "cut"))["state_dict"]
    assert [k for k in a if not torch.equal(a[k], b[k])] == []
    assert not torch.equal(a["generator.w_avg"], torch.zeros_like(a["generator.w_avg"]))
    moved = [k for k in a
             if k.startswith("generator_ema.synthesis") and not torch.equal(a[k], b[k.replace("_ema", "")])]
    assert moved, "G_ema is a copy of G: the EMA did not run"


def test_finetune_preset_with_stylegan_keeps_the_frozen_d_block(tmp_path):
    train_tiny(tmp_path / "source", *TINY_STYLEGAN, "trainer.max_steps=6")
    source = load(last_ckpt(tmp_path / "source"))["state_dict"]
    train_tiny(tmp_path / "tuned", "experiment=finetune_textures_stylegan", *TINY_STYLEGAN[1:],
               f"init_from={tmp_path / 'source'}", "trainer.max_steps=6", "data.batch_size=8",
               "data.dataset.crops_per_texture=8")
    state = load(last_ckpt(tmp_path / "tuned"))["state_dict"]
    frozen = [k for k in state if k.startswith("discriminator.blocks.0.")]
    assert frozen and all(torch.equal(state[k], source[k]) for k in frozen)
    assert not torch.equal(state["generator.synthesis.blocks.b16.conv1.weight"],
                           source["generator.synthesis.blocks.b16.conv1.weight"])


@pytest.mark.slow
def test_ddp_two_cpu_processes_train_stylegan_in_sync(tmp_path):
    """Style mixing calls the mapping network twice and noise strengths start at 0: no unused-parameter error
    under DDP, and the two ranks end with equal weights."""
    run_dir, probe = tmp_path / "run", tmp_path / "probe"
    run_train(run_dir, *TINY_STYLEGAN, "data.resolution=16", "data.batch_size=16", "model.generator.width=8",
              "model.discriminator.width=8", "model.latent_dim=8", "trainer=ddp_cpu", "trainer.max_steps=6",
              "eval_every_n_steps=6",
              f"callbacks=[{{_target_: tests.ddp_probe.WeightDigest, out_dir: '{probe}'}}]")
    ranks = [json.loads((probe / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert all(r["world_size"] == 2 for r in ranks)
    assert any("mapping" in name for name in ranks[0]["digest"])
    for name, value in ranks[0]["digest"].items():
        assert value == pytest.approx(ranks[1]["digest"][name], rel=1e-6, abs=1e-6), name

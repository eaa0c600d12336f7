"""The LightningModule's training step, driven by a real Trainer on tiny networks."""

import copy
import functools

import lightning as L
import pytest
import torch

from gan.config import plain_partial
from gan.train.builders import build_datamodule, build_module
from gan.train.module import NonFiniteLossError

TINY_DCGAN = (
    "data.resolution=16",
    "data.batch_size=16",
    "model.generator.width=8",
    "model.discriminator.width=8",
    "model.latent_dim=8",
)


def fit(cfg, max_steps):
    L.seed_everything(cfg.seed)
    module = build_module(cfg)
    before = copy.deepcopy(module.state_dict())
    trainer = L.Trainer(max_steps=max_steps, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(module, datamodule=build_datamodule(cfg))
    return module, before


def changed(module, before, prefix):
    names = [k for k in before if k.startswith(prefix) and before[k].is_floating_point()]
    assert names, prefix
    return {k for k in names if not torch.equal(before[k], module.state_dict()[k])}


@pytest.mark.parametrize("loss", ["ns", "hinge", "wgan_gp", "lsgan", "minimax"])
def test_one_iteration_changes_both_networks(compose_config, loss):
    module, before = fit(compose_config(*TINY_DCGAN, f"loss={loss}"), max_steps=2)  # one D + one G update
    assert int(module.d_steps) == 1 and int(module.g_steps) == 1
    weights = {k for k in before if k.endswith("weight")}
    assert weights & changed(module, before, "generator.")
    assert weights & changed(module, before, "discriminator.")
    assert changed(module, before, "generator_ema.")


def test_n_critic_updates_g_once_per_n_d_steps(compose_config):
    module, before = fit(compose_config(*TINY_DCGAN, "optim=adam_wgan", "loss=wgan_gp"), max_steps=7)
    # 7 optimiser steps with n_critic=5: D,D,D,D,D+G,D -> 6 D updates and 1 G update
    assert int(module.d_steps) == 6 and int(module.g_steps) == 1


def test_ema_is_a_moving_average_of_g(compose_config):
    cfg = compose_config(*TINY_DCGAN, "model.ema.decay=0.9", "model.ema.start_step=0", "model.ema.rampup=0")
    L.seed_everything(0)
    module = build_module(cfg)
    ema_before = [p.clone() for p in module.generator_ema.parameters()]
    with torch.no_grad():
        for p in module.generator.parameters():
            p.add_(1.0)
    module.g_steps += 1
    module._update_ema()
    for old, new, g in zip(ema_before, module.generator_ema.parameters(), module.generator.parameters(), strict=True):
        assert torch.allclose(new, 0.9 * old + 0.1 * g, atol=1e-6)


def test_ema_update_equals_a_lerp_per_tensor_bit_for_bit(compose_config):
    """The foreach update is a speed change only: G_ema's weights and batch-norm statistics are those of a Python
    loop of lerp_ over the tensors, exactly (so trajectories and results did not change with it)."""
    module = build_module(compose_config("experiment=grid25_mlp", "model.ema.rampup=0.1"))
    torch.manual_seed(0)
    with torch.no_grad():
        for t in (*module.generator.parameters(), *module.generator.buffers()):
            t.copy_(torch.randint(1, 9, t.shape) if not t.is_floating_point() else torch.randn(t.shape))
    module.g_steps.fill_(37)
    decay = 1.0 - 1.0 / (0.1 * 37)
    expected = {}
    for (name, e), g in zip(module.generator_ema.state_dict().items(), module.generator.state_dict().values(),
                            strict=True):
        expected[name] = e.lerp(g, 1.0 - decay) if e.is_floating_point() else g.clone()
    module._update_ema()
    got = module.generator_ema.state_dict()
    assert any("running_var" in name for name in got)
    for name, value in expected.items():
        assert torch.equal(got[name], value), name


def test_losses_are_plain_partials_not_hydras_per_call_checked_ones(compose_config):
    """Hydra's `_partial_` objects re-check its target policy on every call (~0.27 ms, twice a step); the module
    keeps the same function with the same arguments as a plain functools.partial."""
    module = build_module(compose_config(*TINY_DCGAN, "loss=hinge"))
    for fn in (module.d_loss, module.g_loss, module.r1_penalty, module.gradient_penalty):
        assert not isinstance(fn, functools.partial) or type(fn) is functools.partial, type(fn)
    real, fake = torch.tensor([0.5, -2.0]), torch.tensor([1.5, -0.25])
    # hinge D: mean(relu(1 - real)) + mean(relu(1 + fake)) = (0.5 + 3) / 2 + (2.5 + 0.75) / 2
    assert float(module.d_loss(real, fake)) == pytest.approx(3.375)
    assert plain_partial(len) is len


@pytest.mark.parametrize("steps,expected_decay", [(5, 0.0), (20, 0.5), (400, 0.975), (10**6, 0.999)])
def test_ema_rampup_caps_the_decay(compose_config, steps, expected_decay):
    # rampup 0.1: the horizon is 0.1 * steps generator steps -> decay 1 - 1/(0.1 * steps), capped at 0.999.
    module = build_module(compose_config(*TINY_DCGAN, "model.ema.decay=0.999", "model.ema.rampup=0.1"))
    old = [p.clone() for p in module.generator_ema.parameters()]
    with torch.no_grad():
        for p in module.generator.parameters():
            p.add_(1.0)
    module.g_steps.fill_(steps)
    module._update_ema()
    for o, new, g in zip(old, module.generator_ema.parameters(), module.generator.parameters(), strict=True):
        assert torch.allclose(new, expected_decay * o + (1 - expected_decay) * g, atol=1e-5)


def test_freeze_d_keeps_first_blocks_fixed(compose_config):
    module, before = fit(compose_config(*TINY_DCGAN, "model.freeze_d_blocks=1"), max_steps=2)
    moved = changed(module, before, "discriminator.")
    assert not {k for k in moved if k.startswith("discriminator.blocks.0.")}
    assert {k for k in moved if k.startswith("discriminator.blocks.1.")}


def test_freeze_more_blocks_than_exist_is_refused(compose_config):
    with pytest.raises(ValueError, match="freeze_d_blocks=9 but the discriminator has 2 blocks"):
        build_module(compose_config(*TINY_DCGAN, "model.freeze_d_blocks=9"))


def test_nan_loss_stops_with_the_step(compose_config):
    cfg = compose_config(*TINY_DCGAN)
    module = build_module(cfg)
    module.d_loss = lambda real, fake: real.mean() * float("nan")
    trainer = L.Trainer(max_steps=2, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    with pytest.raises(NonFiniteLossError, match="discriminator loss is nan at generator step 0"):
        trainer.fit(module, datamodule=build_datamodule(cfg))


def test_sampling_is_deterministic_per_seed(compose_config):
    module = build_module(compose_config(*TINY_DCGAN, "model.num_classes=10"))
    a = module.generate_batched(10, seed=3, batch_size=4)
    b = module.generate_batched(10, seed=3, batch_size=10)
    c = module.generate_batched(10, seed=4, batch_size=10)
    assert torch.allclose(a, b, atol=1e-6) and not torch.allclose(a, c)
    assert module.generator_ema.training is False


def test_toy_mlp_trains(compose_config):
    module, before = fit(compose_config("data=grid25", "model=mlp", "data.dataset.num_samples=1000"), max_steps=4)
    assert changed(module, before, "generator.") and changed(module, before, "discriminator.")


def test_channels_last_trains_and_matches_layout(compose_config):
    module, before = fit(compose_config(*TINY_DCGAN, "speed.channels_last=true"), max_steps=2)
    conv = module.discriminator.blocks[1][0].weight
    assert conv.is_contiguous(memory_format=torch.channels_last)
    assert changed(module, before, "generator.") and changed(module, before, "discriminator.")


# ------------------------------------------------------------------------------------------------ lr ramp-down
@pytest.mark.parametrize(("step", "expected"), [(0, 1.0), (48, 1.0), (64, 0.625), (80, 0.25), (100, 0.25)])
def test_ramp_down_is_constant_then_linear_to_final(step, expected):
    from gan.train.lr_schedule import ramp_down_factor

    # start at 60 % of 80 steps (step 48), final 0.25: step 64 is half way from 1 to 0.25
    assert ramp_down_factor(step, 80, 0.6, 0.25) == pytest.approx(expected)
    assert ramp_down_factor(step, 80, 1.0, 0.0) == 1.0  # start 1.0: off
    assert ramp_down_factor(step, None, 0.5, 0.0) == 1.0  # no length known: off


@pytest.mark.parametrize(("step", "expected"), [(16, 1.0), (32, 0.625), (48, 0.25), (64, 0.25), (80, 0.25)])
def test_ramp_down_with_an_end_holds_the_final_rate_after_it(step, expected):
    from gan.train.lr_schedule import ramp_down_factor

    # from 20 % (step 16) to 60 % (step 48) of 80 steps: half way at step 32; the last 40 % at the final 0.25
    assert ramp_down_factor(step, 80, 0.2, 0.25, end=0.6) == pytest.approx(expected)


def test_lr_ramp_down_scales_both_optimisers_from_their_initial_lr(compose_config, tmp_path):
    cfg = compose_config(*TINY_DCGAN, "optim.lr_decay.start=0.5", "optim.lr_decay.final=0.1",
                         "trainer.max_steps=8", "optim.generator.lr=1e-3", "optim.discriminator.lr=2e-3")
    module, _ = fit(cfg, max_steps=8)
    g_opt, d_opt = module.optimizers()
    # the last step was global step 6 (D) + G: factor at step 6 of 8, ramp from 4: 1 - 0.9 * 2/4 = 0.55
    assert g_opt.param_groups[0]["lr"] == pytest.approx(1e-3 * 0.55)
    assert d_opt.param_groups[0]["lr"] == pytest.approx(2e-3 * 0.55)
    assert g_opt.param_groups[0]["initial_lr"] == pytest.approx(1e-3)
    off, _ = fit(compose_config(*TINY_DCGAN, "trainer.max_steps=8", "optim.generator.lr=1e-3"), max_steps=8)
    assert off.optimizers()[0].param_groups[0]["lr"] == pytest.approx(1e-3)


def test_lr_ramp_down_settings_are_checked(compose_config):
    from gan.train.validate import ConfigValueError, validate

    with pytest.raises(ConfigValueError, match="lr_decay.start"):
        validate(compose_config("optim.lr_decay.start=1.5"))
    with pytest.raises(ConfigValueError, match="lr_decay.end"):
        validate(compose_config("optim.lr_decay.end=0"))
    with pytest.raises(ConfigValueError, match="must come after optim.lr_decay.start=0.5"):
        validate(compose_config("optim.lr_decay.start=0.5", "optim.lr_decay.end=0.4"))
    validate(compose_config("optim.lr_decay.start=0.5", "optim.lr_decay.end=0.75"))


def test_r1_weight_fades_to_zero_over_its_ramp(compose_config):
    """loss.r1_decay: the weight of the lr ramp's shape, to 0 at `end`; the D steps after it compute no R1."""
    from gan import losses

    def r1_calls(*overrides):
        cfg = compose_config(*TINY_DCGAN, "loss.r1_weight=2.0", "loss.r1_every=1", "trainer.max_steps=8", *overrides)
        L.seed_everything(cfg.seed)
        module = build_module(cfg)
        steps = []

        def recording_r1(logits, x):  # the global step of each R1 term, and the weight it got
            steps.append((int(module.d_steps) + int(module.g_steps), module.current_r1_weight()))
            return losses.r1_penalty(logits, x)

        module.r1_penalty = recording_r1
        L.Trainer(max_steps=8, accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
                  enable_model_summary=False).fit(module, datamodule=build_datamodule(cfg))
        return steps

    # D updates at global steps 0, 2, 4, 6 (a G update after each); constant weight: R1 on every one
    assert r1_calls() == [(0, 2.0), (2, 2.0), (4, 2.0), (6, 2.0)]
    # from 25 % (step 2) to 75 % (step 6): 2.0 until step 2, half of it at step 4, nothing from step 6 on
    assert r1_calls("loss.r1_decay.start=0.25", "loss.r1_decay.end=0.75") == [(0, 2.0), (2, 2.0), (4, 1.0)]


def test_r1_ramp_settings_are_checked(compose_config):
    from gan.train.validate import ConfigValueError, validate

    with pytest.raises(ConfigValueError, match="loss.r1_decay.start"):
        validate(compose_config("loss.r1_decay.start=-0.1"))
    with pytest.raises(ConfigValueError, match="must come after loss.r1_decay.start=0.5"):
        validate(compose_config("loss.r1_decay.start=0.5", "loss.r1_decay.end=0.5"))
    with pytest.raises(ValueError, match="loss.r1_decay end"):
        build_module(compose_config(*TINY_DCGAN, "loss.r1_decay.start=0.5", "loss.r1_decay.end=0.25"))
    validate(compose_config("loss.r1_decay.start=0.5", "loss.r1_decay.end=0.75"))


def test_top_k_ramps_the_fraction_of_g_batch_its_loss_reads(compose_config):
    """loss.top_k: G's loss sees the whole batch until `start`, then a linearly shrinking top fraction, down to
    `final` at `end`; the logits it gets are the largest of D's scores for the generated batch."""
    from gan import losses

    cfg = compose_config(*TINY_DCGAN, "trainer.max_steps=8", "loss.top_k.final=0.25", "loss.top_k.start=0.25",
                         "loss.top_k.end=0.75")
    L.seed_everything(cfg.seed)
    module = build_module(cfg)
    seen, d_outputs = [], []
    module.discriminator.register_forward_hook(lambda _net, _inputs, output: d_outputs.append(output.detach()))

    def recording_g_loss(fake_logits):  # the global step and how many logits G's loss got
        step = int(module.d_steps) + int(module.g_steps)
        seen.append((step, len(fake_logits)))
        # the largest of D's scores for the generated batch (D's last forward): top-k, not any k
        expected = d_outputs[-1].sort(descending=True).values[:len(fake_logits)]
        assert torch.equal(fake_logits.detach().sort(descending=True).values, expected)
        return losses.hinge_g(fake_logits)

    module.g_loss = recording_g_loss
    L.Trainer(max_steps=8, accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
              enable_model_summary=False).fit(module, datamodule=build_datamodule(cfg))
    # G updates at global steps 1, 3, 5, 7 of 8 (batch 16): fraction 1 until step 2, 1 - 0.75 x (3-2)/4 = 0.8125 at
    # step 3 (ceil(13) = 13 of 16), 0.4375 at step 5 (7), 0.25 from step 6 on (4)
    assert seen == [(1, 16), (3, 13), (5, 7), (7, 4)]


def test_top_k_settings_are_checked(compose_config):
    from gan.train.validate import ConfigValueError, validate

    with pytest.raises(ConfigValueError, match="loss.top_k.final"):
        validate(compose_config("loss.top_k.final=0"))
    with pytest.raises(ConfigValueError, match="must come after loss.top_k.start=0.5"):
        validate(compose_config("loss.top_k.final=0.5", "loss.top_k.start=0.5", "loss.top_k.end=0.5"))
    with pytest.raises(ConfigValueError, match="never run"):
        validate(compose_config("loss.top_k.final=0.5", "trainer.max_steps=-1"))
    validate(compose_config("trainer.max_steps=-1"))  # off (final 1): no ramp to run
    validate(compose_config("loss.top_k.start=0.5", "loss.top_k.end=0.3"))  # off: its ramp is not checked
    build_module(compose_config(*TINY_DCGAN, "loss.top_k.start=0.5", "loss.top_k.end=0.3"))
    with pytest.raises(ConfigValueError, match="would never begin"):
        validate(compose_config("loss.top_k.final=0.5", "loss.top_k.start=1"))
    with pytest.raises(ValueError, match="loss.top_k final"):
        build_module(compose_config(*TINY_DCGAN, "loss.top_k.final=1.5"))


def test_latent_codes_train_an_unconditional_generator_with_a_code_embedding(compose_config):
    module, before = fit(compose_config(*TINY_DCGAN, "model.latent_codes=4"), max_steps=2)
    assert module.num_classes == 0  # no labels drawn or read: D stays unconditional
    assert module.sample_inputs(3, seed=0)[1] is None
    assert "generator.code_embed.weight" in changed(module, before, "generator.")


def test_latent_codes_are_refused_for_a_generator_without_them(compose_config):
    from gan.train.validate import ConfigValueError, validate

    with pytest.raises(ConfigValueError, match="model=resnet_sn's generator has no latent codes"):
        validate(compose_config("model=resnet_sn", "+model.latent_codes=10"))
    with pytest.raises(ConfigValueError, match="model.latent_codes=1: must be 0"):
        validate(compose_config("model.latent_codes=1"))
    with pytest.raises(ConfigValueError, match="latent_codes <= latent_dim"):
        validate(compose_config("model.latent_codes=10", "model.latent_dim=8"))
    validate(compose_config("model.latent_codes=10"))


def test_packs_and_minibatch_std_groups_must_divide_the_batch(compose_config):
    from gan.train.validate import ConfigValueError, validate

    with pytest.raises(ConfigValueError, match="not a multiple of model.discriminator.pack=3"):
        validate(compose_config("data.batch_size=32", "model.discriminator.pack=3"))
    with pytest.raises(ConfigValueError, match="minibatch_std_group=3 does not divide the 16 inputs"):
        validate(compose_config("data.batch_size=32", "model.discriminator.pack=2",
                                "model.discriminator.minibatch_std_group=3"))
    validate(compose_config("data.batch_size=32", "model.discriminator.pack=2",
                            "model.discriminator.minibatch_std_group=4"))

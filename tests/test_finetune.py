"""Fine-tuning to a new style: init_from a checkpoint, FreezeD, DiffAugment (and the preset that combines them)."""

from __future__ import annotations

import pytest
import torch

from gan.augment import DiffAugment
from tests.training_helpers import last_ckpt, load, tiny_config, train_tiny

AUGMENT = {"brightness": 0.5, "saturation": 1.0, "contrast": 0.5, "translation": 0.125, "cutout": 0.5}


@pytest.fixture(scope="module")
def source_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("source")
    train_tiny(run_dir, "trainer.max_steps=10")
    return run_dir


def test_finetune_preset_changes_only_unfrozen_layers(source_run, tmp_path):
    source = load(last_ckpt(source_run))["state_dict"]
    # the tiny source has no latent codes (the preset's source, make train, has 10)
    train_tiny(tmp_path, "experiment=finetune_textures", f"init_from={source_run}", "trainer.max_steps=10",
               "data.batch_size=8", "data.dataset.crops_per_texture=8", "model.latent_codes=0")
    tuned = load(last_ckpt(tmp_path))
    state = tuned["state_dict"]
    assert tuned["gan_config"]["data"]["name"] == "textures" and tuned["gan_config"]["augment"]["name"] == "diffaugment"
    assert int(state["g_steps"]) == 5  # a new schedule: counters start at 0, not at the source's
    frozen = [k for k in state if k.startswith("discriminator.blocks.0.")]
    trained = [k for k in state if k.startswith(("discriminator.blocks.1.", "discriminator.head.", "generator."))
               and state_is_a_weight(k)]
    assert frozen and trained
    assert all(torch.equal(state[k], source[k]) for k in frozen), "FreezeD block moved"
    assert all(not torch.equal(state[k], source[k]) for k in trained), "a trainable layer did not move"


def state_is_a_weight(key: str) -> bool:
    """Parameters, not batch-norm statistics (those follow the data even with a zero learning rate)."""
    return not any(part in key for part in ("running_", "num_batches_tracked"))


def test_init_from_starts_from_the_source_weights(source_run, tmp_path):
    # The module a fine-tuning run starts from holds exactly the source's weights (not a fresh init).
    # (A learning rate of 0 is refused up front by the config checks, so the start is inspected directly.)
    from gan.train.builders import build_module
    from gan.train.run import starting_point

    cfg = tiny_config(f"init_from={source_run}")
    module = build_module(cfg)
    assert starting_point(cfg, module, None) is None  # a new run: no resume checkpoint
    source, tuned = load(last_ckpt(source_run))["state_dict"], module.state_dict()
    for key in source:
        if key.startswith(("generator.", "discriminator.")) and state_is_a_weight(key):
            assert torch.equal(source[key], tuned[key]), key


def test_freeze_d_without_a_source_is_refused(tmp_path):
    with pytest.raises(ValueError, match="init_from"):
        train_tiny(tmp_path, "model.freeze_d_blocks=1", "trainer.max_steps=2")
    with pytest.raises(ValueError, match="Set only one"):
        train_tiny(tmp_path, f"init_from={tmp_path}", f"resume={tmp_path}", "trainer.max_steps=2")


def test_translation_moves_pixels_by_whole_steps_with_zero_fill():
    x = torch.arange(16.0).reshape(1, 1, 4, 4) + 1
    augment = DiffAugment(["translation"], **{**AUGMENT, "translation": 0.25})  # up to 1 pixel each way
    for seed in range(20):
        out = augment(x, torch.Generator().manual_seed(seed))
        padded = torch.nn.functional.pad(x, (1, 1, 1, 1))
        shifts = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
                  if torch.equal(out, torch.roll(padded, (dy, dx), (2, 3))[..., 1:5, 1:5])]
        assert shifts, f"seed {seed}: not a whole-pixel shift with zero fill"


def test_cutout_zeroes_a_square_of_the_configured_size():
    x = torch.ones(64, 1, 8, 8)
    out = DiffAugment(["cutout"], **AUGMENT)(x, torch.Generator().manual_seed(0))
    zeros = (out == 0).sum(dim=(1, 2, 3))
    assert zeros.max() == 16  # a 4x4 square when it lies inside the image
    assert (zeros > 0).all() and (zeros <= 16).all()  # clipped at the borders, never empty (centre is inside)


def test_color_keeps_range_statistics_as_documented_and_is_differentiable():
    x = (torch.rand(256, 3, 8, 8) * 2 - 1).requires_grad_(True)
    out = DiffAugment(["color"], **AUGMENT)(x, torch.Generator().manual_seed(0))
    shift = (out - x).mean(dim=(1, 2, 3))
    assert shift.abs().max() < AUGMENT["brightness"] + 1.0  # brightness plus the contrast/saturation rescale
    out.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    gray = torch.rand(4, 1, 8, 8)
    brightness_only = DiffAugment(["color"], **{**AUGMENT, "contrast": 0.0})(gray, torch.Generator().manual_seed(1))
    # one channel: saturation has no effect, so each image is only shifted by a constant
    assert torch.allclose((brightness_only - gray).std(dim=(1, 2, 3)), torch.zeros(4), atol=1e-6)


def test_unknown_policy_and_bad_strengths_are_named():
    with pytest.raises(ValueError, match="unknown DiffAugment policy"):
        DiffAugment(["blur"], **AUGMENT)
    with pytest.raises(ValueError, match="cutout"):
        DiffAugment(["cutout"], **{**AUGMENT, "cutout": 1.5})


def test_style_term_pulls_samples_towards_the_real_batchs_gram_matrices(tmp_path):
    """style_loss.weight > 0 adds gan.losses.style_loss on the classifier's feature maps to G's loss: zero for
    identical batches, positive otherwise, with gradients into G; the feature net stays out of the state_dict, so
    checkpoints with and without the term load into each other; a tiny run logs loss/style."""
    from gan.train.builders import build_module

    plain = build_module(tiny_config())
    styled = build_module(tiny_config("style_loss.weight=10"))
    assert plain.state_dict().keys() == styled.state_dict().keys() and not plain._style_net
    real = torch.rand(4, 1, 16, 16) * 2 - 1
    assert float(styled._style_term(real, real)) == 0.0
    fake = styled.generator(torch.randn(4, styled.latent_dim))
    term = styled._style_term(fake, real)
    assert float(term) > 0
    term.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in styled.generator.parameters())
    train_tiny(tmp_path, "style_loss.weight=10", "trainer.max_steps=50")  # the first logged step: 25 batches
    header = (tmp_path / "metrics.csv").read_text().splitlines()[0]
    assert "loss/style" in header
    with pytest.raises(ValueError, match="style_loss.weight"):
        build_module(tiny_config("style_loss.weight=-1"))

"""The notebook API: gan.load(run dir) draws images; GAN.load_from_checkpoint works from the checkpoint alone."""

from __future__ import annotations

import pytest
import torch

import gan
from gan.train.module import GAN
from tests.training_helpers import last_ckpt, load, train_tiny


@pytest.fixture(scope="module")
def conditional_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("cond")
    train_tiny(run_dir, "model.num_classes=10", "trainer.max_steps=6")
    return run_dir


def test_load_from_checkpoint_needs_nothing_but_the_checkpoint(conditional_run):
    module = GAN.load_from_checkpoint(last_ckpt(conditional_run))
    stored = load(last_ckpt(conditional_run))["state_dict"]
    state = module.state_dict()
    assert stored.keys() == state.keys() and all(state[k].equal(stored[k]) for k in stored)
    assert module.num_classes == 10 and not module.training
    with pytest.raises(TypeError, match="from the checkpoint"):
        GAN.load_from_checkpoint(last_ckpt(conditional_run), generator=None)


def test_gan_load_generates_g_ema_images_by_seed(conditional_run):
    model = gan.load(conditional_run)  # a run directory, as the CLIs accept
    images = model.generate(seeds=[3, 7], class_=4)
    assert images.shape == (2, 1, 16, 16) and images.min() >= -1 and images.max() <= 1
    # seed 7 alone gives the same image as seed 7 in a batch: each image depends on its own seed only
    assert torch.equal(model.generate(seeds=[7], class_=4)[0], images[1])
    # and it is G_ema of the checkpoint: the same network applied by hand to the recipe's latent
    module = GAN.load_from_checkpoint(last_ckpt(conditional_run))
    z = torch.randn(1, module.latent_dim, generator=torch.Generator().manual_seed(7))
    expected = module.generator_ema(z, torch.tensor([4]))
    assert torch.allclose(images[1:], expected, atol=1e-6)
    assert torch.equal(model.generate(seeds="3-4", class_=4)[0], images[0])
    pil = model.to_pil(images)
    assert len(pil) == 2 and pil[0].size == (16, 16) and pil[0].mode == "L"


def test_truncation_psi_zero_gives_the_mean_image_for_every_seed_and_one_changes_nothing(conditional_run):
    model = gan.load(conditional_run)
    mean = model.generate(seeds=[0, 5, 9], class_=2, truncation_psi=0.0)
    assert torch.equal(mean[0], mean[1]) and torch.equal(mean[0], mean[2])
    assert torch.equal(model.generate(seeds=[5], class_=2, truncation_psi=1.0),
                       model.generate(seeds=[5], class_=2))
    half = model.generate(seeds=[5], class_=2, truncation_psi=0.5)
    assert not torch.equal(half, mean[1:2]) and not torch.equal(half, model.generate(seeds=[5], class_=2))
    with pytest.raises(ValueError, match="truncation_psi"):
        model.generate(seeds=[1], truncation_psi=1.5)


def test_gan_load_which_best_takes_the_runs_best_checkpoint(conditional_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(conditional_run, run)
    shutil.copy(last_ckpt(run), run / "checkpoints" / "best.ckpt")
    assert gan.load(run, which="best").loaded.path.name == "best.ckpt"
    assert gan.load(run).loaded.path.name == "last.ckpt"
    (run / "checkpoints" / "best.ckpt").unlink()
    with pytest.raises(FileNotFoundError, match="best.ckpt"):
        gan.load(run, which="best")

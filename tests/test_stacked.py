"""Stacked digits: the dataset (three digits as channels, label 100*d0 + 10*d1 + d2), the mode metrics against a hand
count (all 1000 triples once: 1000 modes, KL 0; one triple: 1 mode, KL log 1000; random draws: NumPy/SciPy), PacGAN
packing in the DCGAN discriminator, and gan-eval's real-vs-real mode on stacked data."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
import torch
from scipy.stats import entropy

from gan.cli.evaluate import run as evaluate
from gan.data.base import ImageDataset
from gan.data.embedded import DigitsDataset
from gan.data.stacked import StackedDigitsDataset
from gan.metrics.evaluator import chunk_plan
from gan.metrics.extractors import FeatureExtractor
from gan.metrics.stacked import StackedEvaluator, stacked_protocol
from gan.nets.dcgan import DCGANDiscriminator
from tests.conftest import make_config

SIDE = 4
ALL_TRIPLES = torch.tensor(list(itertools.product(range(10), repeat=3)))  # (1000, 3), 000 ... 999


def triples_to_images(triples: torch.Tensor) -> torch.Tensor:
    """Channel c of image i is constant at the digit triples[i, c] / 10: what ValueClassifier reads back."""
    return (triples.float() / 10)[:, :, None, None].expand(-1, -1, SIDE, SIDE).clone()


class ValueClassifier(FeatureExtractor):
    """A single-channel 'digits classifier' by construction: the class is round(10 * mean pixel value)."""

    name = "value"
    weights_sha256 = "0" * 64
    num_features = 1
    num_logits = 10

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        assert images.shape[1] == 1, "the stacked metric must classify one channel at a time"
        digit = (images.mean(dim=(1, 2, 3)) * 10).round().long().clamp(0, 9)
        return digit[:, None].float(), torch.nn.functional.one_hot(digit, 10).float()


class ConstantDigits(ImageDataset):
    """10 classes x 3 images; every image is constant at label / 10, so a channel's value names its digit."""

    channels, resolution, num_classes = 1, SIDE, 10

    def __init__(self, split: str = "train"):
        self.labels = torch.arange(10).repeat(3)
        self.images = triples_to_images(self.labels[:, None])
        self.split, self.fingerprint = split, f"constant-digits-{split}"

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[i], self.labels[i]


def stacked_evaluator(num_samples: int, batch_size: int) -> StackedEvaluator:
    return StackedEvaluator(ValueClassifier(), 3, "p", num_samples, batch_size)


def test_dataset_stacks_three_digits_and_labels_them_100_10_1():
    data = StackedDigitsDataset(ConstantDigits, {"train": 500, "test": 50}, split="train", seed=3)
    assert len(data) == 500 and data.num_classes == 1000 and data.channels == 3
    for i in range(0, 500, 37):
        x, y = data[i]
        digits = (x.mean(dim=(1, 2)) * 10).round().long().tolist()  # read back from the pixels
        assert x.shape == (3, SIDE, SIDE)
        assert int(y) == 100 * digits[0] + 10 * digits[1] + digits[2]
    again = StackedDigitsDataset(ConstantDigits, {"train": 500, "test": 50}, split="train", seed=3)
    assert torch.equal(again.labels, data.labels)  # a fixed sample from the seed
    other = StackedDigitsDataset(ConstantDigits, {"train": 500, "test": 50}, split="train", seed=4)
    assert not torch.equal(other.labels, data.labels)
    assert len(StackedDigitsDataset(ConstantDigits, {"train": 500, "test": 50}, split="test")) == 50


def test_dataset_on_the_bundled_digits_uses_the_split_of_each_channel():
    make = lambda split: DigitsDataset(resolution=8, split=split)  # noqa: E731
    train = StackedDigitsDataset(make, {"train": 300, "test": 100}, split="train")
    test = StackedDigitsDataset(make, {"train": 300, "test": 100}, split="test")
    source = make("test")
    x, y = test[0]
    matches = [[j for j in range(len(source)) if torch.equal(source[j][0][0], x[c])] for c in range(3)]
    assert all(matches), "every channel is an image of the test split"
    assert int(y) == 100 * int(source[matches[0][0]][1]) + 10 * int(source[matches[1][0]][1]) + \
        int(source[matches[2][0]][1])
    assert train.fingerprint != test.fingerprint and "digits-r8-test" in test.fingerprint


def test_all_1000_triples_once_give_1000_modes_and_kl_zero():
    images = triples_to_images(ALL_TRIPLES[torch.randperm(1000, generator=torch.Generator().manual_seed(0))])
    row = stacked_evaluator(1000, 1000).evaluate(lambda n, seed: images, seed=0)
    assert row["modes_covered"] == 1000
    assert row["kl_uniform"] == pytest.approx(0.0, abs=1e-12)


def test_one_triple_gives_one_mode_and_kl_log_1000():
    row = stacked_evaluator(260, 100).evaluate(lambda n, seed: triples_to_images(torch.tensor([[7, 0, 3]] * n)), 0)
    assert row["modes_covered"] == 1
    assert row["kl_uniform"] == pytest.approx(math.log(1000), rel=1e-12)


def test_random_triples_match_a_numpy_count():
    def sample(n: int, seed: int) -> torch.Tensor:
        # a lopsided generator: the first digit only 0-4, the last mostly 9
        g = torch.Generator().manual_seed(seed % 2**31)
        triples = torch.stack([torch.randint(5, (n,), generator=g), torch.randint(10, (n,), generator=g),
                               torch.where(torch.rand(n, generator=g) < 0.7, 9, torch.randint(10, (n,), generator=g))],
                              dim=1)
        return triples_to_images(triples)

    row = stacked_evaluator(2600, 300).evaluate(sample, seed=11)
    triples = torch.cat([sample(size, s) for size, s in chunk_plan(2600, 300, 11)]).mean(dim=(2, 3)).mul(10).round()
    modes = (triples.numpy().astype(int) * np.array([100, 10, 1])).sum(axis=1)
    counts = np.bincount(modes, minlength=1000)
    assert row["modes_covered"] == np.count_nonzero(counts)
    assert row["kl_uniform"] == pytest.approx(entropy(counts / counts.sum(), np.full(1000, 1e-3)), rel=1e-9)


def test_protocol_names_classifier_samples_and_modes():
    assert stacked_protocol("classifier:digits-r32", "ab" * 32, 26000, 1000) == \
        "stacked:classifier:digits-r32@sha256:abababababab/fake26000/modes1000"
    assert "@sha256:abababababab/local/fake" in stacked_protocol("c", "ab" * 32, 10, 1000, machine_local=True)


def test_packing_groups_samples_and_keeps_each_samples_channels():
    d = DCGANDiscriminator(channels=3, resolution=8, width=4, pack=2)
    assert d.blocks[0][0].in_channels == 6
    x = torch.randn(6, 3, 8, 8)
    packed = d.pack_samples(x)
    assert packed.shape == (3, 6, 8, 8)
    for k in range(3):  # pack k = samples 2k and 2k+1, whole, one after the other
        assert torch.equal(packed[k, :3], x[2 * k]) and torch.equal(packed[k, 3:], x[2 * k + 1])
    d.eval()
    logits = d(x)
    assert logits.shape == (3,)
    changed = x.clone()
    changed[3] += 1.0  # sample 3 is in pack 1 only
    moved = (d(changed) - logits).abs() > 0
    assert moved.tolist() == [False, True, False]
    with pytest.raises(ValueError, match="multiple of PacGAN pack=2"):
        d(torch.randn(5, 3, 8, 8))
    with pytest.raises(ValueError, match="pack"):
        DCGANDiscriminator(channels=3, resolution=8, width=4, num_classes=10, pack=2)


def test_gan_eval_real_vs_real_counts_the_modes_of_real_stacked_digits(tmp_path):
    cfg = make_config("mode=real_vs_real", "data=stacked_digits", "data.dataset.num_samples.test=2000",
                      "metrics=stacked", f"metrics.cache_dir={tmp_path / 'cache'}", "seeds=[0]", config_name="eval")
    result = evaluate(cfg, tmp_path / "out")
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert saved["protocol"] == result["protocol"] and "/fake2000/modes1000/fake:stacked3-digits-r32-test" in \
        saved["protocol"]
    row = saved["rows"][0]
    # 2000 uniform triples leave about 1000 * exp(-2) = 135 modes empty; real data is about as uniform as the draw
    assert 800 < row["modes_covered"] < 930 and row["kl_uniform"] < 0.6

"""Stacked digits: the Stacked-MNIST mode-collapse benchmark (Srivastava et al. 2017, VEEGAN; Lin et al. 2018,
PacGAN) built from the bundled sklearn digits, so it runs offline.

Each sample puts three random digit images of the chosen split into the three channels, so there are 10^3 = 1000
modes (digit triples); a generator that drops modes is caught by classifying each channel with the digits classifier
and counting the triples it produces (`gan.metrics.stacked`).

The sample is a fixed set of `num_samples[split]` triples drawn from `seed` (and the split), stored as indices into
the digits split and composed when an item is read: the images themselves would be 3 x 32 x 32 floats per item
(~12 KB; 0.7 GB for 60,000 items). The label is the triple as a number, 100*d0 + 10*d1 + d2 (`num_classes` 1000).

Conditional training (model.num_classes=1000) would hand G the triple: mode coverage would then be set by the
uniform label draw, not learned, and the benchmark would measure only whether G obeys its label. The presets are
unconditional, as in the papers; the labels are for checking the metric and for conditional-accuracy studies.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch

from gan.data.base import ImageDataset, check_dataset
from gan.data.embedded import _check_split

# Channels of a sample = digits per sample (the three colour channels of Stacked MNIST).
DIGITS_PER_SAMPLE = 3
# Classes of one digit; a triple's label is its digits read as a base-10 number.
DIGIT_CLASSES = 10
# Seeds of the two splits' triple draws differ by this offset, so train and test never share a draw.
SPLIT_SEED_OFFSET = {"train": 0, "test": 1}


def triple_label(digits: torch.Tensor, base: int = DIGIT_CLASSES) -> torch.Tensor:
    """(N, C) digit classes -> (N,) mode ids: digits read as a base-`base` number, the first channel most
    significant (100*d0 + 10*d1 + d2 for three channels)."""
    weights = base ** torch.arange(digits.shape[1] - 1, -1, -1, device=digits.device)
    return (digits.long() * weights).sum(dim=1)


class StackedDigitsDataset(ImageDataset):
    """Three digit images of one split as the three channels of a sample; label 100*d0 + 10*d1 + d2."""

    channels = DIGITS_PER_SAMPLE
    num_classes = DIGIT_CLASSES**DIGITS_PER_SAMPLE

    def __init__(self, digits: Callable[..., ImageDataset], num_samples: Mapping[str, int], split: str = "train",
                 seed: int = 0):
        _check_split(split)
        if split not in num_samples or int(num_samples[split]) < 1:
            raise ValueError(f"data.dataset.num_samples must give a positive size for split {split!r}, "
                             f"got {dict(num_samples)}")
        source = check_dataset(digits(split=split), ImageDataset, "stacked digits")
        if source.channels != 1 or source.num_classes != DIGIT_CLASSES:
            raise ValueError(f"stacked digits needs a 1-channel, {DIGIT_CLASSES}-class digits dataset, got "
                             f"{source.fingerprint} ({source.channels} channels, {source.num_classes} classes)")
        self.source = source
        count = int(num_samples[split])
        generator = torch.Generator().manual_seed(seed * len(SPLIT_SEED_OFFSET) + SPLIT_SEED_OFFSET[split])
        # (count, 3) indices into the digits split, drawn uniformly with replacement (each channel independent).
        self.indices = torch.randint(len(source), (count, DIGITS_PER_SAMPLE), generator=generator)
        source_labels = torch.stack([torch.as_tensor(source[i][1]) for i in range(len(source))]).long()
        self.labels = triple_label(source_labels[self.indices])
        self.resolution = source.resolution
        self.split = split
        self.fingerprint = f"stacked{DIGITS_PER_SAMPLE}-{source.fingerprint}-n{count}-s{seed}"

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.cat([self.source[int(j)][0] for j in self.indices[i]]), self.labels[i]

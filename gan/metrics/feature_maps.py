"""Intermediate feature maps of a frozen domain classifier (gan/metrics/classifier.py), for the image losses that
compare feature maps: gan-project's content and style losses and the optional style term when fine-tuning
(`style_loss.weight`). Offline by construction: the classifiers ship with the package (gan/metrics/shipped.py),
where a VGG or LPIPS network would need a download."""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from gan.metrics.classifier import DomainClassifier, load_shipped
from gan.metrics.shipped import SHIPPED

# The layers of the domain classifier (gan.metrics.classifier.DomainClassifier.body) the losses can read: the three
# conv stages after their ReLU (sides R, R/2, R/4) and the batch-normalised feature vector. Value: the number of body
# modules that produce the layer.
CLASSIFIER_LAYERS = {"conv1": 3, "conv2": 6, "conv3": 9, "features": 12}
# `classifier=auto`: the shipped digits classifier of the generator's resolution, else this one
AUTO_CLASSIFIER = "digits-r{resolution}-train-tf0.2-s0"
FALLBACK_CLASSIFIER = "digits-r32-train-tf0.2-s0"


class ClassifierFeatures(nn.Module):
    """Intermediate feature maps of a frozen domain classifier, for images in [-1, 1] of any side and 1 or 3 channels
    (resized to the classifier's side; RGB averaged to gray, or gray repeated, to the classifier's channels)."""

    def __init__(self, model: DomainClassifier, resolution: int, name: str):
        super().__init__()
        self.model = model.eval().requires_grad_(False)
        self.resolution, self.name = resolution, name

    def train(self, mode: bool = True) -> ClassifierFeatures:
        return super().train(False)  # batch-norm statistics are part of the weights

    def forward(self, images: Tensor, layers: Sequence[str]) -> dict[str, Tensor]:
        unknown = [layer for layer in layers if layer not in CLASSIFIER_LAYERS]
        if unknown:
            raise ValueError(f"unknown feature layers {unknown}: choose from {list(CLASSIFIER_LAYERS)}")
        channels = self.model.channels
        if images.shape[1] != channels:
            images = images.mean(dim=1, keepdim=True).expand(-1, channels, -1, -1)
        if images.shape[-1] != self.resolution:
            images = F.interpolate(images, size=(self.resolution, self.resolution), mode="bilinear",
                                   align_corners=False, antialias=images.shape[-1] > self.resolution)
        x, out, last = images, {}, max((CLASSIFIER_LAYERS[layer] for layer in layers), default=0)
        for i, module in enumerate(self.model.body[:last], start=1):
            x = module(x)
            for layer in layers:
                if CLASSIFIER_LAYERS[layer] == i:
                    out[layer] = x
        return out


def load_feature_net(name: str, resolution: int) -> ClassifierFeatures:
    """A shipped classifier by its dataset name (gan/metrics/shipped.py), or `auto`: the digits classifier of the
    generator's resolution where one ships, else the 32x32 one."""
    names = {entry.dataset: entry for entry in SHIPPED}
    if name == "auto":
        name = AUTO_CLASSIFIER.format(resolution=resolution)
        name = name if name in names else FALLBACK_CLASSIFIER
    if name not in names:
        raise ValueError(f"features.classifier={name!r}: choose auto or a shipped classifier: {', '.join(names)}")
    model, stored = load_shipped(names[name])
    side = int(name.split("-r")[1].split("-")[0]) if "-r" in name else resolution
    return ClassifierFeatures(model, side, name)

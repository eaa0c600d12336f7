"""Run in a subprocess under some CPU-kernel setting (ATEN_CPU_CAPABILITY, ONEDNN_MAX_CPU_ISA, MKL_...): the shipped
digits classifier's protocol id, features and FID of a fixed fake set, and the hash of a classifier trained here.

`python -m tests.kernel_probe OUT.pt`. The parent (tests/test_protocol_kernels.py, experiments/metric_protocol/)
compares what different settings wrote: the shipped path must agree to 4 significant digits; the trained hash is
expected to differ (that is why the default classifiers ship).
"""

from __future__ import annotations

import sys

import torch

from gan.data.embedded import DigitsDataset
from gan.metrics.classifier import ClassifierExtractor, load_shipped, state_sha256, train_classifier
from gan.metrics.evaluator import ImageEvaluator
from gan.metrics.protocol import image_protocol
from gan.metrics.shipped import SHIPPED

RESOLUTION = 32
# The fake set: training digits with seeded noise of this std, so FID is well above zero and well below a random G.
NOISE_STD = 0.3
KID = {"subsets": 2, "subset_size": 200, "degree": 3, "gamma": None, "coef": 1.0}


def main(out: str, train: bool) -> None:
    torch.set_num_threads(1)  # the kernel choice, not the thread count, is under test
    entry = next(e for e in SHIPPED if e.dataset == f"digits-r{RESOLUTION}-train-tf0.2-s0")
    model, stored = load_shipped(entry)
    train_set, test_set = DigitsDataset(RESOLUTION, "train"), DigitsDataset(RESOLUTION, "test")

    def fake(n: int, seed: int) -> torch.Tensor:
        noise = torch.randn(n, *train_set.images.shape[1:], generator=torch.Generator().manual_seed(seed))
        return (train_set.images[:n] + NOISE_STD * noise).clamp(-1, 1)

    extractor = ClassifierExtractor(model, f"classifier:{entry.dataset}", stored["sha256"], model.channels)
    real, _ = extractor(test_set.images)
    fake_features, _ = extractor(fake(len(train_set), 0))
    evaluator = ImageEvaluator(extractor, real, "p", len(train_set), len(train_set), KID)
    row = evaluator.evaluate(lambda n, seed: fake(n, 0), seed=0)
    protocol = image_protocol(extractor.name, extractor.weights_sha256, len(train_set), test_set.fingerprint)
    result = {"protocol": protocol, "capability": torch.backends.cpu.get_cpu_capability(), "real": real,
              "fake": fake_features, "fid": row["fid"], "kid_mean": row["kid_mean"]}
    if train:  # one short epoch of a small classifier: is training itself kernel-independent? (it is not)
        small, _ = train_classifier(DigitsDataset(16, "train"), None, seed=0, epochs=1, batch_size=64, lr=1e-3,
                                    weight_decay=0.0, width=8, feature_dim=32)
        result["trained_sha256"] = state_sha256(small.state_dict())
    torch.save(result, out)


if __name__ == "__main__":
    main(sys.argv[1], train="--train" in sys.argv[2:])

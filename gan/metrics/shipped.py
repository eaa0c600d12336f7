"""The classifier weights that ship with the package, and their hashes: the record that makes classifier FIDs portable.

Each entry names a file in `gan/metrics/weights/`, the sha256 of the file (checked on every load: a changed file is
refused, not used), the sha256 of its weights (the hash protocol ids carry), the recipe it was trained by (dataset
fingerprint and the hyper-parameters of conf/metrics/classifier.yaml: a run whose recipe has the same digest gets
these weights), and what was measured when it was made: accuracy on the test split and the number of dead feature
units (constant over the training and test images). `python -m gan.metrics.ship` regenerates the files and prints
this table; edit it only that way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


@dataclass(frozen=True)
class ShippedWeights:
    dataset: str  # fingerprint of the training split
    file: str  # in WEIGHTS_DIR
    file_sha256: str
    weights_sha256: str
    recipe_sha256: str
    test_accuracy: float
    dead_units: int
    num_features: int


SHIPPED: tuple[ShippedWeights, ...] = (
    ShippedWeights(
        dataset='digits-r32-train-tf0.2-s0',
        file='digits-r32-train-tf0.2-s0.pt',
        file_sha256='d4a62f42fe9e267632b854c02ed18e5f2692f81c073c87901873b39b0803cfb2',
        weights_sha256='b4aef1b72f346cde79ca9555021009f2ecaa429ddda6a9ac568e051f32cffbbc',
        recipe_sha256='11e74b8dccb9b3f817d8d900d2c53d4e39556a65ce84f12e75f195719c9be18f',
        test_accuracy=1.0,
        dead_units=0,
        num_features=128,
    ),
    ShippedWeights(
        dataset='digits-r16-train-tf0.2-s0',
        file='digits-r16-train-tf0.2-s0.pt',
        file_sha256='986c53ec472ec9a9a636fa3b026264b401f26666798affdc9539acf9c7d46938',
        weights_sha256='19bd52ae357f314b8a6e23f137f23b2103861a2012d8b957881bfae381ea7d08',
        recipe_sha256='1e2a97c13a08e4668bb779e935b589816b37e905afa706e973ac80a322ed8707',
        test_accuracy=1.0,
        dead_units=0,
        num_features=128,
    ),
    ShippedWeights(
        dataset='textures-brick+grass+gravel-r32-c64-n200-train-s0',
        file='textures-brick+grass+gravel-r32-c64-n200-train-s0.pt',
        file_sha256='370c7a2d0f31ffc8aad6dc1e7dbb19b78aa76fefb43f0c0ef7afbcb2c4f020d1',
        weights_sha256='d0eac9c6ca0c37798fd871e2c41cb035130ba4066502a9c82e2794f2f5296073',
        recipe_sha256='ff757d91a8e69cce79d2c2dcb338522d61ed774d7e04721904f0b8527e65356b',
        test_accuracy=0.9783333333333334,
        dead_units=0,
        num_features=128,
    ),
)

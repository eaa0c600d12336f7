"""The metric protocol means the same number everywhere: shipped classifier weights (hash-checked, the defaults of
the bundled data, accurate, no dead feature units), machine-local classifiers marked as such, the broken-extractor
check, and content-hashed folder datasets (one changed image, another FID)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import OmegaConf
from PIL import Image

from gan.compare.report import MACHINE_LOCAL_NOTE, to_markdown
from gan.compare.table import Comparison
from gan.data.embedded import DigitsDataset, split_indices
from gan.data.folder import ImageFolderDataset
from gan.metrics import classifier
from gan.metrics.evaluator import ImageEvaluator
from gan.metrics.protocol import image_protocol, is_machine_local
from gan.metrics.shipped import SHIPPED, WEIGHTS_DIR
from gan.metrics.stats import DegenerateFeaturesError, dead_units, real_features
from tests.conftest import make_config
from tests.metrics_helpers import SIDE, BrokenExtractor, FlattenExtractor, TinyImages, images_from_seed

# The bar the shipped digits classifiers must clear on the test split (the acceptance criterion).
MIN_DIGITS_ACCURACY = 0.985
# The configurations whose classifier ships: (overrides, fingerprint of the training split).
SHIPPED_CONFIGS = [
    (("data=digits",), "digits-r32-train-tf0.2-s0"),
    (("data=digits", "data.resolution=16"), "digits-r16-train-tf0.2-s0"),
    (("data=textures",), "textures-brick+grass+gravel-r32-c64-n200-train-s0"),
]
KID = {"subsets": 2, "subset_size": 10**6, "degree": 3, "gamma": None, "coef": 1.0}


def extractor_of(*overrides: str, cache_dir) -> classifier.ClassifierExtractor:
    cfg = make_config("metrics=classifier", f"metrics.cache_dir={cache_dir}", *overrides)
    return instantiate(OmegaConf.to_container(cfg.metrics.extractor, resolve=True))


@pytest.mark.parametrize("overrides,fingerprint", SHIPPED_CONFIGS)
def test_default_classifiers_are_the_shipped_files(overrides, fingerprint, tmp_path):
    # The default recipe of each bundled labelled dataset loads the shipped file (nothing is trained or cached): a
    # change to conf/metrics/classifier.yaml or to the datasets that would silently retrain fails here.
    extractor = extractor_of(*overrides, cache_dir=tmp_path)
    entry = next(e for e in SHIPPED if e.dataset == fingerprint)
    assert not extractor.machine_local and extractor.path == WEIGHTS_DIR / entry.file
    assert extractor.weights_sha256 == entry.weights_sha256 == classifier.state_sha256(extractor.model.state_dict())
    assert extractor.test_accuracy == entry.test_accuracy and not (tmp_path / "classifiers").exists()
    protocol = image_protocol(extractor.name, extractor.weights_sha256, 100, fingerprint,
                              machine_local=extractor.machine_local)
    assert not is_machine_local(protocol) and "/local" not in protocol


@pytest.mark.parametrize("resolution", [16, 32])
def test_shipped_digits_classifier_is_accurate_and_has_no_dead_units(resolution, tmp_path):
    extractor = extractor_of("data=digits", f"data.resolution={resolution}", cache_dir=tmp_path)
    train, test = DigitsDataset(resolution, "train"), DigitsDataset(resolution, "test")
    # accuracy recomputed here from the logits, not read from the record
    assert classifier.accuracy(extractor, test.images, test.labels) >= MIN_DIGITS_ACCURACY
    features = torch.cat([extractor(train.images)[0], extractor(test.images)[0]])
    assert features.shape[1] == extractor.num_features == 128
    assert int(dead_units(features, extractor.min_relative_spread).sum()) == 0
    # every unit carries real variance (batch-normalised: about 1), so KID's gamma = 1/128 is the right dimension
    assert features.std(0).min() > 0.1
    # and the 128 units are not secretly fewer: the feature covariance has full rank
    assert torch.linalg.matrix_rank(torch.cov(features.double().T)) == extractor.num_features


def test_a_changed_shipped_file_is_refused_naming_the_file_and_the_fix(tmp_path):
    entry = SHIPPED[0]
    shutil.copy(WEIGHTS_DIR / entry.file, tmp_path / entry.file)
    model, _ = classifier.load_shipped(entry, tmp_path)  # an intact copy loads
    data = bytearray((tmp_path / entry.file).read_bytes())
    data[-100] ^= 0xFF
    (tmp_path / entry.file).write_bytes(bytes(data))
    with pytest.raises(classifier.ShippedWeightsError) as error:
        classifier.load_shipped(entry, tmp_path)
    message = str(error.value)
    assert str(tmp_path / entry.file) in message and entry.file_sha256 in message
    assert "python -m gan.metrics.ship" in message and "source=local" in message
    (tmp_path / entry.file).unlink()
    with pytest.raises(classifier.ShippedWeightsError, match="missing"):
        classifier.load_shipped(entry, tmp_path)


def test_own_recipes_train_a_machine_local_classifier_and_say_so(tmp_path):
    tiny = ("data.resolution=16", "metrics.extractor.epochs=1", "metrics.extractor.width=4",
            "metrics.extractor.feature_dim=16")
    extractor = extractor_of(*tiny, cache_dir=tmp_path)
    assert extractor.machine_local and extractor.path.parent == tmp_path / "classifiers"
    protocol = image_protocol(extractor.name, extractor.weights_sha256, 100, "digits-r16-train-tf0.2-s0",
                              machine_local=True)
    assert protocol == f"{extractor.name}@sha256:{extractor.weights_sha256[:12]}/local/fake100/ref:digits-r16-train-" \
                       "tf0.2-s0"
    assert is_machine_local(protocol)
    # cached: the second load trains nothing and gives the same weights
    again = extractor_of(*tiny, cache_dir=tmp_path)
    assert again.weights_sha256 == extractor.weights_sha256 and again.machine_local
    with pytest.raises(InstantiationException, match="no shipped classifier"):  # Hydra wraps ShippedWeightsError
        extractor_of(*tiny, "metrics.extractor.source=shipped", cache_dir=tmp_path)
    # source=local trains even where a shipped file exists
    forced = extractor_of("data.resolution=16", "metrics.extractor.epochs=1", "metrics.extractor.source=local",
                          cache_dir=tmp_path)
    assert forced.machine_local and forced.weights_sha256 != SHIPPED[1].weights_sha256
    # gan-compare prints the note beside a table of such a protocol, and not for a shipped one
    table = Comparison(metric="fid", mode="min", protocol=protocol, group_keys=[], moves_with={}, groups=[],
                       excluded=[], other_metrics=[])
    assert MACHINE_LOCAL_NOTE in to_markdown(table)
    table.protocol = protocol.replace("/local", "")
    assert MACHINE_LOCAL_NOTE not in to_markdown(table)


@pytest.mark.parametrize("broken,problem", [(BrokenExtractor(constant=True), "same features"),
                                            (BrokenExtractor(constant=False, live=2), "dead")])
def test_a_broken_extractor_is_refused_before_scoring(broken, problem, tmp_path):
    with pytest.raises(DegenerateFeaturesError, match=problem) as error:
        real_features(TinyImages(40), "train", broken, tmp_path, None, 16, "cpu")
    assert "broken@sha256:" in str(error.value)
    # the healthy extractor on the same data passes
    assert not real_features(TinyImages(40), "train", FlattenExtractor(), tmp_path, None, 16, "cpu").hit


def test_a_classifier_with_collapsed_features_is_refused(tmp_path):
    extractor = extractor_of("data=digits", "data.resolution=16", cache_dir=tmp_path)
    norm = extractor.model.body[-1]
    with torch.no_grad():  # the feature layer's scale at zero: every image gets the same (bias) features
        norm.weight.zero_()
    with pytest.raises(DegenerateFeaturesError, match="same features"):
        real_features(DigitsDataset(16, "test"), "test", extractor, tmp_path, None, 512, "cpu")


def write_pngs(folder, count: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        pixels = ((images_from_seed(1, i)[0, 0].clamp(-1, 1) + 1) * 127.5).round().byte().numpy()
        Image.fromarray(pixels, mode="L").save(folder / f"{i:02d}.png")


def folder_fid(folder, cache) -> tuple[float, str, bool]:
    dataset = ImageFolderDataset(str(folder), resolution=SIDE, channels=1, split="train", test_fraction=0.2)
    extractor = FlattenExtractor()
    real = real_features(dataset, "train", extractor, cache, None, 8, "cpu")
    evaluator = ImageEvaluator(extractor, real.features, "p", 64, 32, KID)
    row = evaluator.evaluate(lambda n, seed: images_from_seed(n, seed % 2**31, 0.2), seed=0)
    return row["fid"], dataset.fingerprint, real.hit


def test_folder_fingerprint_hashes_the_bytes_one_changed_image_changes_the_fid(tmp_path):
    folder, cache = tmp_path / "images", tmp_path / "cache"
    write_pngs(folder, 20)
    fid, fingerprint, hit = folder_fid(folder, cache)
    assert not hit and folder_fid(folder, cache) == (fid, fingerprint, True)
    # the same files elsewhere: the same fingerprint, the cache is reused
    shutil.copytree(folder, tmp_path / "copy" / "images")
    assert folder_fid(tmp_path / "copy" / "images", cache) == (fid, fingerprint, True)
    # one image replaced by a white one (same name, same size, same count): a new entry and another FID
    in_train_split = int(split_indices(20, "train", 0.2, 0)[0])
    Image.fromarray(np.full((SIDE, SIDE), 255, dtype=np.uint8), mode="L").save(folder / f"{in_train_split:02d}.png")
    changed_fid, changed_fingerprint, changed_hit = folder_fid(folder, cache)
    assert changed_fingerprint != fingerprint and not changed_hit
    assert changed_fid != pytest.approx(fid, rel=1e-6)

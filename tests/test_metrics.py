"""Metrics against independent computations: FID (scipy sqrtm), KID (unbiased polynomial MMD by hand), IS (numpy),
toy mode metrics (a hand count), the real-feature cache (extractor calls counted), the Inception path (random
weights, batch norms calibrated so that features vary, saved to a file), protocol ids."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from gan.data.embedded import DigitsDataset
from gan.io import file_sha256
from gan.metrics import extractors
from gan.metrics.evaluator import ImageEvaluator, chunk_plan, rank_share
from gan.metrics.protocol import image_protocol, is_machine_local, toy_protocol
from gan.metrics.stats import cache_path, real_features, relative_spread
from gan.metrics.toy import mode_metrics
from tests.metrics_helpers import (
    FlattenExtractor,
    TinyImages,
    digits_uint8_rgb,
    images_from_seed,
    write_random_inception,
)

KID = {"subsets": 3, "subset_size": 10**6, "degree": 3, "gamma": None, "coef": 1.0}


def fake_sampler(shift: float):
    return lambda n, seed: images_from_seed(n, seed % 2**31, shift)


def fake_features(num: int, batch: int, seed: int, shift: float) -> np.ndarray:
    """The fake set the evaluator sees, rebuilt from the documented chunk recipe."""
    chunks = [images_from_seed(n, s % 2**31, shift) for n, s in chunk_plan(num, batch, seed)]
    return torch.cat(chunks).flatten(1).double().numpy()


def scipy_fid(a: np.ndarray, b: np.ndarray) -> float:
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def unbiased_poly_mmd(x: np.ndarray, y: np.ndarray, degree: int = 3, coef: float = 1.0) -> float:
    gamma = 1.0 / x.shape[1]
    k = lambda a, b: (gamma * a @ b.T + coef) ** degree  # noqa: E731
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    m, n = len(x), len(y)
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
                 - 2 * kxy.mean())


def numpy_inception_score(logits: np.ndarray) -> float:
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    marginal = p.mean(0, keepdims=True)
    return float(np.exp((p * (np.log(p) - np.log(marginal))).sum(1).mean()))


@pytest.mark.parametrize("shift", [0.0, 0.3])
@pytest.mark.filterwarnings("ignore:std\\(\\).*degrees of freedom:UserWarning")  # IS std of a single split
def test_fid_kid_is_match_independent_computations(shift):
    real = images_from_seed(120, 99).flatten(1)
    evaluator = ImageEvaluator(FlattenExtractor(), real, "p", num_fake_samples=120, batch_size=50, kid=KID,
                               inception_score={"splits": 1})
    row = evaluator.evaluate(fake_sampler(shift), seed=7)
    fake = fake_features(120, 50, 7, shift)
    assert row["fid"] == pytest.approx(scipy_fid(real.double().numpy(), fake), rel=1e-4, abs=1e-5)
    # subset_size is capped at the 120 samples, so every subset is all of them: KID = MMD^2 of the full sets
    assert row["kid_mean"] == pytest.approx(unbiased_poly_mmd(real.double().numpy(), fake), rel=1e-4, abs=1e-6)
    assert row["kid_std"] == pytest.approx(0.0, abs=1e-6)
    assert row["is_mean"] == pytest.approx(numpy_inception_score(fake), rel=1e-4)


def test_fid_grows_with_the_shift_and_evaluation_is_repeatable():
    real = images_from_seed(200, 99).flatten(1)
    evaluator = ImageEvaluator(FlattenExtractor(), real, "p", 200, 64, kid={**KID, "subset_size": 50},
                               inception_score=None)
    same, shifted = evaluator.evaluate(fake_sampler(0.0), 1), evaluator.evaluate(fake_sampler(0.5), 1)
    assert same["fid"] < shifted["fid"] and same["kid_mean"] < shifted["kid_mean"]
    assert "is_mean" not in same  # IS only where asked for and the extractor has logits
    again = evaluator.evaluate(fake_sampler(0.0), 1)
    assert again["fid"] == same["fid"] and again["kid_mean"] == same["kid_mean"]  # KID subsets are seeded


def test_chunks_and_rank_shares_do_not_depend_on_the_number_of_processes():
    plan = chunk_plan(1050, 100, seed=3)
    assert [n for n, _ in plan] == [100] * 10 + [50] and len({s for _, s in plan}) == len(plan)
    assert chunk_plan(1050, 100, 3) == plan and chunk_plan(1050, 100, 4) != plan
    for world in (1, 2, 3, 7):
        shares = [list(rank_share(11, r, world)) for r in range(world)]
        assert sum(shares, []) == list(range(11))


def test_toy_metrics_match_a_hand_count():
    means = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    std = 0.5  # HQ: within 3 std = 1.5 of the nearest mean
    points = torch.tensor([
        [0.0, 0.0], [1.0, 1.0],   # mode 0: distances 0 and 1.41 -> both HQ
        [11.4, 0.0],              # mode 1: 1.4 -> HQ
        [10.0, 1.6],              # mode 1: 1.6 -> not HQ
        [5.0, 5.0],               # far from everything -> not HQ
    ])
    result = mode_metrics(points, means, std, threshold=3.0)
    assert result.modes_covered == 2
    assert result.hq_fraction == pytest.approx(3 / 5)
    # HQ histogram (2/3, 1/3, 0) against uniform 1/3: 2/3 ln 2 + 1/3 ln 1 + 0
    assert result.kl_uniform == pytest.approx(2 / 3 * math.log(2))
    # hq_spread: the HQ points' squared distances in std units, 0, (1.414 / 0.5)^2 = 8, (1.4 / 0.5)^2 = 7.84, per axis
    assert result.hq_spread == pytest.approx(math.sqrt((0 + 8 + 7.84) / (2 * 3)))
    uniform = mode_metrics(means.repeat(4, 1), means, std)
    assert (uniform.modes_covered, uniform.hq_fraction, uniform.kl_uniform, uniform.hq_spread) == (3, 1.0, 0.0, 0.0)
    nothing = mode_metrics(torch.tensor([[5.0, 5.0]]), means, std)
    assert nothing.kl_uniform == math.inf and math.isnan(nothing.hq_spread)
    assert set(result.as_dict()) == {"modes_covered", "hq_fraction", "kl_uniform", "hq_spread"}
    # per axis in any dimension: (1, 1, 1) from the origin is 1 std per axis, and (2, 0, 0) is 2 / sqrt(3)
    cube = mode_metrics(torch.tensor([[1.0, 1.0, 1.0], [2.0, 0.0, 0.0]]), torch.zeros(1, 3), 1.0)
    assert cube.hq_spread == pytest.approx(math.sqrt((1.0 + 4.0 / 3) / 2))


def test_hq_spread_of_the_mixture_itself_is_the_truncated_chi_square_value():
    """Samples of the mixture score data_hq_spread (from scipy's chi-square here, not the module's closed form); a
    point mass on every mode, the degenerate generator the paper's three figures rate perfect, scores 0."""
    from scipy.stats import chi2

    from gan.metrics.toy import data_hq_spread

    threshold = 3.0
    truncated = chi2.expect(lambda r2: r2, args=(2,), ub=threshold**2, conditional=True)  # E[r^2 | r < 3]
    assert data_hq_spread(threshold) == pytest.approx(math.sqrt(truncated / 2), rel=1e-9)
    generator = torch.Generator().manual_seed(0)
    means = torch.tensor([[a, b] for a in (-4.0, -2.0, 0.0, 2.0, 4.0) for b in (-4.0, -2.0, 0.0, 2.0, 4.0)])
    std = 0.05
    points = means[torch.randint(25, (200_000,), generator=generator)] + std * torch.randn(200_000, 2,
                                                                                           generator=generator)
    mixture = mode_metrics(points, means, std)
    assert mixture.hq_spread == pytest.approx(data_hq_spread(threshold), abs=0.005)
    collapsed = mode_metrics(means.repeat(100, 1), means, std)
    assert (collapsed.modes_covered, collapsed.hq_fraction, collapsed.kl_uniform, collapsed.hq_spread) == (
        25, 1.0, 0.0, 0.0)


def test_real_feature_cache_hit_miss_and_invalidation(tmp_path):
    dataset, extractor = TinyImages(30), FlattenExtractor()
    first = real_features(dataset, "train", extractor, tmp_path, None, 8, "cpu")
    assert not first.hit and extractor.images_seen == 30 and first.path.is_file()
    second = real_features(dataset, "train", extractor, tmp_path, None, 8, "cpu")
    assert second.hit and extractor.images_seen == 30  # no extraction on a hit
    assert torch.equal(first.features, second.features)
    # any key part changing is a miss: number of samples, weights, dataset (fingerprint), split
    assert not real_features(dataset, "train", extractor, tmp_path, 20, 8, "cpu").hit
    assert not real_features(dataset, "train", FlattenExtractor("1" * 64), tmp_path, None, 8, "cpu").hit
    assert not real_features(TinyImages(30, fingerprint="tiny-r8-train"), "train", extractor, tmp_path, None, 8,
                             "cpu").hit
    assert not real_features(dataset, "test", extractor, tmp_path, None, 8, "cpu").hit
    assert len(list((tmp_path / "real_features").glob("*.pt"))) == 5
    # a damaged file, or one holding another key, is recomputed rather than used
    first.path.write_bytes(b"not a torch file")
    seen = extractor.images_seen
    again = real_features(dataset, "train", extractor, tmp_path, None, 8, "cpu")
    assert not again.hit and extractor.images_seen == seen + 30 and torch.equal(again.features, first.features)
    other = cache_path(tmp_path, real_features(dataset, "train", extractor, tmp_path, 20, 8, "cpu").key)
    other.replace(first.path)
    assert not real_features(dataset, "train", extractor, tmp_path, None, 8, "cpu").hit


def test_protocol_ids():
    assert image_protocol("classifier:digits-r32-train", "ab" * 32, 10000, "digits-r32-train") == \
        "classifier:digits-r32-train@sha256:abababababab/fake10000/ref:digits-r32-train"
    assert image_protocol("inception-v3", "cd" * 32, 500, "cifar10-train", 2000).endswith("ref:cifar10-train[:2000]")
    assert toy_protocol("grid25-n100000-train-s0", 2500, 3) == "toy:grid25-n100000-train-s0/n2500/hq3.0std"
    local = image_protocol("classifier:mine-train", "ef" * 32, 500, "mine-train", machine_local=True)
    assert local == "classifier:mine-train@sha256:efefefefefef/local/fake500/ref:mine-train"
    assert is_machine_local(local) and not is_machine_local(local.replace("/local", ""))
    assert not is_machine_local("classifier:d@sha256:abc/fake5/ref:folder-local-1a2b-5files-r8-c1-train-tf0.1-s0")


# ------------------------------------------------------------------------------------------------------- Inception
# Images the random Inception's batch norms are calibrated on, and images per probe set (299x299 forward passes cost
# ~0.2 s each on a CPU: enough to tell digits from noise, few enough to keep the tests fast).
CALIBRATION_IMAGES, PROBE_IMAGES = 8, 4


@pytest.fixture(scope="module")
def random_inception_weights(tmp_path_factory):
    """A random torch-fidelity Inception, batch norms calibrated on digits, saved to a file (the real weights' cost)."""
    path = tmp_path_factory.mktemp("inception") / "random-inception.pth"
    return write_random_inception(path, seed=0, calibration=digits_uint8_rgb("train", CALIBRATION_IMAGES))


def test_inception_extractor_from_a_local_weights_file(random_inception_weights):
    with pytest.warns(extractors.NonStandardWeightsWarning, match="not the standard"):
        extractor = extractors.InceptionExtractor(weights_path=str(random_inception_weights))
    assert extractor.weights_sha256 == file_sha256(random_inception_weights)
    digits = DigitsDataset(16, "test").images[: 2 * PROBE_IMAGES]
    noise = torch.rand(PROBE_IMAGES, 1, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    features, logits = extractor(torch.cat([digits, noise]))
    assert features.shape == (3 * PROBE_IMAGES, 2048) and logits.shape == (3 * PROBE_IMAGES, 1008)
    assert torch.isfinite(features).all()
    # Calibrated, the features vary across images (uncalibrated: relative spread ~1e-7, FID ~1e-14 for anything)
    # and they can tell digits from noise: two digit sets are closer to each other than either is to noise.
    assert relative_spread(features) > 0.01
    first, second, rand = features.split(PROBE_IMAGES)
    between_digits = (first.mean(0) - second.mean(0)).norm()
    assert (first.mean(0) - rand.mean(0)).norm() > 3 * between_digits
    assert (second.mean(0) - rand.mean(0)).norm() > 3 * between_digits
    # grayscale is repeated to RGB: the same image given as 3 equal channels has the same features
    rgb_features, _ = extractor(digits[:2].repeat(1, 3, 1, 1))
    torch.testing.assert_close(features[:2], rgb_features)


def test_inception_found_in_the_hub_cache_and_clear_error_offline(random_inception_weights, tmp_path,
                                                                    monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(FileNotFoundError) as error:
        extractors.find_inception_weights(None)
    message = str(error.value)
    assert extractors.INCEPTION_URL in message
    assert str(tmp_path / "hub" / "checkpoints" / "weights-inception-2015-12-05-6726825d.pth") in message
    assert "weights_path" in message
    with pytest.raises(FileNotFoundError, match="no such file"):
        extractors.find_inception_weights(tmp_path / "missing.pth")
    target = tmp_path / "hub" / "checkpoints" / "pt_inception-2015-12-05-6726825d.pth"
    target.parent.mkdir(parents=True)
    target.symlink_to(random_inception_weights)
    assert extractors.find_inception_weights(None) == target


def test_uint8_conversion_for_inception():
    images = torch.tensor([-1.0, 0.0, 1.0, 2.0]).view(1, 1, 2, 2)
    pixels = extractors.to_uint8_rgb(images)
    assert pixels.dtype == torch.uint8 and pixels.shape == (1, 3, 2, 2)
    assert pixels[0, 0].flatten().tolist() == [0, 128, 255, 255]
    with pytest.raises(ValueError, match="expected images"):
        extractors.to_uint8_rgb(torch.zeros(1, 2, 4, 4))


def test_classifier_weights_do_not_depend_on_the_thread_count():
    # The weights hash is part of the protocol id: a machine with more cores must train the same classifier.
    from gan.data.embedded import DigitsDataset
    from gan.metrics.classifier import state_sha256, train_classifier

    train_set = DigitsDataset(split="train", resolution=16, test_fraction=0.2, split_seed=0)
    threads = torch.get_num_threads()
    hashes = []
    try:
        for count in (1, 2):
            torch.set_num_threads(count)
            model, _ = train_classifier(train_set, None, seed=0, epochs=1, batch_size=64, lr=1e-3, weight_decay=0.0,
                                        width=4, feature_dim=16)
            hashes.append(state_sha256(model.state_dict()))
            assert torch.get_num_threads() == count  # the caller's setting is restored
    finally:
        torch.set_num_threads(threads)
    assert hashes[0] == hashes[1]

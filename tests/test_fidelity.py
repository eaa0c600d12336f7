"""Precision/recall (Kynkäänniemi et al. 2019) and the memorisation ratio against brute force in NumPy/SciPy, their
wiring into the image evaluator, and `gan-eval mode=real_vs_real`."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

import gan.cli.evaluate as evaluate_cli
from gan.cli.evaluate import run as evaluate
from gan.metrics.evaluator import ImageEvaluator, build_evaluator, chunk_plan
from gan.metrics.fidelity import equal_size_subsets, gather_rows, memorisation_ratio, precision_recall
from tests.conftest import make_config
from tests.metrics_helpers import FlattenExtractor, TinyImages, images_from_seed

KID = {"subsets": 3, "subset_size": 50, "degree": 3, "gamma": None, "coef": 1.0}


def brute_precision_recall(real: np.ndarray, fake: np.ndarray, k: int) -> tuple[float, float]:
    """The paper's definition written out: a point's ball reaches its k-th nearest other point of its own set."""
    real_radii = np.sort(cdist(real, real), axis=1)[:, k]  # column 0 is the point itself
    fake_radii = np.sort(cdist(fake, fake), axis=1)[:, k]
    precision = np.mean([(cdist(f[None], real)[0] <= real_radii).any() for f in fake])
    recall = np.mean([(cdist(r[None], fake)[0] <= fake_radii).any() for r in real])
    return float(precision), float(recall)


def brute_memorisation(fake: np.ndarray, heldout: np.ndarray, train: np.ndarray) -> float:
    return float(np.median(cdist(fake, train).min(axis=1)) / np.median(cdist(heldout, train).min(axis=1)))


@pytest.mark.parametrize("k", [1, 2, 3])
def test_precision_recall_equal_brute_force(k):
    rng = np.random.default_rng(k)
    real = rng.normal(size=(60, 5))
    fake = rng.normal(loc=0.8, scale=0.6, size=(45, 5))  # shifted off the real manifold and narrower
    expected = brute_precision_recall(real, fake, k)
    got = precision_recall(torch.from_numpy(real).float(), torch.from_numpy(fake).float(), k, chunk_size=7)
    assert got == pytest.approx(expected, abs=1e-12)
    assert 0 < expected[0] < 1 and 0 < expected[1] < 1  # a case that tells the two apart, not a 0/1 one


def test_precision_recall_by_hand_on_a_line():
    # k=1 radii of the reals 0, 1, 2, 3, 10: 1, 1, 1, 1, 7. Fake 2.5 lies in the ball of 2 (and 3); 20 is 10 from
    # the nearest real, beyond its radius 7: precision 1/2. Fake radii (k=1): both 17.5, so every real within 17.5
    # of 2.5 or 20 is recalled: all five.
    real = torch.tensor([[0.0], [1.0], [2.0], [3.0], [10.0]])
    fake = torch.tensor([[2.5], [20.0]])
    assert precision_recall(real, fake, k=1, chunk_size=2) == (0.5, 1.0)


def test_identical_sets_score_one_and_disjoint_sets_zero():
    points = torch.from_numpy(np.random.default_rng(0).normal(size=(40, 8))).float()
    assert precision_recall(points, points.clone(), k=3, chunk_size=16) == (1.0, 1.0)
    assert precision_recall(points, points + 100.0, k=3, chunk_size=16) == (0.0, 0.0)


def test_memorisation_equals_brute_force_and_catches_copies():
    rng = np.random.default_rng(1)
    train, heldout = rng.normal(size=(80, 6)), rng.normal(size=(30, 6))
    fake = rng.normal(scale=1.2, size=(50, 6))
    as_t = lambda a: torch.from_numpy(a).float()  # noqa: E731
    got = memorisation_ratio(as_t(fake), as_t(heldout), as_t(train), chunk_size=9)
    assert got == pytest.approx(brute_memorisation(fake, heldout, train), rel=1e-6)
    # even counts: numpy's median averages the middle two, and so must ours
    got_even = memorisation_ratio(as_t(fake[:20]), as_t(heldout[:10]), as_t(train), chunk_size=9)
    assert got_even == pytest.approx(brute_memorisation(fake[:20], heldout[:10], train), rel=1e-6)
    copies = as_t(train[:25]) + 1e-4  # a generator that copies training images
    assert memorisation_ratio(copies, as_t(heldout), as_t(train), chunk_size=9) < 0.01


def test_equal_size_subsets_and_single_process_gather():
    real, fake = torch.arange(20.0)[:, None], torch.arange(7.0)[:, None]
    r, f = equal_size_subsets(real, fake, num_samples=100, seed=0)
    assert len(r) == len(f) == 7 and torch.equal(f, fake) and len(set(r.flatten().tolist())) == 7
    r2, _ = equal_size_subsets(real, fake, num_samples=5, seed=0)
    assert len(r2) == 5
    assert torch.equal(gather_rows(fake, world_size=1), fake)


def sample(n: int, seed: int) -> torch.Tensor:
    return images_from_seed(n, seed % 2**31, shift=0.3)


def test_image_evaluator_rows_carry_precision_recall_memorisation():
    real, train, heldout = (images_from_seed(n, s).flatten(1) for n, s in ((150, 1), (150, 1), (60, 2)))
    fidelity = {"k": 3, "num_samples": 120, "chunk_size": 50}
    evaluator = ImageEvaluator(FlattenExtractor(), real, "p", 200, 64, KID, None, fidelity, train, heldout)
    row = evaluator.evaluate(sample, seed=4)
    fake = torch.cat([sample(size, s) for size, s in chunk_plan(200, 64, 4)]).flatten(1)
    real_subset, fake_subset = equal_size_subsets(real, fake, 120, seed=4)
    assert len(fake_subset) == 120
    expected = brute_precision_recall(real_subset.double().numpy(), fake_subset.double().numpy(), 3)
    assert (row["precision"], row["recall"]) == pytest.approx(expected, abs=1e-12)
    assert row["memorisation"] == pytest.approx(
        brute_memorisation(fake.double().numpy(), heldout.double().numpy(), train.double().numpy()), rel=1e-6)
    assert math.isfinite(row["fid"])


def test_build_evaluator_loads_train_and_heldout_and_names_them_in_the_protocol(tmp_path):
    splits = {"train": TinyImages(90, seed=0, fingerprint="tiny-train"),
              "test": TinyImages(40, seed=1, fingerprint="tiny-test")}
    settings = {"kind": "image", "num_fake_samples": 100, "reference_split": "train", "num_real_samples": None,
                "batch_size": 32, "cache_dir": str(tmp_path), "kid": KID, "inception_score": None,
                "extractor": {"_target_": "tests.metrics_helpers.FlattenExtractor"},
                "fidelity": {"k": 3, "num_samples": 1000, "heldout_split": "test", "chunk_size": 64}}
    evaluator = build_evaluator(settings, splits.__getitem__)
    assert evaluator.protocol.endswith("/fake100/ref:tiny-train/pr:k3n90/mem:test")
    assert torch.equal(evaluator.heldout, splits["test"].images.flatten(1))
    row = evaluator.evaluate(sample, seed=0)
    assert {"precision", "recall", "memorisation"} <= set(row)
    no_heldout = build_evaluator({**settings, "fidelity": {**settings["fidelity"], "heldout_split": None}},
                                 splits.__getitem__)
    assert no_heldout.protocol.endswith("/pr:k3n90") and "memorisation" not in no_heldout.evaluate(sample, seed=0)


def test_gan_eval_real_vs_real_writes_the_floor(tmp_path):
    cfg = make_config("mode=real_vs_real", "data=digits", "data.resolution=16", "metrics=classifier",
                      f"metrics.cache_dir={tmp_path / 'cache'}", "seeds=[0,1]", config_name="eval")
    result = evaluate(cfg, tmp_path / "out")
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert saved == json.loads(json.dumps(result))
    assert saved["mode"] == "real_vs_real" and saved["num_fake_samples"] == 359  # the whole test split
    assert saved["protocol"].endswith("/fake359/ref:digits-r16-train-tf0.2-s0/pr:k3n359/mem:test"
                                      "/fake:digits-r16-test-tf0.2-s0")
    assert len(saved["rows"]) == 2 and (tmp_path / "out" / "results.csv").is_file()
    summary = saved["summary"]
    assert {"fid", "kid_mean", "precision", "recall", "memorisation"} <= set(summary)
    assert summary["memorisation"]["mean"] == pytest.approx(1.0)  # the held-out set against itself
    assert 0 <= summary["fid"]["mean"] < 10 and 0.5 < summary["precision"]["mean"] <= 1
    assert 0.5 < summary["recall"]["mean"] <= 1


def test_gan_eval_real_vs_real_needs_data(tmp_path):
    with pytest.raises(ValueError, match="data=<name>"):
        evaluate(make_config("mode=real_vs_real", config_name="eval"), tmp_path)


def test_dataset_sampler_serves_all_items_in_order_or_a_seeded_random_subset():
    """The real-vs-real floor at fewer than all held-out items: each seed its own subset (so the seeds show the
    floor's spread at that size), the same subset for the same seed, and never an item twice."""
    from gan.cli.evaluate import dataset_sampler

    items = [(torch.full((1,), float(i)), 0) for i in range(20)]

    def drawn(n: int, seed: int) -> list[int]:
        sample = dataset_sampler(items, n, batch_size=3, seed=seed)
        return [int(v) for size, chunk_seed in chunk_plan(n, 3, seed) for v in sample(size, chunk_seed).flatten()]

    assert drawn(20, 0) == list(range(20)) == drawn(20, 5)
    first, again, other = drawn(8, 0), drawn(8, 0), drawn(8, 1)
    assert first == again and len(set(first)) == 8 and set(first) != set(other)
    assert set(first) <= set(range(20)) and first != list(range(8))


def test_gan_eval_floor_scores_the_generator_and_the_held_out_data_at_one_size(tmp_path, capsys, monkeypatch):
    """floor=true: G and the real-vs-real floor both at the held-out split's size, the floor's figures those of
    `mode=real_vs_real` at that size, both in results.json and results.csv under their own protocol ids."""
    import csv

    from tests.test_metrics_train import FAST_METRICS
    from tests.training_helpers import train_tiny

    run_dir, cache = tmp_path / "run", f"metrics.cache_dir={tmp_path / 'cache'}"
    train_tiny(run_dir, *FAST_METRICS, cache, "trainer.max_steps=2", "eval_every_n_steps=2")
    assert f"gan-eval ckpt={run_dir} which=best floor=true" in capsys.readouterr().out  # training's summary says how
    built = []
    monkeypatch.setattr(evaluate_cli, "build_evaluator",
                        lambda *args, **kwargs: built.append(1) or build_evaluator(*args, **kwargs))
    result = evaluate(make_config(f"ckpt={run_dir}", "floor=true", "seeds=[0,1]", config_name="eval"),
                      tmp_path / "eval")
    assert len(built) == 1  # G and the floor share one evaluator: the extractor is loaded once
    floor = result["floor"]
    assert result["num_fake_samples"] == floor["num_fake_samples"] == 359  # digits' test split
    assert "/fake359/" in result["protocol"] and "/fake359/" in floor["protocol"]
    assert floor["protocol"].endswith("/fake:" + floor["heldout"]) and floor["heldout"].startswith("digits-r16-test")
    alone = evaluate(make_config("mode=real_vs_real", "data=digits", "data.resolution=16", "metrics=classifier",
                                 *FAST_METRICS[1:], cache, "seeds=[0,1]", config_name="eval"), tmp_path / "rvr")
    assert floor["protocol"] == alone["protocol"]
    for mine, theirs in zip(floor["rows"], alone["rows"], strict=True):
        assert mine["fid"] == pytest.approx(theirs["fid"], rel=1e-9)
    assert result["summary"]["fid"]["mean"] > floor["summary"]["fid"]["mean"]  # two steps of training: far off
    with open(tmp_path / "eval" / "results.csv", newline="") as handle:
        protocols = [row["protocol"] for row in csv.DictReader(handle)]
    assert protocols == [result["protocol"]] * 2 + [floor["protocol"]] * 2
    fewer = evaluate(make_config(f"ckpt={run_dir}", "floor=true", "n=100", "seeds=[0,1]", config_name="eval"),
                     tmp_path / "fewer")
    assert fewer["num_fake_samples"] == fewer["floor"]["num_fake_samples"] == 100
    assert fewer["floor"]["rows"][0]["fid"] != fewer["floor"]["rows"][1]["fid"]  # a random subset per seed
    assert fewer["floor"]["protocol"].endswith("/random-subsets") and "/fake100/" in fewer["floor"]["protocol"]
    with pytest.raises(ValueError, match="mode=real_vs_real is the floor itself"):
        evaluate(make_config("mode=real_vs_real", "data=digits", "floor=true", config_name="eval"), tmp_path / "x")
    with pytest.raises(ValueError, match="at most the test split's 359 items"):
        evaluate(make_config(f"ckpt={run_dir}", "floor=true", "n=1000", config_name="eval"), tmp_path / "bad")

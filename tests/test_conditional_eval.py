"""Conditional evaluation (cond_acc, intra_fid) wired into the evaluator: rows against an independent computation.

Hand-built conditional "generators": one returns, for label k, a held-out digit of class k (scored with the shipped
digits classifier), one ignores its label; a fixed-pattern generator scored with a nearest-pattern extractor for the
DDP check. The reference is always recomputed here from the generator's own record of what it was asked for and
what it drew, through the pure functions of gan.metrics.conditional (tested against scipy in
test_conditional_metrics.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from omegaconf import OmegaConf
from torch import Tensor, nn

from gan.data.embedded import DigitsDataset
from gan.metrics.callback import EvaluationCallback
from gan.metrics.conditional import classification_accuracy, intra_class_fid
from gan.metrics.evaluator import (
    Conditioning,
    ImageEvaluator,
    build_evaluator,
    chunk_plan,
    dataset_labels,
    generator_sampler,
    model_conditioning,
    without_conditioning,
)
from gan.metrics.extractors import FeatureExtractor
from gan.train.builders import build_dataset_factory
from tests.conftest import make_config

RESOLUTION, DIGIT_CLASSES, NUM_FAKE, BATCH, SEED = 16, 10, 1000, 250, 3
KID = {"subsets": 2, "subset_size": 100, "degree": 3, "gamma": None, "coef": 1.0}
CONDITIONAL = ("cond_acc", "intra_fid")


class DigitsByClass(nn.Module):
    """G(z, y): a held-out (test split) digit of class y, which one picked by z; with `blind`, of a class picked by z
    (the label is ignored). Records the labels it was given and the images it returned, call by call."""

    def __init__(self, blind: bool = False, latent_dim: int = 8):
        super().__init__()
        test = DigitsDataset(RESOLUTION, split="test")
        self.by_class = [test.images[test.labels == k] for k in range(DIGIT_CLASSES)]
        self.latent_dim, self.num_classes, self.blind = latent_dim, DIGIT_CLASSES, blind
        self.anchor = nn.Parameter(torch.zeros(()))  # generate_in_batches reads the device off a parameter
        self.calls: list[tuple[Tensor, Tensor]] = []

    def forward(self, z: Tensor, y: Tensor | None) -> Tensor:
        pick = (z[:, 0] * 1e4).long().abs()
        classes = (z[:, 1] * 1e4).long().abs() % DIGIT_CLASSES if self.blind or y is None else y
        images = torch.stack([self.by_class[int(k)][int(p) % len(self.by_class[int(k)])]
                              for k, p in zip(classes, pick, strict=True)])
        if y is not None:
            self.calls.append((y.clone(), images))
        return images


def digits_settings(cache: Path) -> tuple[dict, object]:
    """The classifier metrics group on 16x16 digits (shipped weights), small enough for a test, and its datasets."""
    cfg = make_config(f"data.resolution={RESOLUTION}", "metrics=classifier", f"metrics.cache_dir={cache}",
                      f"metrics.num_fake_samples={NUM_FAKE}", f"metrics.batch_size={BATCH}",
                      "metrics.extractor.source=shipped", "metrics.fidelity=null", "metrics.kid.subsets=2",
                      "metrics.kid.subset_size=100")
    return OmegaConf.to_container(cfg.metrics, resolve=True), build_dataset_factory(cfg)


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    settings, make_dataset = digits_settings(tmp_path_factory.mktemp("cache"))
    evaluator = build_evaluator(settings, make_dataset, conditioning=Conditioning(8, DIGIT_CLASSES))
    return settings, make_dataset, evaluator


def independent_row(evaluator: ImageEvaluator, generator: DigitsByClass) -> dict[str, float]:
    """cond_acc and intra_fid from what the generator recorded, with the real features extracted here, in order."""
    extractor = evaluator.extractor
    train = DigitsDataset(RESOLUTION, split="train")
    real = torch.cat([extractor(train.images[i : i + BATCH])[0] for i in range(0, len(train), BATCH)])
    assert torch.allclose(real, evaluator.real, atol=1e-5)  # the cached features are the train split, in order
    labels = torch.cat([y for y, _ in generator.calls])
    features, logits = zip(*(extractor(images) for _, images in generator.calls), strict=True)
    return {"cond_acc": classification_accuracy(torch.cat(logits), labels, DIGIT_CLASSES).mean,
            "intra_fid": intra_class_fid(real, train.labels, torch.cat(features), labels, DIGIT_CLASSES).mean}


def test_class_faithful_generator_row_matches_an_independent_computation(digits):
    _, _, evaluator = digits
    generator = DigitsByClass()
    row = evaluator.evaluate(generator_sampler(generator, 8, DIGIT_CLASSES), SEED)
    # the labels the evaluator redrew are exactly those G was asked for, chunk by chunk
    assert torch.equal(torch.cat([y for y, _ in generator.calls]), evaluator.fake_labels(SEED))
    expected = independent_row(evaluator, generator)
    for key in CONDITIONAL:
        assert row[key] == pytest.approx(expected[key], rel=1e-6, abs=1e-9), key
    assert row["cond_acc"] > 0.9  # held-out digits of the asked-for class: the classifier's test accuracy


def test_without_conditioning_scores_unlabelled_samples_as_a_fresh_unconditional_evaluator(digits):
    """gan-eval floor=true scores held-out digits with G's evaluator minus its class metrics: the same extractor and
    real features (not built twice), the rows of an unconditional evaluator built from scratch, G's untouched."""
    settings, make_dataset, evaluator = digits
    unlabelled = without_conditioning(evaluator)
    assert unlabelled.conditioning is None and unlabelled.real_labels is None and not unlabelled.class_logits
    assert unlabelled.extractor is evaluator.extractor and unlabelled.real is evaluator.real
    assert unlabelled.protocol == evaluator.protocol
    assert evaluator.conditioning == Conditioning(8, DIGIT_CLASSES) and evaluator.real_labels is not None
    fresh = build_evaluator(settings, make_dataset)
    held_out = DigitsDataset(RESOLUTION, split="test").images

    def sample(n: int, seed: int) -> Tensor:  # held-out digits, a chunk's worth from its seed
        return held_out[torch.randint(len(held_out), (n,), generator=torch.Generator().manual_seed(seed))]

    row, expected = unlabelled.evaluate(sample, SEED), fresh.evaluate(sample, SEED)
    assert not set(CONDITIONAL) & set(row)
    for key in ("fid", "kid_mean", "is_mean"):
        assert row[key] == pytest.approx(expected[key], rel=1e-9), key
    assert set(CONDITIONAL) <= set(evaluator.evaluate(generator_sampler(DigitsByClass(), 8, DIGIT_CLASSES), SEED))
    assert without_conditioning(fresh) is fresh  # nothing to take off


def test_a_generator_that_ignores_its_label_scores_low(digits):
    _, _, evaluator = digits
    faithful = evaluator.evaluate(generator_sampler(DigitsByClass(), 8, DIGIT_CLASSES), SEED)
    generator = DigitsByClass(blind=True)
    blind = evaluator.evaluate(generator_sampler(generator, 8, DIGIT_CLASSES), SEED)
    expected = independent_row(evaluator, generator)
    for key in CONDITIONAL:
        assert blind[key] == pytest.approx(expected[key], rel=1e-6, abs=1e-9), key
    assert blind["cond_acc"] < 0.25  # chance is 0.1
    assert blind["intra_fid"] > 5 * faithful["intra_fid"]
    # plain FID cannot tell them apart much: both draw real held-out digits of every class
    assert blind["fid"] < 2 * faithful["fid"] + 1


def test_unconditional_rows_protocol_and_cache_are_unchanged(digits, tmp_path):
    settings, make_dataset, conditional = digits
    unconditional = build_evaluator(settings, make_dataset)
    assert unconditional.protocol == conditional.protocol
    assert torch.equal(unconditional.real, conditional.real)  # the same cache entry, features only
    assert len(list((Path(settings["cache_dir"]) / "real_features").glob("*.pt"))) == 1
    row = unconditional.evaluate(generator_sampler(DigitsByClass(blind=True), 8, 0), SEED)
    assert not set(CONDITIONAL) & set(row)
    assert model_conditioning(8, 0) is None


def test_real_labels_follow_the_cached_feature_order(digits):
    _, make_dataset, evaluator = digits
    train = make_dataset("train")
    assert torch.equal(evaluator.real_labels, train.labels)

    class NoLabelAttribute(torch.utils.data.Dataset):  # a dataset without a `labels` tensor: read item by item
        def __len__(self) -> int:
            return len(train)

        def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
            return train[i]

    assert torch.equal(dataset_labels(NoLabelAttribute(), 300), train.labels[:300])


def test_reference_with_other_classes_is_refused(tmp_path):
    settings, make_dataset = digits_settings(tmp_path)
    with pytest.raises(ValueError, match="model draws 7 classes"):
        build_evaluator(settings, make_dataset, conditioning=Conditioning(8, 7))


def test_training_sampler_draws_the_labels_the_evaluator_redraws():
    """The callback's sampler (GAN.generate_batched) on a conditional DCGAN: the y its G_ema gets, chunk by chunk."""
    from gan.train.builders import build_module

    module = build_module(make_config("data.resolution=16", "model.generator.width=8",
                                      "model.discriminator.width=8", "model.latent_dim=8", "model.num_classes=10"))
    conditioning = EvaluationCallback.conditioning(module)
    assert conditioning == Conditioning(8, 10)
    evaluator = ImageEvaluator(PatternExtractor(), torch.randn(4, 16), "p", 300, 64, KID, conditioning=conditioning,
                               real_labels=torch.zeros(4, dtype=torch.long))
    seen: list[Tensor] = []
    hook = module.generator_ema.register_forward_hook(lambda _m, args, _out: seen.append(args[1].cpu()))
    try:
        for size, chunk_seed in chunk_plan(300, 64, SEED):
            module.generate_batched(size, chunk_seed, size)  # as EvaluationCallback.evaluate calls it
    finally:
        hook.remove()
    assert torch.equal(torch.cat(seen), evaluator.fake_labels(SEED))


def test_rank_shares_of_the_labels_concatenate_to_the_single_process_labels():
    evaluator = ImageEvaluator(PatternExtractor(), torch.randn(4, 16), "p", 700, 64, KID,
                               conditioning=Conditioning(16, 3), real_labels=torch.zeros(4, dtype=torch.long))
    single = evaluator.fake_labels(SEED)
    assert len(single) == 700
    for world_size in (2, 3):
        shares = [evaluator.fake_labels(SEED, rank, world_size) for rank in range(world_size)]
        assert torch.equal(torch.cat(shares), single)


# ---------------------------------------------------------------------------------------------- fixed patterns, DDP
NUM_PATTERNS, SIDE = 3, 4
PATTERNS = torch.randn(NUM_PATTERNS, SIDE * SIDE, generator=torch.Generator().manual_seed(0)) * 2


class PatternExtractor(FeatureExtractor):
    """Features = the pixels; logits = minus the distance to each class pattern (a nearest-pattern classifier)."""

    num_features = SIDE * SIDE
    num_logits = NUM_PATTERNS

    def __init__(self):
        super().__init__()
        self.name, self.weights_sha256 = "patterns", "0" * 64

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        flat = images.flatten(1).float()
        return flat, -torch.cdist(flat, PATTERNS.to(flat.device))


class PatternGenerator(nn.Module):
    """G(z, y) = pattern y + noise z (latent_dim = the pixels)."""

    latent_dim, num_classes = SIDE * SIDE, NUM_PATTERNS

    def __init__(self):
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(()))

    def forward(self, z: Tensor, y: Tensor) -> Tensor:
        return (PATTERNS.to(z.device)[y] + 0.7 * z).view(-1, 1, SIDE, SIDE)


def pattern_evaluation(rank: int = 0, world_size: int = 1) -> dict[str, float]:
    rng = torch.Generator().manual_seed(1)
    labels = torch.randint(NUM_PATTERNS, (240,), generator=rng)
    real = PATTERNS[labels] + 0.7 * torch.randn(240, SIDE * SIDE, generator=rng)
    evaluator = ImageEvaluator(PatternExtractor(), real, "p", 700, 64, KID, conditioning=Conditioning(16, 3),
                               real_labels=labels)
    sample = generator_sampler(PatternGenerator(), SIDE * SIDE, NUM_PATTERNS)
    return evaluator.evaluate(sample, SEED, rank, world_size)


def _worker(rank: int, world_size: int, init_file: str, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    try:
        Path(out_dir, f"rank{rank}.json").write_text(json.dumps(pattern_evaluation(rank, world_size)))
    finally:
        dist.destroy_process_group()


def test_logits_without_the_model_classes_give_intra_fid_only():
    """An extractor whose logits are another label space (Inception's ImageNet classes): no cond_acc."""
    evaluator = ImageEvaluator(PatternExtractor(), PATTERNS.repeat(4, 1) + torch.randn(12, 16), "p", 400, 100, KID,
                               conditioning=Conditioning(16, 2), real_labels=torch.arange(12) % 2)
    generator = PatternGenerator()
    row = evaluator.evaluate(generator_sampler(generator, 16, 2), SEED)
    assert "cond_acc" not in row and row["intra_fid"] > 0


def test_two_processes_give_the_single_process_conditional_metrics(tmp_path):
    mp.spawn(_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    single = pattern_evaluation()
    assert single["cond_acc"] > 0.8 and single["intra_fid"] > 0
    for rank in (0, 1):  # every rank gets the values of one process
        ddp = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert set(ddp) == set(single)
        for key in (*CONDITIONAL, "fid"):
            assert ddp[key] == pytest.approx(single[key], rel=1e-6, abs=1e-9), (rank, key)


@pytest.mark.slow
def test_conditional_training_rows_and_gan_eval_carry_the_conditional_metrics(tmp_path):
    """The real path: the callback's rows of a conditional run have cond_acc and intra_fid, and gan-eval of its final
    checkpoint (same seed and sample count) reproduces them; best.ckpt is still kept by fid."""
    from gan.cli.evaluate import run as evaluate
    from tests.test_metrics_train import FAST_METRICS, NUM_FAKE, evaluation_rows
    from tests.training_helpers import train_tiny

    run_dir = tmp_path / "run"
    train_tiny(run_dir, *FAST_METRICS, f"metrics.cache_dir={tmp_path / 'cache'}", "metrics.fidelity=null",
               "model.num_classes=10", "trainer.max_steps=10", "eval_every_n_steps=10")
    rows = evaluation_rows(run_dir)
    assert len(rows) == 1 and 0 <= float(rows[0]["cond_acc"]) <= 1 and float(rows[0]["intra_fid"]) > 0
    assert (run_dir / "checkpoints" / "best.ckpt").is_file()
    result = evaluate(make_config(f"ckpt={run_dir}", f"n={NUM_FAKE}", "seeds=[0]", config_name="eval"),
                      tmp_path / "eval")
    assert result["protocol"] == rows[0]["protocol"]
    for key in (*CONDITIONAL, "fid"):
        assert result["rows"][0][key] == pytest.approx(float(rows[0][key]), rel=1e-5), key

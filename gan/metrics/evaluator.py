"""One evaluation: generate a fixed set of samples, extract features, compute the metrics (torchmetrics).

The fake set is a function of (num_fake_samples, batch_size, seed) alone: it is cut into chunks of `batch_size`, chunk
i drawn from its own seed (derived from `seed`). Under DDP each rank generates a contiguous range of chunks, so 1 or N
processes evaluate the same images, and the features gathered across ranks come in the same order. Reference
features are split the same way; FID sums and KID/IS feature lists are synced by torchmetrics inside `compute()`,
which every rank must call.

A class-conditional generator (a `Conditioning`: num_classes > 0) is also scored per class: `cond_acc`, the mean over
classes of the fraction of samples the extractor's classifier assigns to the class G was asked for (only when the
extractor's logits are the model's classes, i.e. the dataset classifier, not Inception's ImageNet classes), and
`intra_fid`, FID per class between real and generated features, averaged (gan.metrics.conditional). The labels G was
asked for are not returned by the sampler: they are redrawn per chunk from the shared recipe (`seeded_inputs` of the
chunk's size and seed), which every sampler of a model uses. Real labels come from the reference dataset, in the order
of the cached features. Only the means are logged: per-class columns would add 2 x num_classes columns to every row
(200 for 100 classes), each from ~num_fake_samples / num_classes samples.
"""

from __future__ import annotations

import copy
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import Tensor
from torch.utils.data import Dataset
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.inception import InceptionScore
from torchmetrics.image.kid import KernelInceptionDistance

from gan.compat import set_fid_real_sums, set_kid_real_features
from gan.data.base import ImageDataset, PointsDataset, check_dataset
from gan.metrics.conditional import classification_accuracy, intra_class_fid
from gan.metrics.extractors import FeatureExtractor, Passthrough
from gan.metrics.fidelity import (
    equal_size_subsets,
    fidelity_protocol,
    gather_rows,
    memorisation_ratio,
    precision_recall,
)
from gan.metrics.protocol import image_protocol, toy_protocol
from gan.metrics.stacked import StackedEvaluator, stacked_protocol
from gan.metrics.stats import real_features
from gan.metrics.toy import ModeCoverage
from gan.sample.generate import generate_in_batches
from gan.sample.latents import seeded_inputs

# (n, seed) -> n samples; images in [-1, 1] or (n, 2) points.
Sampler = Callable[[int, int], Tensor]
# Chunk seeds are drawn below this bound (fits int64 and torch.Generator.manual_seed).
SEED_BOUND = 2**62
# torchmetrics warns at every KID/IS construction that features are kept in memory: known and intended here.
_KNOWN_WARNING = r".*will save all extracted features in buffer.*"


class Evaluator(Protocol):
    protocol: str
    num_fake_samples: int

    def evaluate(self, sample: Sampler, seed: int, rank: int = 0, world_size: int = 1,
                 device: str | torch.device = "cpu") -> dict[str, float]: ...


def chunk_plan(num_samples: int, chunk_size: int, seed: int) -> list[tuple[int, int]]:
    """[(size, seed)] of each chunk; the seeds come from one generator, so different `seed`s never share a chunk."""
    if num_samples < 1 or chunk_size < 1:
        raise ValueError(f"num_fake_samples ({num_samples}) and metrics.batch_size ({chunk_size}) must be >= 1")
    count = -(-num_samples // chunk_size)
    seeds = torch.randint(SEED_BOUND, (count,), generator=torch.Generator().manual_seed(seed)).tolist()
    sizes = [chunk_size] * (count - 1) + [num_samples - chunk_size * (count - 1)]
    return list(zip(sizes, seeds, strict=True))


def rank_share(num_items: int, rank: int, world_size: int) -> range:
    """Contiguous share of range(num_items) for `rank`; concatenated over ranks in order it is range(num_items)."""
    return range(num_items * rank // world_size, num_items * (rank + 1) // world_size)


@dataclass(frozen=True)
class Conditioning:
    """What a class-conditional model draws with each latent: the labels of a chunk are a function of (size, chunk seed,
    latent_dim, num_classes) alone (`seeded_inputs`), so the evaluator can redraw what G was asked for."""

    latent_dim: int
    num_classes: int

    def labels(self, n: int, seed: int) -> Tensor:
        """(n,) the labels `seeded_inputs(n, seed, ...)` gives G (with its z, drawn first from the same generator)."""
        _, y = seeded_inputs(n, seed, self.latent_dim, self.num_classes)
        return y


def model_conditioning(latent_dim: int, num_classes: int) -> Conditioning | None:
    """The `Conditioning` of a model with these sizes; None for an unconditional one (num_classes 0)."""
    return Conditioning(int(latent_dim), int(num_classes)) if num_classes else None


def dataset_labels(dataset: Dataset, count: int) -> Tensor:
    """(count,) labels of the first `count` items of `dataset`, in the order `real_features` extracts them."""
    stored = getattr(dataset, "labels", None)
    if isinstance(stored, Tensor) and len(stored) == len(dataset):
        return stored[:count].long().clone()  # the embedded datasets hold them: no need to load every image
    return torch.stack([torch.as_tensor(dataset[i][1]) for i in range(count)]).long()


@dataclass
class _RealSums:
    total: Tensor
    cov: Tensor
    count: int


class ImageEvaluator:
    """FID and KID (and IS when the extractor has logits) of generated images against cached real features.

    With `fidelity` settings (k, num_samples, chunk_size) also precision and recall against `real`, and with `train`
    and `heldout` features the memorisation ratio (gan.metrics.fidelity). With a `conditioning` and `real_labels` (one
    per row of `real`) also cond_acc and intra_fid (module docstring). These need every generated feature: under DDP
    the ranks' shares (features, logits, labels) are gathered (in rank order, so the set equals the single-process one).
    """

    def __init__(self, extractor: FeatureExtractor, real: Tensor, protocol: str, num_fake_samples: int,
                 batch_size: int, kid: Mapping[str, Any], inception_score: Mapping[str, Any] | None = None,
                 fidelity: Mapping[str, Any] | None = None, train: Tensor | None = None,
                 heldout: Tensor | None = None, conditioning: Conditioning | None = None,
                 real_labels: Tensor | None = None):
        if len(real) < 2:
            raise ValueError(f"need at least 2 reference samples, got {len(real)}")
        if (conditioning is None) != (real_labels is None):
            raise ValueError("a conditional evaluation needs both the model's conditioning and the real labels")
        if real_labels is not None and real_labels.shape != (len(real),):
            raise ValueError(f"need one real label per reference feature ({len(real)}), got {tuple(real_labels.shape)}")
        self.extractor = extractor
        self.real = real.float().cpu()
        self.protocol = protocol
        self.num_fake_samples = num_fake_samples
        self.batch_size = batch_size
        self.kid = dict(kid)
        self.inception_score = dict(inception_score) if inception_score and extractor.num_logits else None
        self._sums: dict[tuple[int, int], _RealSums] = {}
        self.fidelity = dict(fidelity) if fidelity else None
        self.train = None if train is None else train.float().cpu()
        self.heldout = None if heldout is None else heldout.float().cpu()
        self.conditioning = conditioning
        self.real_labels = None if real_labels is None else real_labels.long().cpu()
        # Classification accuracy needs logits over the model's classes: the dataset classifier has them, Inception's
        # 1008 ImageNet logits are another label space (intra-FID still applies).
        self.class_logits = conditioning is not None and extractor.num_logits == conditioning.num_classes

    def _real_sums(self, share: Tensor, key: tuple[int, int]) -> _RealSums:
        # What FrechetInceptionDistance.update(real=True) would accumulate, computed once per (rank, world size).
        if key not in self._sums:
            double = share.double()
            self._sums[key] = _RealSums(double.sum(0), double.t().mm(double), len(share))
        return self._sums[key]

    def fake_labels(self, seed: int, rank: int = 0, world_size: int = 1) -> Tensor:
        """(M,) the labels G is asked for in this rank's share of the evaluation of `seed` (conditional only)."""
        if self.conditioning is None:
            raise ValueError("fake_labels: this evaluator has no conditioning (an unconditional model)")
        plan = chunk_plan(self.num_fake_samples, self.batch_size, seed)
        labels = [self.conditioning.labels(*plan[i]) for i in rank_share(len(plan), rank, world_size)]
        return torch.cat(labels) if labels else torch.zeros(0, dtype=torch.long)

    @torch.no_grad()
    def evaluate(self, sample: Sampler, seed: int, rank: int = 0, world_size: int = 1,
                 device: str | torch.device = "cpu") -> dict[str, float]:
        start = time.monotonic()
        device = torch.device(device)
        self.extractor.to(device)
        plan = chunk_plan(self.num_fake_samples, self.batch_size, seed)
        features, logits = [], []
        for i in rank_share(len(plan), rank, world_size):
            size, chunk_seed = plan[i]
            f, lg = self.extractor(sample(size, chunk_seed).to(device))
            features.append(f.float())
            if lg is not None:
                logits.append(lg.float())
        d = self.extractor.num_features
        fake = torch.cat(features) if features else torch.zeros(0, d, device=device)
        fake_logits = torch.cat(logits) if logits else torch.zeros(0, self.extractor.num_logits, device=device)

        share = rank_share(len(self.real), rank, world_size)
        real_share = self.real[share.start : share.stop]
        sums = self._real_sums(real_share, (rank, world_size))
        fid = FrechetInceptionDistance(feature=Passthrough(d)).to(device)
        set_fid_real_sums(fid, sums.total.to(device).clone(), sums.cov.to(device).clone(),
                          torch.tensor(sums.count, dtype=torch.long, device=device))
        fid.update(fake, real=False)

        subset_size = min(int(self.kid["subset_size"]), len(self.real), self.num_fake_samples)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_KNOWN_WARNING)
            kid = KernelInceptionDistance(feature=Passthrough(d), subsets=int(self.kid["subsets"]),
                                          subset_size=subset_size, degree=int(self.kid["degree"]),
                                          gamma=self.kid.get("gamma"), coef=float(self.kid["coef"])).to(device)
            inception = (InceptionScore(feature=Passthrough(self.extractor.num_logits),
                                        splits=int(self.inception_score["splits"])).to(device)
                         if self.inception_score else None)
        set_kid_real_features(kid, real_share.to(device))
        kid.update(fake, real=False)
        if inception is not None:
            inception.update(fake_logits)

        # KID and IS draw random subsets from torch's global RNG: seeded, in a forked stream, so an evaluation is
        # repeatable and does not disturb anything else.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            row = {"fid": float(fid.compute())}
            kid_mean, kid_std = kid.compute()
            row.update(kid_mean=float(kid_mean), kid_std=float(kid_std))
            if inception is not None:
                is_mean, is_std = inception.compute()
                row.update(is_mean=float(is_mean), is_std=float(is_std))
        all_fake = gather_rows(fake, world_size) if self.fidelity is not None or self.conditioning is not None else None
        if self.fidelity is not None:
            row.update(self._fidelity(all_fake, seed, device))
        if self.conditioning is not None:
            labels = gather_rows(self.fake_labels(seed, rank, world_size).to(device), world_size)
            logits_all = gather_rows(fake_logits, world_size) if self.class_logits else None
            row.update(self._conditional(all_fake, logits_all, labels))
        row["eval_s"] = time.monotonic() - start
        return row

    def _conditional(self, fake: Tensor, logits: Tensor | None, labels: Tensor) -> dict[str, float]:
        """cond_acc (when the logits are the model's classes) and intra_fid of every generated sample."""
        num_classes = self.conditioning.num_classes
        row = {}
        if logits is not None:
            row["cond_acc"] = classification_accuracy(logits, labels, num_classes).mean
        row["intra_fid"] = intra_class_fid(self.real, self.real_labels, fake, labels, num_classes).mean
        return row

    def _fidelity(self, fake: Tensor, seed: int, device: torch.device) -> dict[str, float]:
        """precision, recall (equal-size sets, the reals a subset drawn from `seed`) and memorisation."""
        k, chunk = int(self.fidelity["k"]), int(self.fidelity["chunk_size"])
        real, subset = equal_size_subsets(self.real.to(device), fake, int(self.fidelity["num_samples"]), seed)
        precision, recall = precision_recall(real, subset, k, chunk)
        row = {"precision": precision, "recall": recall}
        if self.train is not None and self.heldout is not None:
            row["memorisation"] = memorisation_ratio(fake, self.heldout.to(device), self.train.to(device), chunk)
        return row


class ToyEvaluator:
    """PacGAN mode metrics of generated 2D points against the mixture's means and std."""

    def __init__(self, means: Tensor, std: float, hq_threshold_std: float, protocol: str, num_fake_samples: int,
                 batch_size: int):
        self.means, self.std, self.threshold = means, float(std), float(hq_threshold_std)
        self.protocol = protocol
        self.num_fake_samples = num_fake_samples
        self.batch_size = batch_size

    @torch.no_grad()
    def evaluate(self, sample: Sampler, seed: int, rank: int = 0, world_size: int = 1,
                 device: str | torch.device = "cpu") -> dict[str, float]:
        start = time.monotonic()
        coverage = ModeCoverage(self.means, self.std, self.threshold).to(device)
        plan = chunk_plan(self.num_fake_samples, self.batch_size, seed)
        for i in rank_share(len(plan), rank, world_size):
            size, chunk_seed = plan[i]
            coverage.update(sample(size, chunk_seed).to(device))
        row = coverage.compute().as_dict()
        row["eval_s"] = time.monotonic() - start
        return row


def build_evaluator(settings: Mapping[str, Any], make_dataset: Callable[[str], Dataset],
                    device: str | torch.device = "cpu", num_fake_samples: int | None = None,
                    conditioning: Conditioning | None = None) -> Evaluator:
    """The evaluator `settings` (a metrics group, `cfg.metrics`, resolved) describes.

    `make_dataset(split)` gives the reference data. Builds (or trains) the extractor and loads (or extracts) the real
    features: under DDP call it on rank 0 first, so the other ranks find both in the cache. `conditioning` (the model's,
    `model_conditioning`; None when unconditional) adds cond_acc and intra_fid to image evaluations; toy and stacked
    evaluations ignore it. It changes neither the protocol id nor the real-feature cache.
    """
    from hydra.utils import instantiate

    n = int(num_fake_samples or settings["num_fake_samples"])
    split = settings["reference_split"]
    reference = make_dataset(split)
    kind = settings["kind"]
    if kind == "toy":
        reference = check_dataset(reference, PointsDataset, "metrics=toy")
        fingerprint = reference.fingerprint
        threshold = float(settings["hq_threshold_std"])
        return ToyEvaluator(reference.means, reference.std, threshold, toy_protocol(fingerprint, n, threshold), n,
                            int(settings["batch_size"]))
    if kind not in ("image", "stacked"):
        raise ValueError(f"metrics.kind must be 'image', 'stacked' or 'toy', got {kind!r}")
    reference = check_dataset(reference, ImageDataset, f"metrics={settings.get('name', kind)}")
    fingerprint = reference.fingerprint
    extractor: FeatureExtractor = instantiate(settings["extractor"]).to(device)
    if kind == "stacked":
        # Each channel goes through the single-channel digits classifier; its classes give 10^channels modes.
        protocol = stacked_protocol(extractor.name, extractor.weights_sha256, n,
                                    int(extractor.num_logits) ** reference.channels,
                                    getattr(extractor, "machine_local", False))
        return StackedEvaluator(extractor, reference.channels, protocol, n, int(settings["batch_size"]))
    num_real = settings.get("num_real_samples")
    real = real_features(reference, split, extractor, settings["cache_dir"], num_real, int(settings["batch_size"]),
                         device)
    protocol = image_protocol(extractor.name, extractor.weights_sha256, n, fingerprint, num_real,
                              machine_local=extractor.machine_local)
    fidelity = settings.get("fidelity")
    train = heldout = None
    if fidelity:
        # Memorisation: distances to the data G trained on (the train split, capped as the reference is) against
        # those of a split it never saw.
        batch = int(settings["batch_size"])
        train = real.features if split == "train" else real_features(
            make_dataset("train"), "train", extractor, settings["cache_dir"], num_real, batch, device).features
        heldout_split = fidelity.get("heldout_split")
        if heldout_split:
            heldout = real_features(make_dataset(heldout_split), heldout_split, extractor, settings["cache_dir"], None,
                                    batch, device).features
        pr_samples = min(int(fidelity["num_samples"]), len(real.features), n)
        protocol += fidelity_protocol(int(fidelity["k"]), pr_samples, heldout_split)
    real_labels = None if conditioning is None else _real_labels(reference, len(real.features), conditioning)
    return ImageEvaluator(extractor, real.features, protocol, n, int(settings["batch_size"]), settings["kid"],
                          settings.get("inception_score"), fidelity, train, heldout, conditioning, real_labels)


def without_conditioning(evaluator: Evaluator) -> Evaluator:
    """`evaluator` for samples that carry no class labels (held-out data scored as if generated: gan-eval floor=true):
    the same extractor, real features and protocol id, without cond_acc and intra_fid. Sharing them instead of
    building a second evaluator saves loading the extractor twice. Toy and stacked evaluations never read a
    conditioning and come back as they are."""
    if not isinstance(evaluator, ImageEvaluator) or evaluator.conditioning is None:
        return evaluator
    unlabelled = copy.copy(evaluator)
    unlabelled.conditioning, unlabelled.real_labels, unlabelled.class_logits = None, None, False
    return unlabelled


def _real_labels(reference: ImageDataset, count: int, conditioning: Conditioning) -> Tensor:
    """Labels of the reference items whose features were cached, checked against the model's classes."""
    classes = conditioning.num_classes
    if int(reference.num_classes) != classes:
        raise ValueError(f"the model draws {classes} classes but the reference data {reference.fingerprint} has "
                         f"num_classes={reference.num_classes}; conditional metrics need the model's training data as "
                         "reference (model.num_classes = the data's classes)")
    labels = dataset_labels(reference, count)
    if len(labels) and (labels.min() < 0 or labels.max() >= classes):
        raise ValueError(f"the reference data {reference.fingerprint} has labels {int(labels.min())}.."
                         f"{int(labels.max())}, outside 0..{classes - 1}; conditional metrics need labelled data")
    return labels


def generator_sampler(generator: torch.nn.Module, latent_dim: int, num_classes: int,
                      device: str | torch.device = "cpu") -> Sampler:
    """(n, seed) -> images from a bare generator (gan-eval), drawn exactly as `GAN.generate_batched(n, seed, n)` draws
    them during training (the shared `seeded_inputs`), G in eval mode. So gan-eval with the training-time seed and
    sample count reproduces the evaluation rows of the run. The labels it draws are `Conditioning.labels` of the same
    (n, seed): the evaluator redraws them for the conditional metrics."""

    @torch.no_grad()
    def sample(n: int, seed: int) -> Tensor:
        z, y = seeded_inputs(n, seed, latent_dim, num_classes)
        return generate_in_batches(generator.to(device), z, y, n)

    return sample

"""The evaluation side: feature extraction + FID throughput per extractor, and one full evaluation, through gan.metrics.

Everything goes through the metrics package's public API, the way the training callback uses it:
`build_evaluator(settings, make_dataset, device)` builds the extractor and the real statistics (the cold set-up,
timed on its own), `evaluator.extractor(images) -> (features, logits)` and torchmetrics' FID (its `update` on
features) are the per-image work, and `evaluator.evaluate(sampler, seed, device=...)` is one full evaluation
(generate with G_ema, extract, FID + KID + IS).

Inception: this machine is offline and the standard weights file is not here. A randomly initialised network of
the same architecture costs exactly the same per image (dense convolutions do not care about the values), so the
benchmark writes such a file and points `metrics.extractor.weights_path` at it. Its FID values are meaningless; the
report shows only times.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any
from unittest import mock

import torch
from torch import Tensor

RANDOM_INCEPTION_FILE = "inception-random-weights.pth"


def write_random_inception_weights(directory: Path, seed: int) -> Path:
    """A state dict for torch-fidelity's Inception-v3 with random values: the shapes and the cost of the real one."""
    import torch_fidelity.feature_extractor_inceptionv3 as fidelity

    random_marker: dict[str, Tensor] = {}

    class RandomInception(fidelity.FeatureExtractorInceptionV3):
        def load_state_dict(self, state_dict: Any, *args: Any, **kwargs: Any) -> Any:
            # torch-fidelity loads weights at the end of __init__; keep the random initialisation instead.
            if state_dict is random_marker:
                return None
            return super().load_state_dict(state_dict, *args, **kwargs)

    path = directory / RANDOM_INCEPTION_FILE
    with torch.random.fork_rng(devices=[]), mock.patch.object(fidelity, "load_state_dict_from_url",
                                                             return_value=random_marker):
        torch.manual_seed(seed)
        net = RandomInception("inception-v3-compat", ["2048"])
    torch.save(net.state_dict(), path)
    return path


def measure_evaluation(cfg: Any, module: Any, device: torch.device, spec: dict[str, Any],
                       synchronize: Any) -> dict[str, Any]:
    """Set-up, throughput windows and one full evaluation of the extractor `cfg.metrics` names; times in seconds."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    from gan.metrics.evaluator import build_evaluator
    from gan.metrics.extractors import Passthrough
    from gan.train.builders import build_dataset_factory

    # A random Inception is not the standard file: the metrics package rightly warns, and here that is intended.
    logging.getLogger("gan.metrics").setLevel(logging.ERROR)
    settings = cfg.metrics
    module = module.to(device)

    synchronize()
    start = time.perf_counter()
    evaluator = build_evaluator(settings, build_dataset_factory(cfg), device)
    synchronize()
    setup_s = time.perf_counter() - start

    batch_size = int(settings.batch_size)
    images = [module.generate_batched(batch_size, seed=spec["seed"] + i, batch_size=batch_size)
              for i in range(spec["batches_in_memory"])]
    extractor = evaluator.extractor
    fid = FrechetInceptionDistance(feature=Passthrough(extractor.num_features)).to(device)

    def run_batches(count: int) -> float:
        synchronize()
        begin = time.perf_counter()
        for i in range(count):
            features, _ = extractor(images[i % len(images)])
            fid.update(features, real=False)
        synchronize()
        return time.perf_counter() - begin

    with torch.no_grad():
        warmup_s = run_batches(spec["warmup"])
        window_s = [run_batches(spec["window"]) for _ in range(spec["repeats"])]

    sampler = lambda n, seed: module.generate_batched(n, seed, n)  # noqa: E731  (as the training callback samples)
    synchronize()
    start = time.perf_counter()
    row = evaluator.evaluate(sampler, int(settings.seed), device=device)
    synchronize()
    full_eval_s = time.perf_counter() - start
    return {"extractor": extractor.name, "batch_size": batch_size, "num_features": extractor.num_features,
            "setup_s": setup_s, "warmup_s": warmup_s, "window_s": window_s, "full_eval_s": full_eval_s,
            "num_fake_samples": evaluator.num_fake_samples, "metrics": sorted(k for k in row if k != "eval_s"),
            "protocol": evaluator.protocol}

"""DDP: 2 gloo CPU processes, each generating its share of the same fixed sample set, give the metrics of 1 process.

Every rank extracts features of its contiguous range of chunks and holds its share of the reference features;
torchmetrics sums the FID states and gathers the KID/IS features (in rank order) inside compute(). Precision, recall
and memorisation need every generated feature: the evaluator gathers them (all_gather, uneven shares padded). The
stacked-digits mode counts are summed across ranks.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from gan.metrics.evaluator import ImageEvaluator, ToyEvaluator
from gan.metrics.stacked import StackedEvaluator
from gan.paths import REPO_ROOT
from tests.metrics_helpers import FlattenExtractor, images_from_seed
from tests.test_stacked import ValueClassifier, triples_to_images

NUM_FAKE, BATCH, SEED = 700, 64, 5  # 11 chunks of unequal count per rank: uneven shares on purpose
KID = {"subsets": 5, "subset_size": 100, "degree": 3, "gamma": None, "coef": 1.0}
MEANS = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
# precision/recall on 300 of the 700 fakes (and a 300-point real subset); chunks smaller than a rank's share
FIDELITY = {"k": 3, "num_samples": 300, "chunk_size": 128}


def image_sample(n: int, seed: int) -> torch.Tensor:
    return images_from_seed(n, seed % 2**31, shift=0.2)


def toy_sample(n: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed % 2**31)
    return MEANS[torch.randint(3, (n,), generator=generator)] + 0.05 * torch.randn(n, 2, generator=generator)


def stacked_sample(n: int, seed: int) -> torch.Tensor:
    triples = torch.randint(10, (n, 3), generator=torch.Generator().manual_seed(seed % 2**31))
    return triples_to_images(triples)


def evaluate_all(rank: int = 0, world_size: int = 1) -> dict[str, dict[str, float]]:
    real = images_from_seed(301, 11).flatten(1)
    image = ImageEvaluator(FlattenExtractor(), real, "p", NUM_FAKE, BATCH, KID, {"splits": 4})
    toy = ToyEvaluator(MEANS, 0.05, 3.0, "t", NUM_FAKE, BATCH)
    fidelity = ImageEvaluator(FlattenExtractor(), real, "p", NUM_FAKE, BATCH, KID, None, FIDELITY,
                              train=images_from_seed(250, 12).flatten(1), heldout=images_from_seed(90, 13).flatten(1))
    stacked = StackedEvaluator(ValueClassifier(), 3, "s", NUM_FAKE, BATCH)
    return {"image": image.evaluate(image_sample, SEED, rank, world_size),
            "toy": toy.evaluate(toy_sample, SEED, rank, world_size),
            "fidelity": fidelity.evaluate(image_sample, SEED, rank, world_size),
            "stacked": stacked.evaluate(stacked_sample, SEED, rank, world_size)}


def _worker(rank: int, world_size: int, init_file: str, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    try:
        result = evaluate_all(rank, world_size)
        Path(out_dir, f"rank{rank}.json").write_text(json.dumps(result))
    finally:
        dist.destroy_process_group()


def test_two_processes_give_the_single_process_metrics(tmp_path):
    mp.spawn(_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    single = evaluate_all()
    for rank in (0, 1):  # every rank computes (and gets) the synced values
        ddp = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert {"precision", "recall", "memorisation"} <= set(ddp["fidelity"])
        for kind in ("image", "toy", "fidelity", "stacked"):
            for key, value in single[kind].items():
                if key != "eval_s":
                    assert ddp[kind][key] == pytest.approx(value, rel=1e-6, abs=1e-9), (rank, kind, key)


@pytest.mark.slow
def test_ddp_training_evaluation_equals_single_process_gan_eval(tmp_path):
    """The real path: gan-train with trainer=ddp_cpu evaluates with the callback on 2 ranks; gan-eval on 1 process
    of the final checkpoint, same seed and sample count, must find the same FID."""
    import csv
    import os
    import subprocess
    import sys

    from gan.cli.evaluate import run as evaluate
    from tests.conftest import make_config
    from tests.test_metrics_train import FAST_METRICS, NUM_FAKE

    repo = REPO_ROOT
    run_dir, cache = tmp_path / "run", tmp_path / "cache"
    cmd = [sys.executable, "-m", "gan.cli.train", f"hydra.run.dir={run_dir}", "trainer=ddp_cpu", "data.resolution=16",
           "data.batch_size=32", "model.generator.width=8", "model.discriminator.width=8", "model.latent_dim=8",
           "logger.tensorboard=false", "trainer.max_steps=8", "eval_every_n_steps=8", *FAST_METRICS,
           f"metrics.cache_dir={cache}"]
    result = subprocess.run(cmd, cwd=repo, env={**os.environ, "PYTHONPATH": str(repo)}, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    with open(run_dir / "metrics.csv", newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row.get("protocol")]
    assert len(rows) == 1  # written once (rank 0), not once per rank
    assert (run_dir / "checkpoints" / "best.ckpt").is_file()
    single = evaluate(make_config(f"ckpt={run_dir}", f"n={NUM_FAKE}", "seeds=[0]", config_name="eval"),
                      tmp_path / "eval")
    assert single["protocol"] == rows[0]["protocol"]
    assert single["rows"][0]["fid"] == pytest.approx(float(rows[0]["fid"]), rel=1e-5)
    assert single["rows"][0]["kid_mean"] == pytest.approx(float(rows[0]["kid_mean"]), rel=1e-4, abs=1e-6)

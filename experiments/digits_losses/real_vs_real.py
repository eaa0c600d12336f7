"""The real-vs-real FID floor of the digits study's protocol: train split (the reference) against the test split.

Loads the study's classifier from the cache (same recipe as conf/metrics/classifier.yaml, which the study used),
extracts features of both splits, and computes FID with scipy's sqrtm (independent of the training-time code path).
Run from the repository root:  OMP_NUM_THREADS=1 python experiments/digits_losses/real_vs_real.py
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
from hydra.utils import instantiate

from gan.config import compose_config
from gan.metrics.stats import extract_features


def fid(a: np.ndarray, b: np.ndarray) -> float:
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(cov_a @ cov_b).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * covmean))


def main() -> None:
    cfg = compose_config("train", ["experiment=study_digits"])
    extractor = instantiate(cfg.metrics.extractor)
    dataset = instantiate(cfg.data.dataset)
    train, test = dataset(split="train"), dataset(split="test")
    batch = cfg.metrics.batch_size
    f_train = extract_features(extractor, train, batch).double().numpy()
    f_test = extract_features(extractor, test, batch).double().numpy()
    print(f"classifier {extractor.name} sha256 {extractor.weights_sha256[:12]}")
    print(f"FID train ({len(f_train)}) vs test ({len(f_test)}): {fid(f_train, f_test):.2f}")


if __name__ == "__main__":
    main()

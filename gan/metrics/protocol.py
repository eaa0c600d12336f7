"""Protocol ids: the string every evaluation row carries, naming what its numbers depend on.

Two FIDs are comparable only when their protocol ids are equal: the same feature extractor with the same weights, the
same number of generated samples (FID is biased by sample size) and the same reference data (dataset fingerprint:
name, split, transform, and for folder/zip datasets a hash of the files' bytes), with the same number of reference
samples.

Weights made on this machine (a classifier trained for a user's own data) carry the segment `/local/` after their
hash: training is not bit-reproducible across machines (CPU kernels round differently), so the same recipe elsewhere
gives other weights, another hash and another id. Equal ids then still mean comparable numbers, but a number under a
local id can only be reproduced where the weights file is; gan-compare says so beside its table.
"""

from __future__ import annotations

# Characters of a sha256 kept in ids: 48 bits, enough to tell weight files apart, short enough to read.
HASH_CHARS = 12
# The protocol-id segment that marks machine-local extractor weights.
LOCAL_MARKER = "local"


def short_hash(sha256: str) -> str:
    return sha256[:HASH_CHARS]


def image_protocol(extractor: str, weights_sha256: str, num_fake: int, reference: str,
                   num_real: int | None = None, machine_local: bool = False) -> str:
    """`classifier:digits-...@sha256:1a2b3c4d5e6f/fake10000/ref:digits-r32-train-tf0.2-s0` (`[:N]` if capped;
    `...@sha256:1a2b3c4d5e6f/local/fake...` for machine-local weights)."""
    ref = reference if num_real is None else f"{reference}[:{num_real}]"
    local = f"/{LOCAL_MARKER}" if machine_local else ""
    return f"{extractor}@sha256:{short_hash(weights_sha256)}{local}/fake{num_fake}/ref:{ref}"


def is_machine_local(protocol: str) -> bool:
    """Whether `protocol` was measured with weights made on one machine (not reproducible on another)."""
    head = protocol.split("/ref:", 1)[0]
    return LOCAL_MARKER in head.split("/")[1:]


def toy_protocol(dataset: str, num_samples: int, hq_threshold_std: float) -> str:
    """`toy:grid25-n100000-train-s0/n2500/hq3.0std` (PacGAN: n samples, high quality within threshold x std)."""
    return f"toy:{dataset}/n{num_samples}/hq{float(hq_threshold_std)}std"

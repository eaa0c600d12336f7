"""Peak memory of the current process. Each measurement runs in its own process, so these are per-measurement peaks."""

from __future__ import annotations

import resource
import sys
from typing import Any

BYTES_PER_KIB = 1024
KIB_PER_MIB = 1024


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far (MiB); ru_maxrss is in KiB on Linux and bytes on macOS."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if sys.platform == "darwin":
        peak /= BYTES_PER_KIB
    return peak / KIB_PER_MIB


def reset_cuda_peak() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def cuda_peak_mib() -> float | None:
    """Peak memory held by tensors on the current CUDA device (MiB), or None without CUDA."""
    import torch

    if not torch.cuda.is_available():
        return None
    return torch.cuda.max_memory_allocated() / (BYTES_PER_KIB * KIB_PER_MIB)


def memory_summary(rss_after_imports_mib: float) -> dict[str, Any]:
    return {"peak_rss_mib": peak_rss_mib(), "rss_after_imports_mib": rss_after_imports_mib,
            "cuda_peak_mib": cuda_peak_mib()}

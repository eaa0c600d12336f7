"""The random streams of training, and the global RNG states a checkpoint carries so that resuming is exact."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch import Tensor


class TrainingRNG:
    """The random stream of the training steps, kept apart from torch's global RNG.

    Training draws latents and augmentation parameters from torch's global RNG (CPU, and CUDA on a GPU). Anything
    else that draws from it between steps (an evaluation callback, a sample grid, a user callback) would shift the
    training randomness, so a run with metrics on would train differently from one with metrics off, and a run
    resumed from a checkpoint written before such a draw would diverge. Each training step therefore runs with the
    global RNG swapped to this stream's state and swapped back afterwards; the stream's state is saved in
    checkpoints. Accelerators other than CUDA draw from their own global RNG, unforked.
    """

    def __init__(self) -> None:
        self.cpu_state = torch.get_rng_state()
        self.cuda_state: Tensor | None = None

    @contextmanager
    def active(self, device: torch.device) -> Iterator[None]:
        cuda = device.type == "cuda"
        outer_cpu = torch.get_rng_state()
        outer_cuda = torch.cuda.get_rng_state(device) if cuda else None
        torch.set_rng_state(self.cpu_state)
        if cuda:
            if self.cuda_state is None:
                # First step on this GPU: seed its generator from the CPU stream, so it too follows the run's seed.
                with torch.cuda.device(device):
                    torch.cuda.manual_seed(int(torch.randint(torch.iinfo(torch.int64).max, ())))
            else:
                torch.cuda.set_rng_state(self.cuda_state, device)
        try:
            yield
            self.cpu_state = torch.get_rng_state()
            if cuda:
                self.cuda_state = torch.cuda.get_rng_state(device)
        finally:
            torch.set_rng_state(outer_cpu)
            if cuda:
                torch.cuda.set_rng_state(outer_cuda, device)

    def state_dict(self) -> dict[str, Tensor | None]:
        return {"cpu": self.cpu_state.clone(), "cuda": None if self.cuda_state is None else self.cuda_state.clone()}

    def load_state_dict(self, state: dict[str, Tensor | None]) -> None:
        self.cpu_state = state["cpu"].clone()
        # A CUDA state resumed on a CPU-only machine is unused; resumed on a GPU it continues the stream.
        self.cuda_state = None if state.get("cuda") is None else state["cuda"].clone()


def global_rng_states() -> dict[str, Any]:
    """numpy's and Python's global RNG states as plain numbers and tensors (checkpoints load with weights_only)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {"numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                      "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
            "python": random.getstate()}


def set_global_rng_states(states: dict[str, Any]) -> None:
    state = states["numpy"]
    np.random.set_state((state["kind"], state["keys"].numpy().astype(np.uint32), state["pos"], state["has_gauss"],
                         state["cached_gaussian"]))
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))

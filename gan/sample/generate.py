"""Running a generator over many latents: one recipe for training grids, evaluation and gan-sample alike."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn


@contextmanager
def evaluating(generator: nn.Module) -> Iterator[torch.device]:
    """No gradients and eval mode (batch norm's running statistics, a StyleGAN's fixed noise and no w_avg update);
    the generator's train/eval mode is restored afterwards. Yields the generator's device."""
    was_training = generator.training
    generator.eval()
    try:
        with torch.no_grad():
            yield next(generator.parameters()).device
    finally:
        generator.train(was_training)


def generate_in_batches(generator: nn.Module, z: Tensor, y: Tensor | None, batch_size: int) -> Tensor:
    """G(z, y) in chunks of `batch_size`, in eval mode (samples are independent of their batch-mates: batch norm uses
    its running statistics), on the generator's device. The generator's train/eval mode is restored afterwards."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    with evaluating(generator) as device:
        chunks = [generator(z[i : i + batch_size].to(device), None if y is None else y[i : i + batch_size].to(device))
                  for i in range(0, len(z), batch_size)]
    return torch.cat(chunks)

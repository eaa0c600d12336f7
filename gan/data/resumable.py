"""A training data order that survives a stop: exact mid-epoch resume.

Lightning restores model, optimiser and loop counters, but a plain shuffled DataLoader starts a new random order
when training resumes mid-epoch (Lightning warns "your dataloader is not resumable"). Here:

- the order of epoch `e` is a function of (seed, e) only: `EpochShuffleSampler` on one process; under DDP the
  `DistributedSampler` Lightning injects is seeded the same way (seed + epoch);
- `ResumableDataLoader` implements `state_dict`/`load_state_dict`, which Lightning stores in the checkpoint
  (`loops.fit_loop.state_dict.combined_loader`) and hands back on resume: the number of batches already served this
  epoch. On resume the loader skips them (by index on one process, by drawing and dropping under DDP).
- the loader draws nothing from torch's global RNG (its worker base seed comes from its own generator), so the
  training randomness (latents, augmentation) is the same in an uninterrupted and a resumed run.

Lightning fetches no batch ahead when the loader has a length (see `_PrefetchDataFetcher`), so "batches yielded"
equals "batches trained on" whenever a checkpoint is written.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler

from gan.data.datamodule import GANDataModule


def epoch_seed(seed: int, epoch: int) -> int:
    """A seed for (seed, epoch) with no collisions between nearby pairs (seed + epoch would make (0, 1) == (1, 0))."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1, dtype=np.uint64)[0] >> 1)


class EpochShuffleSampler(Sampler[int]):
    """A permutation of range(size) drawn from (seed, epoch); `skip_next(n)` starts the next pass n indices in."""

    def __init__(self, size: int, seed: int):
        super().__init__()
        self.size = size
        self.seed = seed
        self.epoch = 0
        self._skip = 0

    def set_epoch(self, epoch: int) -> None:
        """Called by Lightning at the start of every epoch (as for DistributedSampler)."""
        self.epoch = epoch

    def skip_next(self, count: int) -> None:
        self._skip = count

    def __len__(self) -> int:
        # The full epoch, even when skipping: Lightning counts an epoch's batches from len(loader).
        return self.size

    def __iter__(self) -> Iterator[int]:
        order = torch.randperm(self.size, generator=torch.Generator().manual_seed(epoch_seed(self.seed, self.epoch)))
        start, self._skip = self._skip, 0
        return iter(order[start:].tolist())


class ResumableDataLoader(DataLoader):
    """A DataLoader whose position within the epoch is saved in checkpoints and restored on resume.

    It takes the DataLoader's own arguments (so Lightning can re-create it with a DistributedSampler under DDP) plus
    `order_seed`, which seeds the worker base seed per epoch instead of torch's global RNG.
    """

    def __init__(self, *args: Any, order_seed: int = 0, **kwargs: Any):
        kwargs.setdefault("generator", torch.Generator())
        super().__init__(*args, **kwargs)
        self.order_seed = order_seed
        self._served = 0  # batches handed to the training loop in the current pass
        self._epoch = 0
        self._resume_at = 0

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self._epoch, "batches_served": self._served}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self._resume_at = int(state.get("batches_served", 0))
        self._epoch = int(state.get("epoch", 0))

    def _sampler_epoch(self) -> int:
        for sampler in (self.sampler, getattr(self.batch_sampler, "sampler", None)):
            if hasattr(sampler, "epoch"):
                return int(sampler.epoch)
        return 0

    def __iter__(self) -> Iterator[Any]:
        # A generator: nothing runs until the first batch is requested. Lightning creates the iterator before it calls
        # set_epoch on the sampler, and worker processes would fetch indices of the wrong epoch at creation time.
        return self._batches()

    def _batches(self) -> Iterator[Any]:
        epoch = self._sampler_epoch()
        skip, self._resume_at = self._resume_at, 0
        if skip >= len(self) or epoch != self._epoch:
            skip = 0  # the saved pass was complete, or this pass is a different epoch: start at its beginning
        self._epoch, self._served = epoch, skip
        self.generator.manual_seed(epoch_seed(self.order_seed, epoch))
        drop = skip
        if skip and isinstance(self.sampler, EpochShuffleSampler):
            self.sampler.skip_next(skip * self.batch_size)
            drop = 0
        iterator = super().__iter__()
        # Samplers that cannot skip (DDP's DistributedSampler) are deterministic per epoch: draw and drop the batches
        # already trained on. Costs one pass over them, only once, on resume.
        for _ in range(drop):
            next(iterator)
        for batch in iterator:
            self._served += 1
            yield batch


class ResumableDataModule(GANDataModule):
    """GANDataModule whose training loader resumes exactly (see the module docstring)."""

    def __init__(self, *args: Any, seed: int = 0, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.seed = seed

    def train_dataloader(self) -> DataLoader:
        dataset = self.train_dataset
        distributed = self.trainer is not None and self.trainer.world_size > 1
        # Under DDP, shuffle=True lets Lightning replace the sampler by a plain DistributedSampler (seeded by the run's
        # seed and the epoch); our own sampler would be wrapped instead, which shards less evenly.
        order = {"shuffle": True} if distributed else {"sampler": EpochShuffleSampler(len(dataset), self.seed)}
        return ResumableDataLoader(
            dataset,
            batch_size=self.batch_size,
            num_workers=self.num_workers,
            drop_last=self.drop_last,
            persistent_workers=self.num_workers > 0,
            order_seed=self.seed,
            **order,
        )

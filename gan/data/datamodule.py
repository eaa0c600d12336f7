"""One LightningDataModule for every dataset: it receives a dataset factory and calls it per split."""

from __future__ import annotations

from collections.abc import Callable

import lightning as L
from torch.utils.data import DataLoader, Dataset


class GANDataModule(L.LightningDataModule):
    """`dataset_factory(split=...)` builds a dataset; training uses "train", metrics use their reference split."""

    def __init__(self, dataset_factory: Callable[..., Dataset], batch_size: int, num_workers: int = 0,
                 drop_last: bool = True):
        super().__init__()
        self.dataset_factory = dataset_factory
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.drop_last = drop_last
        self._datasets: dict[str, Dataset] = {}

    def make_dataset(self, split: str) -> Dataset:
        """The dataset of `split`, built once and reused (the embedded datasets are small and in memory)."""
        if split not in self._datasets:
            self._datasets[split] = self.dataset_factory(split=split)
        return self._datasets[split]

    @property
    def train_dataset(self) -> Dataset:
        return self.make_dataset("train")

    def setup(self, stage: str | None = None) -> None:
        dataset = self.train_dataset
        if self.drop_last and len(dataset) < self.batch_size:
            raise ValueError(
                f"the training set has {len(dataset)} items, fewer than data.batch_size={self.batch_size}; "
                "lower the batch size"
            )

    def train_dataloader(self) -> DataLoader:
        return DataLoader(
            self.train_dataset,
            batch_size=self.batch_size,
            shuffle=True,
            num_workers=self.num_workers,
            drop_last=self.drop_last,
            persistent_workers=self.num_workers > 0,
        )

"""Datasets and the one LightningDataModule."""

from gan.data.datamodule import GANDataModule
from gan.data.errors import DataError

__all__ = ["DataError", "GANDataModule"]

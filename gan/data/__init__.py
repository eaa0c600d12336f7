"""Datasets and the one LightningDataModule.

Imported lazily: `gan.data.pixels`, `gan.data.base` and the datasets must not pull in Lightning (commands that only
sample or compare would pay seconds of imports for nothing).
"""

from typing import Any

__all__ = ["DataError", "GANDataModule"]


def __getattr__(name: str) -> Any:
    if name == "GANDataModule":
        from gan.data.datamodule import GANDataModule

        return GANDataModule
    if name == "DataError":
        from gan.data.errors import DataError

        return DataError
    raise AttributeError(f"module 'gan.data' has no attribute {name!r}")

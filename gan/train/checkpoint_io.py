"""Lightning's checkpoint IO with our atomic writes and checked reads (the only Lightning-facing part of
checkpointing, kept apart so that loading a generator does not import Lightning)."""

from __future__ import annotations

from typing import Any

from lightning.pytorch.plugins.io import TorchCheckpointIO

from gan.io import atomic_torch_save
from gan.train.checkpoints import NotAGANCheckpointError, checkpoint_kind, read_checkpoint


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint IO with atomic local writes and reads that explain what is wrong with a bad file."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options (got {storage_options!r})")
        atomic_torch_save(checkpoint, path)

    def load_checkpoint(self, path: Any, map_location: Any = None, weights_only: bool | None = None) -> dict[str, Any]:
        checkpoint = read_checkpoint(path, map_location=map_location)
        if checkpoint_kind(checkpoint, path) != "training":
            raise NotAGANCheckpointError(
                f"{path} is an exported generator (G_ema only): it has no discriminator, optimiser or loop state to "
                "resume from. Resume from the run's checkpoints/last.ckpt, or fine-tune from it with init_from=... "
                "(fine-tuning also needs a full training checkpoint)."
            )
        return checkpoint

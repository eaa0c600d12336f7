"""Export G_ema alone: the small file to share and sample from (`gan-sample ckpt=<export>` loads it).

    gan-export <run dir or checkpoint> [-o out.pt]

The export holds G_ema's weights, the training config (to rebuild the network) and where it came from (source
checkpoint hash, steps). No discriminator, optimiser or loop state: it cannot resume training or seed fine-tuning.
Like checkpoints, it is written atomically and loads with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

from pathlib import Path

import gan
from gan.io import atomic_torch_save, file_sha256
from gan.train.checkpoints import (
    EXPORT_FORMAT,
    EXPORT_FORMAT_VERSION,
    CheckpointError,
    NotAGANCheckpointError,
    checkpoint_kind,
    generator_state,
    load_generator,
    read_checkpoint,
    resolve_checkpoint_path,
)

EXPORT_SUFFIX = ".generator.pt"


def default_export_path(checkpoint: Path) -> Path:
    return checkpoint.with_name(checkpoint.stem + EXPORT_SUFFIX)


def refuse_to_overwrite_training_state(target: Path) -> None:
    """An export must never replace a file holding D and optimiser state (a run's last.ckpt or best.ckpt)."""
    if target.is_dir():
        raise IsADirectoryError(f"export target {target} is a directory; name a file, e.g. {target / 'g.pt'}")
    if not target.exists():
        return
    try:
        kind = checkpoint_kind(read_checkpoint(target), target)
    except CheckpointError:
        kind = "unreadable"
    if kind != "export":
        what = "a training checkpoint" if kind == "training" else "not an export"
        raise FileExistsError(f"export target {target} exists and is {what}; an export would replace it (and with it "
                              "D, the optimisers and the loop state). Choose another -o path (default: "
                              f"<checkpoint>{EXPORT_SUFFIX}).")


def export_generator(checkpoint: str | Path, out: str | Path | None = None) -> Path:
    """Write G_ema of the training checkpoint `checkpoint` (file or run directory) to `out`; returns its path."""
    source = resolve_checkpoint_path(checkpoint, "checkpoint")
    loaded = read_checkpoint(source)
    if checkpoint_kind(loaded, source) != "training":
        raise NotAGANCheckpointError(f"{source} is already an export; export from a training checkpoint (.ckpt)")
    state = loaded["state_dict"]
    payload = {
        "format": EXPORT_FORMAT,
        "format_version": EXPORT_FORMAT_VERSION,
        # clone: each tensor gets its own compact storage, so nothing else of the checkpoint is written along.
        "state_dict": {key: value.clone() for key, value in generator_state(loaded, source).items()},
        "gan_config": loaded["gan_config"],
        "source": {
            "path": str(source.resolve()),
            "sha256": file_sha256(source),
            "global_step": loaded.get("global_step"),
            "g_steps": int(state["g_steps"]) if "g_steps" in state else None,
        },
        "gan_version": gan.__version__,
    }
    target = Path(out) if out is not None else default_export_path(source)
    refuse_to_overwrite_training_state(target)
    atomic_torch_save(payload, target)
    load_generator(target)  # proves the file rebuilds its network before anyone relies on it
    return target

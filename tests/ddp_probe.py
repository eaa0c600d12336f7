"""A callback the DDP test injects through `callbacks=[...]`: each rank writes a digest of its weights."""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L


class WeightDigest(L.Callback):
    def __init__(self, out_dir: str):
        self.out_dir = Path(out_dir)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        digest = {name: float(p.double().sum()) for name, p in pl_module.named_parameters()}
        batches = getattr(trainer.train_dataloader, "sampler", None)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        payload = {"world_size": trainer.world_size, "digest": digest, "sampler": type(batches).__name__}
        (self.out_dir / f"rank{trainer.global_rank}.json").write_text(json.dumps(payload))

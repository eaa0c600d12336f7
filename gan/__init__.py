"""gan: a GAN research codebase built on Lightning, Hydra and torchmetrics."""

__version__ = "0.1.0"


def load(path, device="cpu", which="last"):  # noqa: ANN001, ANN201 - typed in gan.sample.api.load
    """G_ema of a run directory (its last.ckpt, or best.ckpt with which="best"), checkpoint or export, ready to draw
    images from: see gan.sample.api. Kept here so that `import gan` stays light (torch loads on first call)."""
    from gan.sample.api import load as _load

    return _load(path, device, which)

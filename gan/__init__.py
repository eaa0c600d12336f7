"""gan: a GAN research codebase built on Lightning, Hydra and torchmetrics."""

__version__ = "0.1.0"


def load(path, device="cpu"):  # noqa: ANN001, ANN201 - typed in gan.sample.api.load
    """G_ema of a run directory, checkpoint or export, ready to draw images from: see gan.sample.api."""
    from gan.sample.api import load as _load

    return _load(path, device)

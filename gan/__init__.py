"""gan: a GAN research codebase built on Lightning, Hydra and torchmetrics."""

__version__ = "0.1.0"

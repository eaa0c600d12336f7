"""Pictures of 2D samples (the toy mixtures): the generator's points over the mixture's modes.

One drawing for training-time sample grids (`samples/step_*.png`) and `gan-sample` on a toy checkpoint, where an
image grid means nothing.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from torch import Tensor

# Figure size in inches and resolution: a 400x400-pixel picture.
FIGURE_INCHES, FIGURE_DPI = 4, 100


def scatter_pixels(points: Tensor, means: Tensor | None, title: str) -> np.ndarray:
    """(H, W, 3) uint8 picture of `points` (N, 2), with `means` (K, 2) marked if given."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(FIGURE_INCHES, FIGURE_INCHES))
    ax.scatter(points[:, 0], points[:, 1], s=2, alpha=0.5, label="G_ema samples")
    if means is not None:
        ax.scatter(means[:, 0], means[:, 1], s=20, marker="x", color="red", label="modes")
    ax.set_title(title)
    ax.set_aspect("equal")
    ax.legend(loc="upper right", fontsize=6)
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=FIGURE_DPI, bbox_inches="tight", format="png")
    plt.close(fig)
    buffer.seek(0)
    with Image.open(buffer) as image:
        return np.asarray(image.convert("RGB"))

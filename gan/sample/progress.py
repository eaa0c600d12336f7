"""A progress line for commands that generate many images outside training (gan-eval, gan-sample): images done,
rate, ETA.

Training has its own whole-run bar (gan/train/progress.py). Here the unit of work is the sampler call: the evaluator
asks for chunks of images, so wrapping the sampler counts them without the evaluator knowing. On a terminal the line
is redrawn in place; in a log (not a TTY) a line is written at most every `min_interval_s` seconds and at the end.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import IO

from torch import Tensor

Sampler = Callable[[int, int], Tensor]


def with_progress(sample: Sampler, total: int, label: str, stream: IO[str] | None = None,
                  min_interval_s: float = 2.0, clock: Callable[[], float] = time.monotonic) -> Sampler:
    """`sample` that also reports `label: done/total images, rate, ETA` to `stream` (stderr by default)."""
    out = stream if stream is not None else sys.stderr
    interactive = out.isatty()
    start, done, last_shown = clock(), 0, -float("inf")

    def counted(n: int, seed: int) -> Tensor:
        nonlocal done, last_shown
        images = sample(n, seed)
        done += n
        now = clock()
        if interactive or now - last_shown >= min_interval_s or done >= total:
            last_shown = now
            elapsed = max(now - start, 1e-9)
            rate = done / elapsed
            eta = max(total - done, 0) / rate if rate > 0 else float("nan")
            text = f"{label}: {done}/{total} images, {rate:.0f} img/s, ETA {eta:.0f} s"
            out.write(("\r" + text + ("\n" if done >= total else "")) if interactive else text + "\n")
            out.flush()
        return images

    return counted

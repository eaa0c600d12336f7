"""gan-eval's progress line counts the images the evaluator asks for and ends at the total."""

from __future__ import annotations

import io

import torch

from gan.cli.progress import with_progress


def test_progress_counts_chunks_and_reports_rate_and_eta():
    ticks = iter([0.0, 1.0, 2.0, 4.0])  # start, then one clock read per chunk
    stream = io.StringIO()
    sample = with_progress(lambda n, seed: torch.full((n, 1), float(seed)), total=30, label="eval",
                           stream=stream, min_interval_s=0.0, clock=lambda: next(ticks))
    chunks = [sample(10, s) for s in (1, 2, 3)]
    assert [c.shape[0] for c in chunks] == [10, 10, 10] and chunks[2][0, 0] == 3.0  # images pass through unchanged
    lines = stream.getvalue().splitlines()
    # after 10 images in 1 s: 10 img/s and 20 left -> ETA 2 s; at the end 30 in 4 s
    assert lines[0] == "eval: 10/30 images, 10 img/s, ETA 2 s"
    assert lines[-1] == "eval: 30/30 images, 8 img/s, ETA 0 s"


def test_progress_in_a_log_is_rate_limited_but_always_ends():
    ticks = iter([0.0, 0.1, 0.2, 0.3])
    stream = io.StringIO()
    sample = with_progress(lambda n, seed: torch.zeros(n, 1), total=3, label="x", stream=stream,
                           min_interval_s=10.0, clock=lambda: next(ticks))
    for seed in range(3):
        sample(1, seed)
    # the first chunk is shown (nothing shown yet), the second is within the interval, the last always shows
    assert [line.split(":")[1].split(",")[0].strip() for line in stream.getvalue().splitlines()] == ["1/3 images",
                                                                                                     "3/3 images"]

"""The progress line of gan-eval and gan-sample counts the images generated and ends at the total."""

from __future__ import annotations

import io
from types import SimpleNamespace

import torch

from gan.sample import render
from gan.sample.generate import generate_in_batches
from gan.sample.progress import with_progress


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


class _TinyG(torch.nn.Module):
    """A generator with batch norm, called as G(z, y) like the project's."""

    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.Tanh())

    def forward(self, z, y):
        return self.net(z)


def test_gan_sample_progress_keeps_the_pixels_of_one_call(monkeypatch, capsys):
    """Above the threshold generation runs in whole-batch pieces with a progress line; the images are unchanged."""
    torch.manual_seed(0)
    loaded = SimpleNamespace(generator=_TinyG())
    z = torch.randn(70, 4)
    monkeypatch.setattr(render, "PROGRESS_MIN_IMAGES", 50)
    monkeypatch.setattr(render, "PROGRESS_UPDATES", 3)
    images = render.generate(loaded, z, None, batch_size=8)
    assert torch.equal(images, generate_in_batches(loaded.generator, z, None, 8).float())
    assert "gan-sample: 70/70 images" in capsys.readouterr().err

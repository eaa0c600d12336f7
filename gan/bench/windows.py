"""Worker side of the timing protocol, shared by the plain loop and the Lightning run so both are timed alike.

The parent sends "warmup", then "go" before each timed window, then "stop". A window is `window` whole training
iterations (batch fetch included), timed from the "go" to the end of the window's last batch; time spent waiting
for the parent is never counted. Because the parent alternates the plain and the Lightning worker window by
window, a change in machine load hits both sides of the comparison alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol


class Channel(Protocol):
    def send(self, obj: Any) -> None: ...

    def recv(self) -> Any: ...


class ProtocolError(RuntimeError):
    """The parent sent a command the worker did not expect at this point."""


def expect(channel: Channel, command: str) -> None:
    received = channel.recv()
    if received != command:
        raise ProtocolError(f"expected {command!r} from the benchmark parent, got {received!r}")


class WindowClock:
    """Counts finished batches and reports the warm-up time and each window's time to the parent."""

    def __init__(self, channel: Channel, synchronize: Callable[[], None], warmup: int, window: int, repeats: int):
        self.channel, self.synchronize = channel, synchronize
        self.warmup, self.window, self.repeats = warmup, window, repeats
        self.batches_done = 0
        self.start = 0.0

    @property
    def total_batches(self) -> int:
        return self.warmup + self.window * self.repeats

    def _now(self) -> float:
        # On a GPU, kernels run asynchronously: without a sync the clock would stop before the work is done.
        self.synchronize()
        return time.perf_counter()

    def ready(self, **info: Any) -> None:
        """Model built; wait for the parent's signal, then start the warm-up clock."""
        self.channel.send({"event": "built", **info})
        expect(self.channel, "warmup")
        self.start = self._now()
        if self.warmup == 0:
            self._report("warm")

    def batch_done(self) -> None:
        self.batches_done += 1
        if self.batches_done == self.warmup:
            self._report("warm")
        elif self.batches_done > self.warmup and (self.batches_done - self.warmup) % self.window == 0:
            self._report("window")

    def _report(self, event: str) -> None:
        self.channel.send({"event": event, "seconds": self._now() - self.start})
        if self.batches_done < self.total_batches:
            expect(self.channel, "go")
            self.start = self._now()

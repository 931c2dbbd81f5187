"""In-process sensors the running service feeds and the health round reads.

- ``LatencyWindow``: durations of recent journal appends; ``p99_seconds()`` over the
  samples of the last ``window_seconds`` (None when there were none: not checked).
- ``EventLoopLagProbe``: a task that sleeps ``interval_seconds`` on the event loop and
  records how late it wakes up; a blocked loop (a sync call on it, a long parse) shows.

Both take their clock as an argument, so tests drive them without sleeping.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable

__all__ = ["EventLoopLagProbe", "LatencyWindow"]


class LatencyWindow:
    """Recent durations (seconds) with their time; bounded in age and count."""

    def __init__(
        self,
        *,
        window_seconds: float = 60.0,
        max_samples: int = 10_000,
        clock_ns: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self._window_ns = int(window_seconds * 1e9)
        self._samples: deque[tuple[int, float]] = deque(maxlen=max_samples)
        self._clock_ns = clock_ns

    def record(self, seconds: float) -> None:
        """One observed duration, now."""
        self._samples.append((self._clock_ns(), seconds))

    def p99_seconds(self) -> float | None:
        """The 99th percentile (nearest rank) of the window's samples, or None."""
        cutoff = self._clock_ns() - self._window_ns
        while self._samples and self._samples[0][0] < cutoff:
            self._samples.popleft()
        if not self._samples:
            return None
        ordered = sorted(seconds for _, seconds in self._samples)
        return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


class EventLoopLagProbe:
    """How late the event loop runs a timer: the worst lag since the last ``take``.

    Start it with ``asyncio.create_task(probe.run())`` inside the service; cancel it
    on shutdown. ``take`` returns None until the probe has woken up once.
    """

    def __init__(
        self,
        *,
        interval_seconds: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval_seconds = interval_seconds
        self._clock = clock
        self._worst: float | None = None

    def observe(self, expected: float, woke: float) -> None:
        """Record one wake-up at ``woke`` that was due at ``expected``."""
        lag = max(0.0, woke - expected)
        self._worst = lag if self._worst is None else max(self._worst, lag)

    def take(self) -> float | None:
        """The worst lag seen since the previous ``take`` (then forgotten), or None."""
        worst, self._worst = self._worst, None
        return worst

    async def run(self) -> None:
        """Sleep, measure the overshoot, repeat, until cancelled."""
        while True:
            expected = self._clock() + self.interval_seconds
            await asyncio.sleep(self.interval_seconds)
            self.observe(expected, self._clock())

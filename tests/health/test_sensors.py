"""The in-process sensors: journal append p99 over a window, event-loop lag; and the
pure checks module imports no I/O library."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import pytest

from tradeguard.health.sensors import EventLoopLagProbe, LatencyWindow


def test_p99_over_the_window_forgets_old_samples() -> None:
    now = [0]
    window = LatencyWindow(window_seconds=10, clock_ns=lambda: now[0])
    assert window.p99_seconds() is None  # nothing seen: not checked, never "fast"
    for i in range(1, 101):
        window.record(i / 1000)
    assert window.p99_seconds() == 0.099
    now[0] = 11 * 10**9
    window.record(0.5)
    assert window.p99_seconds() == 0.5
    now[0] = 30 * 10**9
    assert window.p99_seconds() is None


def test_a_blocked_event_loop_shows_as_lag() -> None:
    async def main() -> float | None:
        probe = EventLoopLagProbe(interval_seconds=0.01)
        task = asyncio.create_task(probe.run())
        await asyncio.sleep(0)  # the probe's first sleep is armed
        time.sleep(0.3)  # noqa: ASYNC251 - the point: a sync call blocks the loop
        while (lag := probe.take()) is None:  # noqa: ASYNC110 - polling the probe is the test
            await asyncio.sleep(0.01)
        task.cancel()
        return lag

    lag = asyncio.run(main())
    assert lag is not None
    assert lag >= 0.25


def test_observe_keeps_the_worst_until_taken() -> None:
    probe = EventLoopLagProbe()
    probe.observe(1.0, 1.2)
    probe.observe(2.0, 2.05)
    probe.observe(3.0, 2.9)  # early is no lag
    assert probe.take() == pytest.approx(0.2)
    assert probe.take() is None  # forgotten once taken


def test_checks_import_no_io_library() -> None:
    code = ("import sys, tradeguard.health.checks, tradeguard.health.sensors; "
            "print(sorted(m for m in ('psutil', 'sqlite3', 'ccxt', 'aiohttp', "
            "'tradeguard.storage', 'tradeguard.exchange') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=60)
    assert done.stdout.strip() == "[]"

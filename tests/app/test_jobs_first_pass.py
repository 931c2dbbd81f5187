"""A supervised job's first pass can come before its interval (the health round does:
the page should not show "unknown" for a whole interval after the start)."""

from __future__ import annotations

import asyncio

from tradeguard.app.jobs import JobTable, supervise


async def test_first_pass_after_first_after_s_then_every_interval() -> None:
    table = JobTable()
    stopping = asyncio.Event()
    passes: list[float] = []
    loop = asyncio.get_running_loop()

    async def run() -> None:
        passes.append(loop.time())

    started = loop.time()
    task = asyncio.create_task(
        supervise(table, "probe", run, interval_s=3600.0, stopping=stopping, first_after_s=0.0)
    )
    for _ in range(500):  # poll with a deadline; no timing assertion
        if passes:
            break
        await asyncio.sleep(0.01)
    assert len(passes) == 1, "the first pass came without waiting the hour"
    status = table.status("probe")
    assert status is not None
    assert status.last_success_ns is not None
    stopping.set()
    await asyncio.wait_for(task, 5)
    assert len(passes) == 1  # the next one would have waited the full interval
    assert passes[0] - started < 3600.0


async def test_default_first_pass_waits_one_interval() -> None:
    table = JobTable()
    stopping = asyncio.Event()
    passes: list[int] = []

    async def run() -> None:
        passes.append(1)

    task = asyncio.create_task(supervise(table, "probe", run, interval_s=3600.0,
                                         stopping=stopping))
    await asyncio.sleep(0.05)
    stopping.set()
    await asyncio.wait_for(task, 5)
    assert passes == []

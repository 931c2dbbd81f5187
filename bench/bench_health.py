"""What the health monitor costs (issue 8): CPU of a round at the default interval,
beside the session's submit p50 in the same run.

Same set-up as ``bench_session.py`` (simulator as its own process, SQLite store with WAL
+ FULL, resting limit orders one at a time, logging as ``tradeguard run``), with the
runtime's health job (``app.health_job.HealthJob``) on the session: default thresholds,
the data directory's disk, one backup and one snapshot in the store, the session's last
reconciliation passed in (as the runtime does), its event-loop lag probe running.

- ``round``: process CPU time (``time.process_time``: every thread of this process,
  so the store reads and psutil in worker threads count) and wall time of one round,
  over ``--rounds`` rounds after a first one (reported apart: it primes psutil's CPU
  sampling and verifies the backup once);
- ``probe_cpu_per_wake_us``: the lag probe's own work per wake-up (its loop body with
  the sleep at zero, timed over many wakes); it wakes every 0.5 s;
- ``health_cpu_percent_of_one_core``: (mean round CPU + the probe's wakes in one
  interval) / ``health.interval_seconds`` (default 30 s), as % of one core. Target < 2 %;
- ``session`` and ``session_during_health_rounds``: ``Session.submit_order`` p50/p99
  in alternating blocks, with no round running, and with rounds running back to back
  (hundreds a second instead of one per interval: what a submit that overlaps a round
  pays, the worst case for the submit path); ``submit_overlap_share_at_default_interval``
  is the share of the time a round runs at the default interval (round wall p50 /
  interval), so the share of submits that can meet one;
- ``round_without_known_reconcile``: a round that must look back through the journal
  for the last reconciliation report (``--scan-events`` records after it), what every
  round did before the service passed the session's last reconciliation in.

The simulator answering the round's ``fetch_time`` runs in its own process and is not
counted (on a real exchange that work is the exchange's).

    .venv/bin/python bench/bench_health.py [--orders 400] [--rounds 60] [--scan-events 50000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench_session import (
    AMOUNT,
    BUY_PRICE,
    SELL_PRICE,
    SYMBOL,
    gateway_for,
    percentiles,
    setup_logging,
    simulator_process,
    store_config,
)
from tradeguard.app.health_job import HealthJob
from tradeguard.app.service import LocalService
from tradeguard.domain.enums import OrderStatus, OrderType, Side
from tradeguard.domain.events import AnyEvent, TradeCursorAdvanced
from tradeguard.domain.ids import Symbol
from tradeguard.health.checks import HealthConfig
from tradeguard.health.sensors import EventLoopLagProbe
from tradeguard.session import Session, SessionSettings

TARGET_CPU_PERCENT = 2.0
BLOCK = 20  # submits per block; blocks alternate between the two submit arms
PROBE_WAKES = 20_000


def _side_price(index: int) -> tuple[Side, Decimal]:
    return (Side.BUY, BUY_PRICE) if index % 2 else (Side.SELL, SELL_PRICE)


async def timed_rounds(job: HealthJob, rounds: int) -> dict[str, Any]:
    """CPU and wall time of ``rounds`` health rounds, one after the other."""
    cpu: list[float] = []
    wall: list[float] = []
    for _ in range(rounds):
        cpu_began, wall_began = time.process_time(), time.perf_counter()
        await job.run()
        cpu.append(time.process_time() - cpu_began)
        wall.append(time.perf_counter() - wall_began)
    return {
        "cpu_mean_ms": round(statistics.fmean(cpu) * 1000, 3),
        "cpu_p50_ms": round(statistics.median(cpu) * 1000, 3),
        "cpu_max_ms": round(max(cpu) * 1000, 3),
        "wall": percentiles(wall),
        "n": rounds,
    }


async def probe_cost_per_wake() -> float:
    """Seconds of CPU the lag probe's loop body takes per wake (sleep at zero)."""
    probe = EventLoopLagProbe(interval_seconds=0.0)
    clock = time.monotonic
    began = time.process_time()
    for _ in range(PROBE_WAKES):
        expected = clock() + probe.interval_seconds
        await asyncio.sleep(0)
        probe.observe(expected, clock())
    return (time.process_time() - began) / PROBE_WAKES


async def submits_beside_rounds(session: Session, job: HealthJob, orders: int) -> dict[str, Any]:
    """Submit p50 in alternating blocks: no round running / rounds back to back."""
    latencies: dict[str, list[float]] = {"session": [], "session_during_health_rounds": []}
    sent = 0
    rounds_run = 0

    async def submit() -> float:
        nonlocal sent
        side, price = _side_price(sent)
        sent += 1
        began = time.perf_counter()
        order = await session.submit_order(SYMBOL, side, OrderType.LIMIT, AMOUNT, price)
        took = time.perf_counter() - began
        if order.status is not OrderStatus.OPEN:  # a bench of failures measures nothing
            raise RuntimeError(f"session order ended {order.status.value}: {order}")
        return took

    async def rounds_while(on: asyncio.Event) -> None:
        nonlocal rounds_run
        while on.is_set():
            await job.run()
            rounds_run += 1

    block = 0
    while min(len(v) for v in latencies.values()) < orders:
        busy = block % 2 == 1
        block += 1
        on = asyncio.Event()
        runner = None
        if busy:
            on.set()
            runner = asyncio.create_task(rounds_while(on))
            await asyncio.sleep(0)  # the first round is under way
        name = "session_during_health_rounds" if busy else "session"
        for _ in range(BLOCK):
            latencies[name].append(await submit())
        if runner is not None:
            on.clear()
            await runner  # the round in progress finishes before the next quiet block
    figures = {name: percentiles(samples[:orders]) for name, samples in latencies.items()}
    return {**figures, "rounds_during_submits": rounds_run}


async def journal_filler(service: LocalService, events: int) -> None:
    """``events`` journal records that are no reconciliation report (no-op cursors)."""
    cursor = service.state.trade_cursors.get(Symbol(SYMBOL), "")
    batch = 1_000
    for start in range(0, events, batch):
        filler: list[AnyEvent] = [
            TradeCursorAdvanced(ts_ns=time.time_ns(), symbol=Symbol(SYMBOL), cursor=cursor)
            for _ in range(min(batch, events - start))
        ]
        await service.append(filler)


async def run(url: str, base: Path, orders: int, warmup: int, rounds: int,
              scan_events: int) -> dict[str, Any]:
    """The round's cost, then the submits beside rounds, then the scanning round."""
    gateway = gateway_for(url)
    session: Session | None = None
    thresholds = HealthConfig()
    try:
        session = await Session.open(
            store_config(base), gateway=gateway, settings=SessionSettings(symbols=(SYMBOL,)),
            background=False,
        )
        service = session.service
        assert isinstance(service, LocalService)
        for index in range(warmup):
            side, price = _side_price(index)
            await session.submit_order(SYMBOL, side, OrderType.LIMIT, AMOUNT, price)
        await service.backup_now()  # the backup checks have a file to read and verify
        await service.journal.snapshot()
        job = HealthJob(service=service, gateway=session.gateway, thresholds=thresholds,
                        data_dir=base, last_reconcile=session.last_reconcile)
        await job.start()
        try:
            first = await timed_rounds(job, 1)
            steady = await timed_rounds(job, rounds)
            report = job.report
            assert report is not None
            statuses = {c.name: c.status for c in report.checks}
            probe_s = await probe_cost_per_wake()
            beside = await submits_beside_rounds(session, job, orders)
        finally:
            await job.stop()
        await journal_filler(service, scan_events)
        scanning = HealthJob(service=service, gateway=session.gateway, thresholds=thresholds,
                             data_dir=base)
        await scanning.run()  # primes psutil, like the first round above
        scan = await timed_rounds(scanning, max(3, rounds // 10))
        # The same journal, the report known: what a running service's round costs now.
        known = await timed_rounds(job, max(3, rounds // 10))
    finally:
        if session is not None:
            await session.close()
        await gateway.close()
    interval = thresholds.interval_seconds
    probe_interval = min(0.5, interval / 4)  # as HealthJob sets it
    wakes = interval / probe_interval
    cpu_per_interval_s = steady["cpu_mean_ms"] / 1000 + wakes * probe_s
    percent = round(cpu_per_interval_s / interval * 100, 4)
    quiet_p50 = beside["session"]["p50_ms"]
    return {
        "interval_seconds": interval,
        "first_round": first,
        "round": steady,
        "checks": len(statuses),
        "not_ok_checks": {n: s for n, s in sorted(statuses.items()) if s != "ok"},
        "probe_cpu_per_wake_us": round(probe_s * 1e6, 3),
        "probe_wakes_per_interval": wakes,
        "health_cpu_percent_of_one_core": percent,
        **beside,
        "ratio_submit_p50_during_rounds_vs_quiet": round(
            beside["session_during_health_rounds"]["p50_ms"] / quiet_p50, 3),
        "ratio_round_cpu_mean_vs_submit_p50": round(steady["cpu_mean_ms"] / quiet_p50, 3),
        "submit_overlap_share_at_default_interval": round(
            steady["wall"]["p50_ms"] / 1000 / interval, 7),
        "scan_events_after_last_report": scan_events,
        "round_without_known_reconcile": scan,
        "round_with_known_reconcile_same_journal": known,
        "target": f"health < {TARGET_CPU_PERCENT} % of one core at the default interval",
        "target_met": percent < TARGET_CPU_PERCENT,
    }


def main() -> None:
    """Run the benchmark and print its JSON figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=400, help="Submits per arm.")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=60, help="Health rounds timed.")
    parser.add_argument("--scan-events", type=int, default=50_000,
                        help="Journal records after the last reconciliation report.")
    parser.add_argument("--dir", default=None, help="Directory on the disk to measure.")
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning"))
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="tg-bench-health-", dir=args.dir))
    setup_logging(base, args.log_level)
    try:
        with simulator_process() as url:
            result = asyncio.run(run(url, base, args.orders, args.warmup, args.rounds,
                                     args.scan_events))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    result["log_level"] = args.log_level
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    sys.exit(main())

"""Write-ahead cost (issue 4): ``Session.submit_order`` against raw ccxt ``create_order``.

The simulator runs as its own process (``python -m tradeguard.sim``, price timer off),
as users and the demo run it. In this process, on the same simulator and in the same
run, three arms place resting limit orders one at a time:

- ``raw_ccxt``: ``ccxt.async_support.binance.create_order`` (enableRateLimit off), the
  baseline a bot without tradeguard pays;
- ``gateway``: ``CcxtGateway.create_order`` (validation, Decimal in/out, error mapping);
- ``session``: ``Session.submit_order`` = durable intent (fsync, SQLite WAL + FULL),
  the gateway request, and the durable outcome.

Beside them, to explain the difference: ``journal_append`` (one durable append of an
event that changes nothing, through the session's journal) and ``raw_sqlite3_commit``
(INSERT+COMMIT, WAL + FULL, same disk), the floor of one durable write. The arms are
interleaved call by call, so bursts of noise on this shared machine hit all alike. The figure is the
p50 overhead of the session over raw ccxt (target: under 0.5 ms); the split between
gateway and journal is reported too. Logging is set up as ``tradeguard run`` does
(``--log-level``, default info, to a log file). Prints one JSON object:

    .venv/bin/python bench/bench_session.py [--orders 1500] [--warmup 100] [--dir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from simfixtures import make_ccxt
from tradeguard.config import Config, StorageSettings
from tradeguard.domain.enums import OrderStatus, OrderType, Side
from tradeguard.domain.events import TradeCursorAdvanced
from tradeguard.domain.ids import Symbol
from tradeguard.exchange.ccxt_gateway import CcxtGateway
from tradeguard.logs import configure_logging
from tradeguard.session import Session, SessionSettings

SYMBOL = "BTC/USDT"
AMOUNT = Decimal("0.0001")
# Far from the simulator's 60,000 mark so every order rests: the book grows as in a
# busy session and no order fills (a fill would add work to one arm only).
BUY_PRICE, SELL_PRICE = Decimal(50000), Decimal(70000)
TARGET_P50_OVERHEAD_MS = 0.5


# --- shared by the issue-4 benches: the simulator as a process, figures ---------------


@contextmanager
def simulator_process(*extra: str) -> Iterator[str]:
    """Run ``python -m tradeguard.sim`` on a free loopback port; yields its URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tradeguard.sim", "--port", "0", "--tick-interval-ms", "0",
         *extra],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line.startswith("listening on "):
            raise RuntimeError(f"simulator did not start: {line!r}")
        yield line.removeprefix("listening on ")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def percentiles(samples_s: list[float]) -> dict[str, Any]:
    """p50/p99 in ms of latencies given in seconds."""
    samples = sorted(samples_s)
    return {
        "p50_ms": round(statistics.median(samples) * 1000, 4),
        "p99_ms": round(samples[max(int(len(samples) * 0.99) - 1, 0)] * 1000, 4),
        "n": len(samples),
    }


def store_config(base: Path, session_id: str = "bench") -> Config:
    """A SQLite store under ``base`` (durable, synchronous FULL); backups effectively off."""
    return Config(
        storage=StorageSettings(
            url=f"sqlite:///{base / 'data'}",
            session_id=session_id,
            backup_every_seconds=86_400.0,
            backup_dir=str(base / "backups"),
        )
    )


def setup_logging(base: Path, level: str = "info") -> None:
    """Log as ``tradeguard run`` does: everything at ``level`` to a JSON log file (the
    journal logs each event it appends), warnings to stderr; stdout stays JSON only."""
    configure_logging(level=level, fmt="json", log_file=base / "logs" / "tradeguard.log",
                      stream_level="warning")


def gateway_for(url: str, markets: tuple[str, ...] = ("spot",)) -> CcxtGateway:
    """A gateway on the simulator (pacing off, as for any URL override)."""
    return CcxtGateway(
        "binance", api_key="demo", secret="demo", url_override=url, markets=markets,
        timeout_ms=10_000,
    )


# --- the three arms ----------------------------------------------------------------


def _side_price(index: int) -> tuple[Side, Decimal]:
    return (Side.BUY, BUY_PRICE) if index % 2 else (Side.SELL, SELL_PRICE)


async def _timed(count: int, one: Callable[[int], Awaitable[None]]) -> list[float]:
    latencies = []
    for index in range(count):
        began = time.perf_counter()
        await one(index)
        latencies.append(time.perf_counter() - began)
    return latencies


class Arms:
    """The raw ccxt client, the gateway and the session, all on one simulator."""

    def __init__(self, raw: Any, gateway: CcxtGateway, session: Session) -> None:
        self.raw = raw
        self.gateway = gateway
        self.session = session
        self.sent = 0  # unique client ids for the two arms without a journal

    async def raw_one(self, index: int) -> None:
        side, price = _side_price(index)
        self.sent += 1
        await self.raw.create_order(
            SYMBOL, "limit", side.value, float(AMOUNT), float(price),
            {"clientOrderId": f"raw-{self.sent}"},
        )

    async def gateway_one(self, index: int) -> None:
        side, price = _side_price(index)
        self.sent += 1
        await self.gateway.create_order(
            SYMBOL, side, OrderType.LIMIT, AMOUNT, price, client_order_id=f"gw-{self.sent}"
        )

    async def journal_one(self, index: int) -> None:
        # One durable append of an event that changes nothing (the same trade cursor):
        # what each of the submit's two journal writes costs on its own.
        cursor = self.session.state.trade_cursors.get(Symbol(SYMBOL), "")
        await self.session.service.append(
            [TradeCursorAdvanced(ts_ns=time.time_ns(), symbol=Symbol(SYMBOL), cursor=cursor)]
        )

    async def session_one(self, index: int) -> None:
        side, price = _side_price(index)
        order = await self.session.submit_order(SYMBOL, side, OrderType.LIMIT, AMOUNT, price)
        if order.status is not OrderStatus.OPEN:  # a bench of failures measures nothing
            raise RuntimeError(f"session order ended {order.status.value}: {order}")


class RawCommits:
    """The disk's floor: one-row INSERT+COMMIT with sqlite3, WAL + synchronous FULL."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute("CREATE TABLE j (seq INTEGER PRIMARY KEY, payload BLOB)")
        self.payload = bytes(200)
        self.seq = 0

    async def one(self, index: int) -> None:
        self.seq += 1
        self.conn.execute("BEGIN")
        self.conn.execute("INSERT INTO j VALUES (?, ?)", (self.seq, self.payload))
        self.conn.execute("COMMIT")


async def run(url: str, base: Path, orders: int, warmup: int) -> dict[str, Any]:
    """Warm every arm up, then time them interleaved order by order; the figures."""
    raw = make_ccxt(url, "binance")
    gateway = gateway_for(url)
    commits = RawCommits(base / "raw.db")
    session: Session | None = None
    try:
        await raw.load_markets()
        session = await Session.open(
            store_config(base), gateway=gateway, settings=SessionSettings(symbols=(SYMBOL,)),
            background=False,
        )
        arms = Arms(raw, gateway, session)
        calls: dict[str, Callable[[int], Awaitable[None]]] = {
            "raw_ccxt": arms.raw_one,
            "gateway": arms.gateway_one,
            "session": arms.session_one,
            "journal_append": arms.journal_one,
            "raw_sqlite3_commit": commits.one,
        }
        for call in calls.values():  # connection pools, ccxt caches, SQLite's page cache
            await _timed(warmup, call)
        names = list(calls)
        latencies: dict[str, list[float]] = {name: [] for name in names}
        # One call of every arm per step, the first arm rotating: a burst of disk or
        # CPU contention from the shared machine lands on all arms alike.
        for index in range(orders):
            for k in range(len(names)):
                name = names[(index + k) % len(names)]
                began = time.perf_counter()
                await calls[name](index)
                latencies[name].append(time.perf_counter() - began)
        journal = session.service.journal.stats()
    finally:
        commits.conn.close()
        if session is not None:
            await session.close()
        await gateway.close()  # the session does not close a gateway it was given
        await raw.close()
    figures = {name: percentiles(samples) for name, samples in latencies.items()}
    raw_p50 = figures["raw_ccxt"]["p50_ms"]
    gw_p50 = figures["gateway"]["p50_ms"]
    tg_p50 = figures["session"]["p50_ms"]
    overhead = round(tg_p50 - raw_p50, 4)
    return {
        "orders_per_arm": orders,
        **figures,
        "p50_overhead_ms": overhead,
        "p50_overhead_gateway_ms": round(gw_p50 - raw_p50, 4),
        "p50_overhead_journal_ms": round(tg_p50 - gw_p50, 4),
        "p50_ratio_session_vs_raw": round(tg_p50 / raw_p50, 3),
        # A submit makes two durable appends (intent before sending, outcome after):
        # twice the disk's commit latency is the floor of the journal's share.
        "durable_appends_per_submit": 2,
        "floor_two_raw_commits_p50_ms": round(2 * figures["raw_sqlite3_commit"]["p50_ms"], 4),
        "journal_snapshots_taken": journal.snapshots_taken,
        "target": f"p50 overhead < {TARGET_P50_OVERHEAD_MS} ms",
        "target_met": overhead < TARGET_P50_OVERHEAD_MS,
    }


def main() -> None:
    """Run the benchmark and print its JSON figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1500, help="Orders per arm.")
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--dir", default=None, help="Directory on the disk to measure.")
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning"))
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="tg-bench-session-", dir=args.dir))
    setup_logging(base, args.log_level)
    try:
        with simulator_process() as url:
            result = asyncio.run(run(url, base, args.orders, args.warmup))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    result["disk_dir"] = str(base)
    result["log_level"] = args.log_level
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

"""What the dashboard's HTTP API costs (issue 9): ``/api/status`` with 10,000 open orders,
and the submit p50 with 5 dashboard clients holding the event stream open, beside none.

The whole service runs as ``tradeguard run`` runs it: a :class:`Runtime` with its HTTP
port on 127.0.0.1 (port 0), a SQLite store (WAL + FULL), logging as ``run`` does, and
the simulator as its own process (``python -m tradeguard.sim``). The strategy trades
nothing (every order is the bench's), and the fill poll and the periodic reconciliation
run once an hour, so the figures are the API's and the submit's own and not those of a
poll of 10,000 orders; the health job and the other jobs run at their defaults.

- ``session`` and ``session_with_5_event_streams``: ``Runtime.session.submit_order``
  p50/p99 in alternating blocks of 25, with no client, and with 5 clients holding
  ``GET /api/events`` open and reading every frame (each submit journals two records,
  so each client gets two frames per submit). The clients run in their own process,
  as browsers would, and are connected and disconnected between blocks. Beside them,
  this process's CPU per submit in each arm (``time.process_time``: the service's
  side only), and from their difference the service's CPU per frame delivered;
- ``api_status``: ``GET /api/status`` p50/p99 over real HTTP (keep-alive) with
  ``--open-orders`` open orders in the session (default 10,000; target p50 < 100 ms),
  the state unchanged between two GETs (the service may answer from what it made for
  the previous one), and ``api_status_state_changed``: one event journaled (untimed)
  before each GET, so every answer is made afresh (what a dashboard sees while the
  session trades); the target is judged on the slower of the two. Beside them
  ``GET /metrics`` and ``GET /api/orders?status=open`` on the same book.

    .venv/bin/python bench/bench_web.py [--orders 400] [--open-orders 10000] [--requests 60]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Literal

import aiohttp

from bench_session import (
    AMOUNT,
    BUY_PRICE,
    SELL_PRICE,
    SYMBOL,
    percentiles,
    setup_logging,
    simulator_process,
)
from tradeguard.app.runtime import Runtime
from tradeguard.config import Config, ReconcileSettings, StorageSettings
from tradeguard.domain.enums import OrderStatus, OrderType, Side
from tradeguard.domain.events import TradeCursorAdvanced
from tradeguard.domain.ids import Symbol
from tradeguard.domain.orders import Order
from tradeguard.session import Session, SessionSettings
from tradeguard.web.config import HttpSettings

TARGET_STATUS_P50_MS = 100.0
STREAMS = 5
BLOCK = 25  # submits per block; blocks alternate between no client and 5 streams
FILL_CONCURRENCY = 25

# The dashboard clients, in a process of their own: ``open N`` connects N event streams
# (answers once each got its first bytes), ``close`` drops them, ``quit`` prints totals.
CLIENTS = r'''
import asyncio, json, sys
import aiohttp

async def main(url):
    frames = 0
    streams = []

    async def follow(response):
        nonlocal frames
        async for line in response.content:
            if line.startswith(b"event:"):
                frames += 1

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as client:
        while True:
            command = (await asyncio.to_thread(sys.stdin.readline)).split()
            if not command or command[0] == "quit":
                break
            if command[0] == "open":
                for _ in range(int(command[1])):
                    response = await client.get(url)
                    assert response.status == 200, response.status
                    await response.content.readline()  # the stream is live
                    streams.append((response, asyncio.create_task(follow(response))))
                print(f"opened {len(streams)}", flush=True)
            elif command[0] == "close":
                for response, task in streams:
                    task.cancel()
                    response.close()
                streams.clear()
                print("closed", flush=True)
    print(json.dumps({"frames": frames}), flush=True)

asyncio.run(main(sys.argv[1]))
'''


class Idle:
    """A strategy that trades nothing: every order of the bench is the bench's own."""

    async def on_start(self, session: Session) -> None:
        del session

    async def on_tick(self, session: Session) -> None:
        del session

    def recovery_action(self, order: Order) -> Literal["resubmit", "drop"]:
        del order
        return "drop"


class Clients:
    """The dashboard clients' process and its commands."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, url: str) -> Clients:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", CLIENTS, url,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )
        return cls(proc)

    async def command(self, text: str) -> str:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(text.encode() + b"\n")
        await self.proc.stdin.drain()
        line = await asyncio.wait_for(self.proc.stdout.readline(), 60)
        if not line:
            raise RuntimeError(f"the clients' process ended on {text!r}")
        return line.decode().strip()

    async def quit(self) -> dict[str, Any]:
        answer = json.loads(await self.command("quit"))
        await self.proc.wait()
        return dict(answer)


def _config(base: Path) -> Config:
    return Config(
        storage=StorageSettings(
            url=f"sqlite:///{base / 'data'}", backup_every_seconds=86_400.0,
            backup_dir=str(base / "backups"),
        ),
        reconcile=ReconcileSettings(interval_seconds=3_600.0),
    )


async def submit(session: Session, index: int, *, side: Side | None = None) -> float:
    """One resting limit order; its latency in seconds."""
    if side is None:
        side = Side.BUY if index % 2 else Side.SELL
    price = BUY_PRICE if side is Side.BUY else SELL_PRICE
    began = time.perf_counter()
    order = await session.submit_order(SYMBOL, side, OrderType.LIMIT, AMOUNT, price)
    took = time.perf_counter() - began
    if order.status is not OrderStatus.OPEN:  # a bench of failures measures nothing
        raise RuntimeError(f"session order ended {order.status.value}: {order}")
    return took


async def submits_beside_streams(runtime: Runtime, clients: Clients, orders: int,
                                 warmup: int) -> dict[str, Any]:
    """Submit p50 in alternating blocks: no client / 5 event streams open."""
    session = runtime.session
    for index in range(warmup):
        await submit(session, index)
    arms = ("session", f"session_with_{STREAMS}_event_streams")
    latencies: dict[str, list[float]] = {name: [] for name in arms}
    cpu: dict[str, float] = dict.fromkeys(arms, 0.0)
    subscribers: list[int] = []
    sent, block = warmup, 0
    while min(len(v) for v in latencies.values()) < orders:
        streaming = block % 2 == 1
        block += 1
        if streaming:
            answer = await clients.command(f"open {STREAMS}")
            assert answer == f"opened {STREAMS}", answer
            subscribers.append(runtime.view.hub.subscribers)
        name = arms[1] if streaming else arms[0]
        cpu_began = time.process_time()
        for _ in range(BLOCK):
            latencies[name].append(await submit(session, sent))
            sent += 1
        cpu[name] += time.process_time() - cpu_began
        if streaming:
            assert await clients.command("close") == "closed"
    figures = {name: percentiles(samples[:orders]) for name, samples in latencies.items()}
    # CPU of this process only (the service): the clients' own reading is not in it.
    per_submit = {name: cpu[name] / len(latencies[name]) * 1000 for name in arms}
    return {
        **figures,
        "service_cpu_per_submit_ms": {name: round(v, 4) for name, v in per_submit.items()},
        "service_cpu_per_frame_us": round(
            (per_submit[arms[1]] - per_submit[arms[0]]) * 1000 / (2 * STREAMS), 2),
        "subscribers_seen_while_streaming": min(subscribers),
        "ratio_submit_p50_streams_vs_none": round(
            figures[arms[1]]["p50_ms"] / figures[arms[0]]["p50_ms"], 3),
    }


async def fill_book(session: Session, open_orders: int) -> float:
    """Resting buys until the session holds ``open_orders`` open orders; seconds taken."""
    began = time.perf_counter()
    while (missing := open_orders - len(session.open_orders())) > 0:
        await asyncio.gather(*(
            submit(session, i, side=Side.BUY) for i in range(min(missing, FILL_CONCURRENCY))
        ))
    return time.perf_counter() - began


async def timed_gets(
    client: aiohttp.ClientSession, url: str, count: int,
    before: Callable[[], Awaitable[None]] | None = None,
) -> dict[str, Any]:
    """p50/p99 of ``count`` GETs of ``url`` (after 3 untimed), and the answer's size;
    ``before`` runs (untimed) before each GET."""
    size = 0
    samples: list[float] = []
    for index in range(count + 3):
        if before is not None:
            await before()
        began = time.perf_counter()
        async with client.get(url) as response:
            body = await response.read()
            if response.status != 200:
                raise RuntimeError(f"GET {url}: {response.status} {body[:300]!r}")
        if index >= 3:
            samples.append(time.perf_counter() - began)
        size = len(body)
    return {**percentiles(samples), "bytes": size}


async def run(sim_url: str, base: Path, orders: int, warmup: int, open_orders: int,
              requests: int) -> dict[str, Any]:
    """The submits beside the streams, then the book, then the reads on it."""
    config = _config(base)
    runtime = Runtime(
        config, config.storage.url, exchange_url=sim_url, strategy=Idle(),
        settings=SessionSettings(symbols=(SYMBOL,), poll_interval_seconds=3_600.0,
                                 tick_interval_seconds=3_600.0),
        http=HttpSettings(port=0), handle_signals=False, environ={},
    )
    async with runtime:
        base_url = runtime.http_url
        assert base_url is not None
        clients = await Clients.start(f"{base_url}/api/events")
        try:
            beside = await submits_beside_streams(runtime, clients, orders, warmup)
        finally:
            totals = await clients.quit()
        fill_s = await fill_book(runtime.session, open_orders)
        resting = len(runtime.session.open_orders())
        async with aiohttp.ClientSession() as client:
            status = await timed_gets(client, f"{base_url}/api/status", requests)
            changing = await timed_gets(client, f"{base_url}/api/status", requests,
                                        before=lambda: state_moves(runtime))
            scrape = await timed_gets(client, f"{base_url}/metrics", requests)
            listed = await timed_gets(client, f"{base_url}/api/orders?status=open",
                                      max(3, requests // 6))
    p50 = max(status["p50_ms"], changing["p50_ms"])
    return {
        "orders_per_arm": orders,
        **beside,
        "frames_read_by_clients": totals["frames"],
        "open_orders": resting,
        "fill_seconds": round(fill_s, 2),
        "api_status": status,
        "api_status_state_changed": changing,
        "metrics_scrape": scrape,
        "api_orders_open": listed,
        "ratio_api_status_p50_vs_submit_p50": round(p50 / beside["session"]["p50_ms"], 3),
        "target": f"/api/status p50 < {TARGET_STATUS_P50_MS} ms with {open_orders} open orders",
        "target_met": p50 < TARGET_STATUS_P50_MS,
    }


async def state_moves(runtime: Runtime) -> None:
    """One journaled event that changes nothing but the seq (the status must be remade)."""
    state = runtime.session.state
    cursor = state.trade_cursors.get(Symbol(SYMBOL), "")
    await runtime.service.append(
        [TradeCursorAdvanced(ts_ns=time.time_ns(), symbol=Symbol(SYMBOL), cursor=cursor)]
    )


def main() -> None:
    """Run the benchmark and print its JSON figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=400, help="Submits per arm.")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--open-orders", type=int, default=10_000,
                        help="Open orders in the session when the reads are timed.")
    parser.add_argument("--requests", type=int, default=60, help="Timed GETs per endpoint.")
    parser.add_argument("--dir", default=None, help="Directory on the disk to measure.")
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning"))
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="tg-bench-web-", dir=args.dir))
    setup_logging(base, args.log_level)
    try:
        with simulator_process() as url:
            result = asyncio.run(run(url, base, args.orders, args.warmup, args.open_orders,
                                     args.requests))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    result["log_level"] = args.log_level
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    sys.exit(main())

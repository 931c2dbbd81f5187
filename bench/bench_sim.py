"""Throughput of the exchange simulator under the real ccxt client, over loopback.

Runs the simulator as its own process (``python -m tradeguard.sim``), as users and the
demo do, and drives it from this process with ``ccxt.async_support.binance``
(enableRateLimit off), one request at a time. Prints one JSON object:

    {"create_order_per_s", "p50_ms", "p99_ms", "raw_aiohttp_get_per_s", "ratio",
     "sim_cpu_ms_per_order", ...}

``raw_aiohttp_get_per_s`` is the baseline: a trivial aiohttp GET against a trivial
aiohttp server process on the same loopback; ``ratio`` = create_order_per_s / baseline.

    .venv/bin/python bench/bench_sim.py [--orders 3000] [--concurrency 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

_TRIVIAL_SERVER = """
import sys
from aiohttp import web
async def hello(request):
    return web.Response(body=b'{}', content_type='application/json')
app = web.Application()
app.router.add_get('/ping', hello)
async def main():
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, '127.0.0.1', 0)
    await site.start()
    print('listening on http://127.0.0.1:%d' % runner.addresses[0][1], flush=True)
    import asyncio
    await asyncio.Event().wait()
import asyncio
asyncio.run(main())
"""


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _spawn(args: list[str]) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on "):
        proc.kill()
        raise RuntimeError(f"server did not start: {line!r}")
    return proc, line.removeprefix("listening on ")


async def _raw_get_rate(url: str, count: int) -> float:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            async with session.get(f"{url}/ping") as resp:
                await resp.read()
        start = time.perf_counter()
        for _ in range(count):
            async with session.get(f"{url}/ping") as resp:
                await resp.read()
        return count / (time.perf_counter() - start)


async def _create_orders(url: str, count: int, concurrency: int) -> dict[str, Any]:
    from simfixtures import make_ccxt

    exchange = make_ccxt(url, "binance")
    try:
        await exchange.load_markets()
        for _ in range(200):  # warm-up: connection pool, ccxt's caches
            await exchange.create_order("BTC/USDT", "limit", "buy", 0.0001, 50000)
        latencies: list[float] = []

        async def worker(n: int) -> None:
            for i in range(n):
                # Alternate far-away buys and sells: they rest, so the book grows as in a
                # busy session, and balances are never exhausted.
                side, price = ("buy", 50000) if i % 2 else ("sell", 70000)
                t0 = time.perf_counter()
                await exchange.create_order("BTC/USDT", "limit", side, 0.0001, price)
                latencies.append(time.perf_counter() - t0)

        start = time.perf_counter()
        per_worker = count // concurrency
        await asyncio.gather(*(worker(per_worker) for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    finally:
        await exchange.close()
    latencies.sort()
    return {
        "create_order_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 3),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 3),
        "orders": len(latencies),
    }


def main() -> None:
    """Run the benchmark and print its JSON figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=1)
    args = parser.parse_args()
    sim, sim_url = _spawn([sys.executable, "-m", "tradeguard.sim", "--port", "0",
                           "--tick-interval-ms", "200"])
    raw, raw_url = _spawn([sys.executable, "-c", _TRIVIAL_SERVER])
    try:
        cpu_before = _cpu_seconds(sim.pid)
        figures = asyncio.run(_create_orders(sim_url, args.orders, args.concurrency))
        # Includes the warm-up orders; a ceiling on what the simulator costs per order.
        sim_cpu = _cpu_seconds(sim.pid) - cpu_before
        figures["sim_cpu_ms_per_order"] = round(sim_cpu * 1000 / (figures["orders"] + 200), 3)
        baseline = asyncio.run(_raw_get_rate(raw_url, args.orders))
    finally:
        for proc in (sim, raw):
            proc.terminate()
            proc.wait(timeout=30)
    figures["raw_aiohttp_get_per_s"] = round(baseline, 1)
    figures["ratio"] = round(figures["create_order_per_s"] / baseline, 3)
    figures["concurrency"] = args.concurrency
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

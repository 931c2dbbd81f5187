"""Cost of the gateway over raw ccxt: create_order and fetch_open_orders, sequential.

Runs the simulator in a thread of this process (SimulatorThread) and sends the same
requests through raw ``ccxt.async_support.binance`` (enableRateLimit off) and through
``CcxtGateway`` (pacing off, the simulator default), alternating rounds so machine noise
hits both. Also shows what ccxt's own throttle (enableRateLimit on) costs. Prints JSON:

    {"raw_ccxt_create_per_s", "gateway_create_per_s", "gateway_overhead_ratio",
     "raw_ccxt_throttled_create_per_s", "gateway_fetch_open_p50_ms", ...}

    .venv/bin/python bench/bench_gateway.py [--orders 500] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from simfixtures import make_ccxt
from tradeguard.domain.enums import OrderType, Side
from tradeguard.exchange.ccxt_gateway import CcxtGateway
from tradeguard.sim import SimulatorConfig, SimulatorThread

SYMBOL = "BTC/USDT"


async def raw_round(url: str, orders: int, tag: str, throttled: bool = False) -> float:
    exchange = make_ccxt(url, "binance")
    exchange.enableRateLimit = throttled
    try:
        await exchange.load_markets()
        start = time.perf_counter()
        for index in range(orders):
            await exchange.create_order(
                SYMBOL, "limit", "buy", 0.001, 20000.0, {"clientOrderId": f"{tag}-{index}"}
            )
        return orders / (time.perf_counter() - start)
    finally:
        await exchange.close()


async def gateway_round(url: str, orders: int, tag: str) -> tuple[float, list[float]]:
    async with CcxtGateway("binance", api_key="demo", secret="demo", url_override=url) as gw:
        await gw.load_markets()
        start = time.perf_counter()
        for index in range(orders):
            await gw.create_order(
                SYMBOL,
                Side.BUY,
                OrderType.LIMIT,
                Decimal("0.001"),
                Decimal(20000),
                client_order_id=f"{tag}-{index}",
            )
        rate = orders / (time.perf_counter() - start)
        latencies = []
        for _ in range(50):
            began = time.perf_counter()
            await gw.fetch_open_orders(SYMBOL)
            latencies.append((time.perf_counter() - began) * 1000)
        return rate, latencies


async def run(url: str, orders: int, rounds: int) -> dict[str, Any]:
    raw: list[float] = []
    gateway: list[float] = []
    fetch_ms: list[float] = []
    for round_index in range(rounds):
        raw.append(await raw_round(url, orders, f"r{round_index}"))
        rate, latencies = await gateway_round(url, orders, f"g{round_index}")
        gateway.append(rate)
        fetch_ms.extend(latencies)
    throttled = await raw_round(url, min(orders, 100), "t", throttled=True)
    raw_rate, gw_rate = statistics.median(raw), statistics.median(gateway)
    return {
        "orders_per_round": orders,
        "rounds": rounds,
        "raw_ccxt_create_per_s": round(raw_rate, 1),
        "gateway_create_per_s": round(gw_rate, 1),
        "gateway_overhead_ratio": round(raw_rate / gw_rate, 3),
        "raw_ccxt_throttled_create_per_s": round(throttled, 1),
        "gateway_fetch_open_p50_ms": round(statistics.median(fetch_ms), 3),
        "note": "fetch_open_orders returns a growing book (all orders rest): p50 includes it",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    config = SimulatorConfig(seed=0, tick_interval_ms=0)
    with SimulatorThread(config) as sim:
        result = asyncio.run(run(sim.url, args.orders, args.rounds))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

"""What the Prometheus metrics cost on the submit path, beside the session's submit p50.

Same set-up as ``bench_session.py`` (simulator as its own process, SQLite store with WAL
+ FULL, resting limit orders one at a time, logging as ``tradeguard run``). In one run:

- ``session``: ``Session.submit_order`` alone (the baseline, as in bench_session);
- ``session_fed``: a second session on the same simulator (its own store in the same
  directory) whose metrics are fed exactly as the runtime feeds them
  (``app.metrics_feed.attach_metrics`` and ``attach_session_metrics``: the journal
  listener, the append-latency observer, the group-commit observer in the writer
  thread, the exchange-request observer);
- ``session_metered``: a third session's submit plus the same updates made by hand
  (``from_event`` for its two events, two ``observe_journal_append``, one
  ``observe_exchange_request``), the figure this bench gave before the feed existed;
  each arm has its own session (so each book grows alike) and the arms are interleaved
  call by call so noise of this shared machine hits all alike;
- ``from_event_per_event_us``: p50 of ``from_event`` per event, timed in batches of
  1,000 (a single call is as short as the timer's own cost);
- ``metrics_per_submit_us``: p50 of the whole set of updates one submit makes;
- ``scrape``: p50 of ``GET /metrics`` over real HTTP from ``MetricsServer`` of the fed
  session (its state provider is the runtime's, ``ServiceReading``) with
  ``--open-orders`` resting orders (default 1,000), and of rendering it in-process
  (``exposition()``).

Ratios: metrics per submit / session submit p50, fed / plain and metered / plain
submit p50 (target: fed within noise of plain).

    .venv/bin/python bench/bench_metrics.py [--orders 500] [--warmup 50] [--open-orders 1000]
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
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp

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
from tradeguard.app.metrics_feed import attach_metrics, attach_session_metrics
from tradeguard.app.service import LocalService
from tradeguard.domain.enums import MarketKind, OrderStatus, OrderType, Side
from tradeguard.domain.events import OrderAcknowledged, OrderIntended
from tradeguard.domain.ids import ClientOrderId, ExchangeOrderId, Symbol
from tradeguard.domain.orders import Order
from tradeguard.metrics import (
    MetricsServer,
    StateReading,
    TradeguardMetrics,
    from_event,
    reading_of,
)
from tradeguard.session import Session, SessionSettings

BATCH = 1_000  # calls per timed batch of the in-process figures
BATCHES = 30
SCRAPES = 40


def _side_price(index: int) -> tuple[Side, Decimal]:
    return (Side.BUY, BUY_PRICE) if index % 2 else (Side.SELL, SELL_PRICE)


def _events_of(order: Order) -> tuple[OrderIntended, OrderAcknowledged]:
    """The two events a submit journals (the runtime feeds these from its append path)."""
    intent = OrderIntended(
        ts_ns=order.created_ns, client_order_id=order.client_order_id, symbol=order.symbol,
        kind=MarketKind.SPOT, side=order.side, order_type=order.order_type,
        amount=order.amount, price=order.price,
    )
    ack = OrderAcknowledged(
        ts_ns=time.time_ns(), client_order_id=order.client_order_id,
        exchange_order_id=order.exchange_order_id or ExchangeOrderId("0"),
    )
    return intent, ack


def meter_submit(metrics: TradeguardMetrics, intent: OrderIntended,
                 ack: OrderAcknowledged) -> None:
    """Every metric update one submit makes (figures as a real submit's are small)."""
    from_event(metrics, intent)
    metrics.observe_journal_append(0.0011)
    metrics.observe_exchange_request("create_order", 0.0023)
    from_event(metrics, ack)
    metrics.observe_journal_append(0.0009)


def in_process_costs(metrics: TradeguardMetrics) -> dict[str, Any]:
    """p50 in microseconds of ``from_event`` per event and of one submit's updates."""
    per_event: list[float] = []
    per_submit: list[float] = []
    for batch in range(BATCHES):
        pairs = []
        for i in range(BATCH):
            cid = ClientOrderId(f"bench-{batch}-{i}")
            pairs.append((
                OrderIntended(ts_ns=1, client_order_id=cid, symbol=Symbol(SYMBOL),
                              kind=MarketKind.SPOT, side=Side.BUY,
                              order_type=OrderType.LIMIT, amount=AMOUNT, price=BUY_PRICE),
                OrderAcknowledged(ts_ns=2, client_order_id=cid,
                                  exchange_order_id=ExchangeOrderId(str(i))),
            ))
        began = time.perf_counter()
        for intent, ack in pairs:
            from_event(metrics, intent)
            from_event(metrics, ack)
        per_event.append((time.perf_counter() - began) / (2 * BATCH))
        began = time.perf_counter()
        for intent, ack in pairs:  # answers again: the same calls, counted as a submit
            meter_submit(metrics, intent, ack)
        per_submit.append((time.perf_counter() - began) / BATCH)
    return {
        "from_event_per_event_us": round(statistics.median(per_event) * 1e6, 3),
        "metrics_per_submit_us": round(statistics.median(per_submit) * 1e6, 3),
        "batches": BATCHES, "calls_per_batch": BATCH,
    }


async def scrape_costs(metrics: TradeguardMetrics) -> dict[str, Any]:
    """p50 of GET /metrics over HTTP, and of rendering in-process."""
    http: list[float] = []
    render: list[float] = []
    async with MetricsServer(metrics, port=0) as server, aiohttp.ClientSession() as client:
        size = 0
        for _ in range(SCRAPES):
            began = time.perf_counter()
            async with client.get(server.url) as response:
                body = await response.read()
            http.append(time.perf_counter() - began)
            size = len(body)
            began = time.perf_counter()
            metrics.exposition()
            render.append(time.perf_counter() - began)
    return {"http": percentiles(http), "render": percentiles(render), "bytes": size}


async def open_fed(url: str, base: Path) -> tuple[Session, TradeguardMetrics]:
    """A second session, its metrics fed as the runtime feeds them."""
    session = await Session.open(
        store_config(base / "fed", session_id="benchfed"), gateway=gateway_for(url),
        settings=SessionSettings(symbols=(SYMBOL,)), background=False,
    )
    service = session.service
    assert isinstance(service, LocalService)
    provider: list[Callable[[], StateReading]] = []
    metrics = TradeguardMetrics(lambda: provider[0]() if provider else None)
    provider.append(attach_metrics(metrics, service))
    attach_session_metrics(metrics, session)
    return session, metrics


async def run(url: str, base: Path, orders: int, warmup: int, open_orders: int) -> dict[str, Any]:
    """Time the plain, fed and metered submits interleaved, then the in-process figures
    and the scrape on the fed session with ``open_orders`` resting orders."""
    opened: list[Session] = []
    try:
        for name in ("plain", "metered"):
            opened.append(await Session.open(
                store_config(base / name, session_id=f"bench{name}"), gateway=gateway_for(url),
                settings=SessionSettings(symbols=(SYMBOL,)), background=False,
            ))
        live, live_metered = opened
        fed, fed_metrics = await open_fed(url, base)
        opened.append(fed)
        live_fed = fed
        metrics = TradeguardMetrics(lambda: reading_of(live_metered.state))
        sent = 0

        async def submit(on: Session) -> Order:
            nonlocal sent
            side, price = _side_price(sent)
            sent += 1
            order = await on.submit_order(SYMBOL, side, OrderType.LIMIT, AMOUNT, price)
            if order.status is not OrderStatus.OPEN:
                raise RuntimeError(f"session order ended {order.status.value}: {order}")
            return order

        async def plain() -> None:
            await submit(live)

        async def with_feed() -> None:
            await submit(live_fed)

        async def metered() -> None:
            order = await submit(live_metered)
            meter_submit(metrics, *_events_of(order))

        arms = {"session": plain, "session_fed": with_feed, "session_metered": metered}
        for call in arms.values():
            for _ in range(warmup):
                await call()
        latencies: dict[str, list[float]] = {name: [] for name in arms}
        names = list(arms)
        for index in range(orders):
            for k in range(len(names)):
                name = names[(index + k) % len(names)]
                began = time.perf_counter()
                await arms[name]()
                latencies[name].append(time.perf_counter() - began)
        while len(fed.open_orders()) < open_orders:  # untimed: the book to scrape
            await submit(live_fed)
        resting = len(fed.open_orders())
        inproc = in_process_costs(TradeguardMetrics())
        scraped = await scrape_costs(fed_metrics)
        fed_text = fed_metrics.exposition().decode()
    finally:
        for one in opened:
            await one.close()
            await one.gateway.close()
    figures = {name: percentiles(samples) for name, samples in latencies.items()}
    submit_p50_us = figures["session"]["p50_ms"] * 1000
    return {
        "orders_per_arm": orders,
        **figures,
        **inproc,
        "fed_series": _fed_counts(fed_text),
        "open_orders_at_scrape": resting,
        "scrape": scraped,
        "ratio_metrics_per_submit_vs_submit_p50": round(
            inproc["metrics_per_submit_us"] / submit_p50_us, 5),
        "ratio_fed_vs_plain_submit_p50": round(
            figures["session_fed"]["p50_ms"] / figures["session"]["p50_ms"], 3),
        "ratio_metered_vs_plain_submit_p50": round(
            figures["session_metered"]["p50_ms"] / figures["session"]["p50_ms"], 3),
        "ratio_scrape_http_p50_vs_submit_p50": round(
            scraped["http"]["p50_ms"] / figures["session"]["p50_ms"], 3),
    }


def _fed_counts(text: str) -> dict[str, float]:
    """A few series of the fed session's scrape: proof the feed counted the submits."""
    from prometheus_client.parser import text_string_to_metric_families

    wanted = {
        ("tradeguard_submits_total", (("outcome", "acked"),)): "submits_acked",
        ("tradeguard_events_appended_total", ()): "events_appended",
        ("tradeguard_journal_append_seconds_count", ()): "appends_timed",
        ("tradeguard_group_commit_batch_size_count", ()): "group_commits",
        ("tradeguard_exchange_request_seconds_count", (("endpoint", "create_order"),)):
            "create_order_requests",
    }
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            if key in wanted:
                found[wanted[key]] = sample.value
    return found


def main() -> None:
    """Run the benchmark and print its JSON figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=500, help="Orders per arm.")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--open-orders", type=int, default=1000,
                        help="Resting orders in the session when /metrics is scraped.")
    parser.add_argument("--dir", default=None, help="Directory on the disk to measure.")
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning"))
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="tg-bench-metrics-", dir=args.dir))
    setup_logging(base, args.log_level)
    try:
        with simulator_process() as url:
            result = asyncio.run(run(url, base, args.orders, args.warmup, args.open_orders))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    result["log_level"] = args.log_level
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    sys.exit(main())

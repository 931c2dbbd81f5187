"""Write-ahead submit and cancel through a real Session, ccxt and the simulator."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from gwhelpers import Admin
from sessionfixtures import open_session

from tradeguard.config import Config
from tradeguard.domain import (
    OrderIntended,
    OrderNotPlaced,
    OrderOutcomeUnknown,
    OrderRejected,
    OrderStatus,
)
from tradeguard.exchange.ccxt_gateway import CcxtGateway
from tradeguard.session import SessionSettings
from tradeguard.session.unknown import UnknownResolver

SPOT_ORDER = "/api/v3/order"


async def test_intent_is_durable_before_the_exchange_has_the_order(
    store_config: Config,
    gateway: CcxtGateway,
    admin: Admin,
    journal_on_disk: Callable[[], list[tuple[int, Any]]],
    events_of: Callable[..., list[Any]],
) -> None:
    session = await open_session(store_config, gateway)
    try:
        # Hold the request at the exchange so we can look at both sides meanwhile.
        await admin.fault(SPOT_ORDER, "delay", method="POST", delay_ms=600)
        task = asyncio.create_task(
            session.submit_order("BTC/USDT", "buy", "limit", Decimal("0.001"), Decimal(50000))
        )
        observations = 0
        while not task.done():
            exchange_ids = {o["clientOrderId"] for o in (await admin.state())["orders"]}
            intents = {e.client_order_id for e in events_of(journal_on_disk(), OrderIntended)}
            # Whatever the exchange has, the journal on disk had first.
            assert exchange_ids <= intents
            observations += 1
            await asyncio.sleep(0.05)
        order = await task
        assert observations > 0
        assert order.status is OrderStatus.OPEN
        assert order.exchange_order_id is not None
        seq = next(
            s
            for s, e in journal_on_disk()
            if isinstance(e, OrderIntended) and e.client_order_id == order.client_order_id
        )
        assert order.client_order_id == f"{session.prefix}-{seq}"
        assert len(order.client_order_id) <= 36
        assert await admin.orders_with_client_id(order.client_order_id)
    finally:
        await session.close()


async def test_ambiguous_submit_is_unknown_then_adopted_by_client_id(
    store_config: Config,
    gateway: CcxtGateway,
    admin: Admin,
    journal_on_disk: Callable[[], list[tuple[int, Any]]],
    events_of: Callable[..., list[Any]],
) -> None:
    session = await open_session(store_config, gateway)
    try:
        await admin.fault(SPOT_ORDER, "process_then_fail", method="POST")
        order = await session.submit_order(
            "BTC/USDT", "sell", "limit", Decimal("0.002"), Decimal(70000)
        )
        assert order.status is OrderStatus.UNKNOWN
        on_exchange = await admin.orders_with_client_id(order.client_order_id)
        assert len(on_exchange) == 1
        summary = await session.resolve_unknown_orders(force=True)
        assert summary.adopted == (order.client_order_id,)
        adopted = session.state.order(order.client_order_id)
        assert adopted is not None
        assert adopted.status is OrderStatus.OPEN
        assert adopted.exchange_order_id == str(on_exchange[0]["orderId"])
        assert events_of(journal_on_disk(), OrderRejected) == []
    finally:
        await session.close()


async def test_ambiguous_market_order_gets_its_fills_from_trades(
    store_config: Config, gateway: CcxtGateway, admin: Admin
) -> None:
    session = await open_session(store_config, gateway)
    try:
        await admin.fault(SPOT_ORDER, "process_then_fail", method="POST", status=503)
        order = await session.submit_order("BTC/USDT", "buy", "market", Decimal("0.01"))
        assert order.status is OrderStatus.UNKNOWN
        # Its trade is held back until the order is named, then counted once.
        await session.poll_once()
        assert session.state.position("BTC/USDT").size == 0
        await session.resolve_unknown_orders(force=True)
        await session.poll_once()
        filled = session.state.order(order.client_order_id)
        assert filled is not None
        assert filled.status is OrderStatus.FILLED
        assert filled.filled == Decimal("0.01")
        assert session.state.position("BTC/USDT").size == Decimal("0.01")
    finally:
        await session.close()


async def test_dropped_submit_is_not_placed_only_after_the_grace_period(
    store_config: Config,
    gateway: CcxtGateway,
    admin: Admin,
    journal_on_disk: Callable[[], list[tuple[int, Any]]],
    events_of: Callable[..., list[Any]],
) -> None:
    settings = SessionSettings(symbols=("BTC/USDT",), unknown_grace_seconds=3600)
    session = await open_session(store_config, gateway, settings=settings)
    try:
        await admin.fault(SPOT_ORDER, "drop", method="POST")
        order = await session.submit_order(
            "BTC/USDT", "buy", "limit", Decimal("0.001"), Decimal(50000)
        )
        assert order.status is OrderStatus.UNKNOWN
        assert await admin.orders_with_client_id(order.client_order_id) == []
        within = await session.resolve_unknown_orders(force=True)
        assert within.absent_within_grace == (order.client_order_id,)
        assert session.state.order(order.client_order_id).status is OrderStatus.UNKNOWN  # type: ignore[union-attr]
        # An exchange that does not answer keeps it UNKNOWN too.
        await admin.fault("/api/v3/order", "status", method="GET", status=503)
        later = UnknownResolver(
            session.service, gateway, settings, clock_ns=lambda: time.time_ns() + 7200 * 10**9
        )
        unreachable = await later.resolve(force=True)
        assert unreachable.unreachable == (order.client_order_id,)
        assert session.state.order(order.client_order_id).status is OrderStatus.UNKNOWN  # type: ignore[union-attr]
        settled = await later.resolve(force=True)
        assert settled.not_placed == (order.client_order_id,)
        assert session.state.order(order.client_order_id).status is OrderStatus.NOT_PLACED  # type: ignore[union-attr]
        kinds = [
            type(e)
            for _, e in journal_on_disk()
            if getattr(e, "client_order_id", None) == order.client_order_id
        ]
        assert kinds == [OrderIntended, OrderOutcomeUnknown, OrderNotPlaced]
    finally:
        await session.close()


@pytest.mark.parametrize(
    ("amount", "price", "fault"),
    [
        (Decimal(100), Decimal(60000), None),  # 6,000,000 USDT: insufficient balance
        (Decimal("0.001"), Decimal(50000), -1013),  # filter failure from the exchange
    ],
)
async def test_definite_rejection_is_rejected(
    store_config: Config,
    gateway: CcxtGateway,
    admin: Admin,
    amount: Decimal,
    price: Decimal,
    fault: int | None,
) -> None:
    session = await open_session(store_config, gateway)
    try:
        if fault is not None:
            await admin.fault(SPOT_ORDER, "error_code", method="POST", code=fault)
        order = await session.submit_order("BTC/USDT", "buy", "limit", amount, price)
        assert order.status is OrderStatus.REJECTED
        assert order.last_reason
        assert await admin.orders_with_client_id(order.client_order_id) == []
    finally:
        await session.close()


async def test_cancel_paths(store_config: Config, gateway: CcxtGateway, admin: Admin) -> None:
    session = await open_session(store_config, gateway)
    try:
        plain = await session.submit_order(
            "BTC/USDT", "buy", "limit", Decimal("0.001"), Decimal(50000)
        )
        canceled = await session.cancel_order(plain.client_order_id)
        assert canceled.status is OrderStatus.CANCELED
        assert canceled.cancel_requested

        # Filled on the exchange before our cancel arrives: "unknown order" -> adopt.
        doomed = await session.submit_order(
            "BTC/USDT", "buy", "limit", Decimal("0.001"), Decimal(59000)
        )
        await admin.post("price", {"symbol": "BTCUSDT", "price": "58000", "market": "spot"})
        after = await session.cancel_order(doomed.client_order_id)
        assert after.status is OrderStatus.FILLED
        assert after.filled == Decimal("0.001")
        assert session.state.position("BTC/USDT").size == Decimal("0.001")

        # Cancel processed but the answer lost: UNKNOWN, then the resolver adopts it.
        third = await session.submit_order(
            "BTC/USDT", "sell", "limit", Decimal("0.001"), Decimal(90000)
        )
        await admin.fault(SPOT_ORDER, "process_then_fail", method="DELETE")
        lost = await session.cancel_order(third.client_order_id)
        assert lost.status is OrderStatus.UNKNOWN
        await session.resolve_unknown_orders(force=True)
        assert session.state.order(third.client_order_id).status is OrderStatus.CANCELED  # type: ignore[union-attr]
        assert (await admin.state())["open_orders"] == []
    finally:
        await session.close()

"""Closing a session with its background loops running, and answers that show fills.

Real ccxt against the simulator over 127.0.0.1. ``asyncio.wait_for`` around ``close()``
is a hang detector with a generous bound, not a timing assertion.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from gwhelpers import Admin
from sessionfixtures import SETTINGS, open_session

from tradeguard.config import Config
from tradeguard.domain import FillRecorded, OrderStatus
from tradeguard.exchange.ccxt_gateway import CcxtGateway
from tradeguard.session import Session, SessionSettings

HANG_BOUND_S = 30.0


async def test_market_order_comes_back_filled_and_close_returns(
    store_config: Config,
    gateway: CcxtGateway,
    admin: Admin,
    journal_on_disk: Callable[[], list[tuple[int, Any]]],
    events_of: Callable[..., list[Any]],
) -> None:
    session = await Session.open(store_config, gateway=gateway, settings=SETTINGS)
    try:
        order = await session.submit_order("BTC/USDT", "buy", "market", Decimal("0.001"))
        # The exchange filled it at once; the answer said so and it is applied.
        assert order.status is OrderStatus.FILLED
        assert order.filled == Decimal("0.001")
        assert session.state.position("BTC/USDT").size == Decimal("0.001")
    finally:
        # close() right after the answer, while the fill hint is set: it must return.
        await asyncio.wait_for(session.close(), HANG_BOUND_S)
    sim_trades = [
        t for t in (await admin.state())["trades"] if str(t["orderId"]) == order.exchange_order_id
    ]
    assert len(sim_trades) == 1
    entries = journal_on_disk()
    fills = [
        f for f in events_of(entries, FillRecorded) if f.client_order_id == order.client_order_id
    ]
    # Fills come from the trade list, each trade once, by its id.
    assert [f.trade_id for f in fills] == [str(sim_trades[0]["id"])]


async def test_close_right_after_an_answer_whose_fills_are_not_read_yet(
    store_config: Config, gateway: CcxtGateway, admin: Admin
) -> None:
    session = await Session.open(store_config, gateway=gateway, settings=SETTINGS)
    try:
        # The trade list does not answer once: the answer's fills are left to the poller.
        await admin.fault("/api/v3/myTrades", "status", method="GET", status=503)
        order = await session.submit_order("BTC/USDT", "buy", "market", Decimal("0.002"))
        assert order.filled == 0
    finally:
        await asyncio.wait_for(session.close(), HANG_BOUND_S)
    # The next start reads the trades it missed and settles the order.
    reopened = await open_session(store_config, gateway)
    try:
        settled = reopened.state.order(order.client_order_id)
        assert settled is not None
        assert settled.status is OrderStatus.FILLED
        assert settled.filled == Decimal("0.002")
    finally:
        await asyncio.wait_for(reopened.close(), HANG_BOUND_S)


class _BusyStrategy:
    """Submits a market order every tick (keeps the fill hint and the loops busy)."""

    symbols = ("BTC/USDT",)

    async def on_start(self, session: Any) -> None:
        return None

    async def on_tick(self, session: Any) -> None:
        await session.submit_order("BTC/USDT", "buy", "market", Decimal("0.001"))

    def recovery_action(self, order: Any) -> Any:
        return "drop"


async def test_close_stops_every_loop_while_they_work(
    store_config: Config, gateway: CcxtGateway, admin: Admin
) -> None:
    settings = SessionSettings(
        symbols=("BTC/USDT",),
        poll_interval_seconds=0.05,
        tick_interval_seconds=0.05,
        unknown_grace_seconds=0,
    )
    session = await Session.open(
        store_config, gateway=gateway, settings=settings, strategy=_BusyStrategy()
    )
    try:
        for _ in range(200):
            if session.ticks >= 5:
                break
            await asyncio.sleep(0.05)
        assert session.ticks >= 5
        # A slow exchange: every loop is inside a request when close() comes.
        await admin.fault("/api/v3/*", "delay", delay_ms=800, count=50)
        await asyncio.sleep(0.2)
    finally:
        await asyncio.wait_for(session.close(), HANG_BOUND_S)
    assert all(task.done() for task in session._tasks)

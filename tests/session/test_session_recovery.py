"""Fills once, flags, restart recovery and trade recovery through a real Session."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Literal

import pytest
from gwhelpers import Admin
from sessionfixtures import open_session

from tradeguard.config import Config
from tradeguard.domain import (
    FillRecorded,
    FlagRaised,
    FlagSeverity,
    OrderIntended,
    OrderStatus,
    OrderType,
    Side,
)
from tradeguard.domain.ids import FlagId, Symbol, make_client_order_id
from tradeguard.domain.orders import Order
from tradeguard.errors import DomainError, OrderBlockedError
from tradeguard.exchange.ccxt_gateway import CcxtGateway
from tradeguard.session import Session


async def test_fills_are_ingested_once_across_polls_and_restarts(
    store_config: Config,
    gateway: CcxtGateway,
    admin: Admin,
    journal_on_disk: Callable[[], list[tuple[int, Any]]],
    events_of: Callable[..., list[Any]],
) -> None:
    session = await open_session(store_config, gateway)
    try:
        # Filled at once: the answers' fills are read from the trade list right away.
        bought = await session.submit_order("BTC/USDT", "buy", "market", Decimal("0.003"))
        sold = await session.submit_order("BTC/USDT", "sell", "market", Decimal("0.001"))
        assert (bought.status, sold.status) == (OrderStatus.FILLED, OrderStatus.FILLED)
        assert session.state.fills_recorded == 2
        assert await session.poll_once() == 0
        assert await session.poll_once() == 0
    finally:
        await session.close()
    # A trade made by hand while we are down is found at the next start.
    await admin.post(
        "trade", {"market": "spot", "symbol": "BTCUSDT", "side": "BUY", "quantity": "0.002"}
    )
    again = await open_session(store_config, gateway)
    try:
        assert again.startup is not None
        assert again.startup.fills_replayed == 1
        assert await again.poll_once() == 0
        assert again.state.position("BTC/USDT").size == Decimal("0.004")
    finally:
        await again.close()
    fills = events_of(journal_on_disk(), FillRecorded)
    trades = [t for t in (await admin.state())["trades"] if t["market"] == "spot"]
    assert sorted(f.trade_id for f in fills) == sorted(str(t["id"]) for t in trades)


async def test_flags_block_their_symbol_or_everything_until_resolved(
    store_config: Config,
    gateway: CcxtGateway,
    journal_on_disk: Callable[[], list[tuple[int, Any]]],
    events_of: Callable[..., list[Any]],
) -> None:
    session = await open_session(store_config, gateway)
    try:
        await session.service.append(
            [
                FlagRaised(
                    ts_ns=time.time_ns(),
                    flag_id=FlagId("f-btc"),
                    severity=FlagSeverity.WARNING,
                    kind="position_mismatch",
                    symbol=Symbol("BTC/USDT"),
                    message="size differs",
                    actions=("accept_exchange", "ignore"),
                ),
            ]
        )
        intents_before = len(events_of(journal_on_disk(), OrderIntended))
        with pytest.raises(OrderBlockedError, match=r"f-btc.*accept_exchange"):
            await session.submit_order("BTC/USDT", "buy", "limit", Decimal("0.001"), Decimal(50000))
        assert len(events_of(journal_on_disk(), OrderIntended)) == intents_before
        eth = await session.submit_order("ETH/USDT", "buy", "limit", Decimal("0.01"), Decimal(2000))
        assert eth.status is OrderStatus.OPEN

        await session.service.append(
            [
                FlagRaised(
                    ts_ns=time.time_ns(),
                    flag_id=FlagId("f-all"),
                    severity=FlagSeverity.CRITICAL,
                    kind="vanished_order",
                    message="order gone",
                    actions=("acknowledge",),
                ),
            ]
        )
        with pytest.raises(OrderBlockedError, match="f-all"):
            await session.submit_order("ETH/USDT", "buy", "limit", Decimal("0.01"), Decimal(2000))

        with pytest.raises(DomainError, match="allowed: acknowledge"):
            await session.resolve_flag("f-all", "nonsense")
        with pytest.raises(DomainError, match="no flag"):
            await session.resolve_flag("f-nope", "acknowledge")
        await session.resolve_flag("f-all", "acknowledge", "checked by hand")
        assert (
            await session.submit_order("ETH/USDT", "buy", "limit", Decimal("0.01"), Decimal(2000))
        ).status is OrderStatus.OPEN
        with pytest.raises(OrderBlockedError):
            await session.submit_order("BTC/USDT", "buy", "limit", Decimal("0.001"), Decimal(50000))
        resolved = await session.resolve_flag("f-btc", "ignore")
        assert resolved.resolution_action == "ignore"
        ok = await session.submit_order(
            "BTC/USDT", "buy", "limit", Decimal("0.001"), Decimal(50000)
        )
        assert ok.status is OrderStatus.OPEN
    finally:
        await session.close()


class Resubmitter:
    """A strategy that wants buys back and drops sells, recording what it was asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.started = False

    async def on_start(self, session: Session) -> None:
        self.started = True

    async def on_tick(self, session: Session) -> None:
        return None

    def recovery_action(self, order: Order) -> Literal["resubmit", "drop"]:
        self.asked.append(order.client_order_id)
        return "resubmit" if order.side is Side.BUY else "drop"


async def test_restart_resolves_intents_without_outcome_and_recovers_trades(
    store_config: Config, gateway: CcxtGateway, admin: Admin
) -> None:
    first = await open_session(store_config, gateway)
    # Crash windows, reproduced: three intents journaled whose answers never were.
    # A reached the exchange (ack lost); B and C never left the process.
    svc = first.service
    ids = []
    for side, price in ((Side.BUY, "50000"), (Side.BUY, "51000"), (Side.SELL, "80000")):
        cid = make_client_order_id(first.prefix, svc.journal.next_seq)
        await svc.append(
            [
                OrderIntended(
                    ts_ns=time.time_ns(),
                    client_order_id=cid,
                    symbol=Symbol("BTC/USDT"),
                    kind=first.state.instruments[Symbol("BTC/USDT")].kind,
                    side=side,
                    order_type=OrderType.LIMIT,
                    amount=Decimal("0.001"),
                    price=Decimal(price),
                )
            ]
        )
        ids.append(cid)
    await admin.post(
        "order",
        {
            "market": "spot",
            "symbol": "BTCUSDT",
            "side": "BUY",
            "type": "LIMIT",
            "quantity": "0.001",
            "price": "50000",
            "timeInForce": "GTC",
            "clientOrderId": ids[0],
        },
    )
    # Also a cancel that was journaled but never sent.
    working = await first.submit_order(
        "BTC/USDT", "sell", "limit", Decimal("0.001"), Decimal(90000)
    )
    await first.service.append([_cancel_requested(working.client_order_id)])
    await first.close()

    strategy = Resubmitter()
    second = await open_session(store_config, gateway, strategy=strategy)
    try:
        report = second.startup
        assert report is not None
        assert strategy.started
        state = second.state
        assert state.order(ids[0]).status is OrderStatus.OPEN  # type: ignore[union-attr]
        assert state.order(ids[1]).status is OrderStatus.NOT_PLACED  # type: ignore[union-attr]
        assert state.order(ids[2]).status is OrderStatus.NOT_PLACED  # type: ignore[union-attr]
        assert set(report.resolved.not_placed) == {ids[1], ids[2]}
        assert sorted(strategy.asked) == sorted([ids[1], ids[2]])
        assert [(a.kind, a.client_order_id) for a in report.recovery_actions] == [
            ("cancel", working.client_order_id),
            ("resubmit", ids[1]),
        ]
        assert report.recovery_errors == ()
        assert state.order(working.client_order_id).status is OrderStatus.CANCELED  # type: ignore[union-attr]
        open_prices = sorted(o.price for o in second.open_orders() if o.price is not None)
        assert open_prices == [Decimal(50000), Decimal(51000)]
        exchange_open = (await admin.state())["open_orders"]
        assert sorted(Decimal(o["price"]) for o in exchange_open) == open_prices
        assert all(o["clientOrderId"] in state.orders for o in exchange_open)
    finally:
        await second.close()


def _cancel_requested(cid: str) -> Any:
    from tradeguard.domain import CancelRequested
    from tradeguard.domain.ids import ClientOrderId

    return CancelRequested(ts_ns=time.time_ns(), client_order_id=ClientOrderId(cid))

"""A deterministic, valid event stream for benchmarks: orders through their lifecycle.

Keeps ``open_orders`` orders resting (like a grid bot) while the rest go through intent,
ack, partial and full fills or cancels: the mix a live session journals.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from decimal import Decimal

from tradeguard.domain.enums import MarketKind, OrderType, Side
from tradeguard.domain.events import (
    AnyEvent,
    CancelRequested,
    FillRecorded,
    InstrumentRegistered,
    OrderAcknowledged,
    OrderCanceled,
    OrderIntended,
)
from tradeguard.domain.ids import Asset, ExchangeOrderId, Symbol, TradeId, make_client_order_id

SYMBOL = Symbol("BTC/USDT:USDT")


def event_stream(n: int, *, seed: int = 1, open_orders: int = 0) -> Iterator[AnyEvent]:
    """Yield ``n`` valid events; the first ``open_orders`` orders stay open."""
    rng = random.Random(seed)
    ts = 1_700_000_000_000_000_000
    yield InstrumentRegistered(ts_ns=ts, symbol=SYMBOL, kind=MarketKind.PERPETUAL,
                               base=Asset("BTC"), quote=Asset("USDT"), settle=Asset("USDT"))
    produced = 1
    order_no = 0
    while produced < n:
        order_no += 1
        ts += 1_000_000
        cid = make_client_order_id("bench", order_no)
        side = Side.BUY if rng.random() < 0.5 else Side.SELL
        price = Decimal(60_000 + rng.randint(-500, 500)) + Decimal("0.5")
        amount = Decimal(rng.randint(1, 20)) * Decimal("0.001")
        steps: list[AnyEvent] = [
            OrderIntended(ts_ns=ts, client_order_id=cid, symbol=SYMBOL,
                          kind=MarketKind.PERPETUAL, side=side, order_type=OrderType.LIMIT,
                          amount=amount, price=price),
            OrderAcknowledged(ts_ns=ts + 1, client_order_id=cid,
                              exchange_order_id=ExchangeOrderId(str(order_no))),
        ]
        if order_no > open_orders:
            if rng.random() < 0.6:
                half = (amount / 2).quantize(Decimal("0.001"))
                for k, part in enumerate((half, amount - half)):
                    if part > 0:
                        steps.append(FillRecorded(
                            ts_ns=ts + 2 + k, client_order_id=cid,
                            trade_id=TradeId(f"{order_no}-{k}"), symbol=SYMBOL, side=side,
                            price=price, amount=part, fee=Decimal("0.01"),
                            fee_asset=Asset("USDT"), is_maker=True, exchange_ts_ns=ts))
            else:
                steps.append(CancelRequested(ts_ns=ts + 2, client_order_id=cid))
                steps.append(OrderCanceled(ts_ns=ts + 3, client_order_id=cid, reason="requote"))
        for event in steps:
            if produced >= n:
                return
            produced += 1
            yield event

"""Helpers of the reconciliation tests: admin API, placing orders the tradeguard way."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import aiohttp

from tradeguard.app.service import LocalService
from tradeguard.domain import (
    InstrumentRegistered,
    MarketKind,
    OrderAcknowledged,
    OrderIntended,
    OrderType,
    Side,
    make_client_order_id,
)
from tradeguard.domain.ids import Asset, ClientOrderId, Symbol
from tradeguard.exchange.ccxt_gateway import CcxtGateway

__all__ = ["PERP", "SPOT", "Admin", "place_journaled", "register"]

SPOT, PERP = "BTC/USDT", "BTC/USDT:USDT"


class Admin:
    """The simulator's admin API over real HTTP (``/_sim/...``)."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self.url = url

    async def post(self, action: str, body: dict[str, Any]) -> Any:
        async with self.session.post(f"{self.url}/_sim/{action}", json=body) as response:
            payload = await response.json()
            assert response.status == 200, payload
            return payload

    async def state(self) -> Any:
        async with self.session.get(f"{self.url}/_sim/state") as response:
            assert response.status == 200
            return await response.json()

    async def fault(self, path: str, action: str, method: str = "*", **extra: Any) -> None:
        await self.post("faults", {"path": path, "action": action, "method": method, **extra})

    async def order(self, client_order_id: str) -> Any:
        state = await self.state()
        found = [o for o in state["orders"] if o["clientOrderId"] == client_order_id]
        assert len(found) == 1, found
        return found[0]


async def register(service: LocalService, *symbols: str) -> None:
    """Journal the instruments the session trades."""
    events = []
    for symbol in symbols:
        perpetual = ":" in symbol
        base, quote = symbol.split(":")[0].split("/")
        events.append(InstrumentRegistered(
            ts_ns=time.time_ns(), symbol=Symbol(symbol),
            kind=MarketKind.PERPETUAL if perpetual else MarketKind.SPOT,
            base=Asset(base), quote=Asset(quote), settle=Asset(quote) if perpetual else None,
        ))
    await service.append(events)


async def place_journaled(
    service: LocalService,
    gateway: CcxtGateway,
    symbol: str,
    side: Side,
    amount: str,
    price: str,
    *,
    acknowledge: bool = True,
) -> ClientOrderId:
    """Write ahead, send, journal the ack: what the session does for a submit."""
    cid = make_client_order_id("tg", service.journal.next_seq)
    await service.append([OrderIntended(
        ts_ns=time.time_ns(), client_order_id=cid, symbol=Symbol(symbol),
        kind=MarketKind.PERPETUAL if ":" in symbol else MarketKind.SPOT, side=side,
        order_type=OrderType.LIMIT, amount=Decimal(amount), price=Decimal(price),
    )])
    report = await gateway.create_order(
        symbol, side, OrderType.LIMIT, Decimal(amount), Decimal(price), client_order_id=cid
    )
    if acknowledge:
        await service.append([OrderAcknowledged(
            ts_ns=time.time_ns(), client_order_id=cid,
            exchange_order_id=report.exchange_order_id,
        )])
    return cid

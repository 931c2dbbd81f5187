"""Every order status Binance documents is understood (issue 7, item 25).

ccxt maps most of Binance's statuses to its unified ones but passes the rest through
as the exchange spells them (PENDING_NEW): one such order used to fail the whole
open-order list. Here each documented status goes through real ccxt's parser (spot and
USD-M payloads recorded from the simulator), and a garbled status in a live list
answer, through real ccxt over HTTP, spoils only its own record.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest
from ccxtparse import binance_parser, load_payload
from gwhelpers import make_gateway
from mutproxy import MutatingProxy

from tradeguard.domain.enums import OrderStatus, OrderType, Side
from tradeguard.errors import ExchangeError
from tradeguard.exchange.errors import PartialAnswerError
from tradeguard.exchange.parsing import map_order_status, parse_order
from tradeguard.sim import SimulatorThread

NOW_NS = 1_800_000_000_000_000_000

# Binance's documented order statuses and what a resting 1-lot order with `filled`
# executed means in each.
SPOT = {
    "NEW": OrderStatus.OPEN,
    "PENDING_NEW": OrderStatus.OPEN,
    "PARTIALLY_FILLED": OrderStatus.PARTIALLY_FILLED,
    "FILLED": OrderStatus.FILLED,
    "CANCELED": OrderStatus.CANCELED,
    "PENDING_CANCEL": OrderStatus.PARTIALLY_FILLED,
    "REJECTED": OrderStatus.REJECTED,
    "EXPIRED": OrderStatus.EXPIRED,
    "EXPIRED_IN_MATCH": OrderStatus.EXPIRED,
}
FUTURES = {
    name: SPOT[name]
    for name in (
        "NEW",
        "PARTIALLY_FILLED",
        "FILLED",
        "CANCELED",
        "REJECTED",
        "EXPIRED",
        "EXPIRED_IN_MATCH",
    )
}


def _executed(status: str, orig: str) -> str:
    if status == "FILLED":
        return orig
    if status in ("PARTIALLY_FILLED", "PENDING_CANCEL"):
        return str(Decimal(orig) / 2)
    return "0"


@pytest.mark.parametrize(("status", "expected"), sorted(SPOT.items()))
def test_every_spot_status_through_ccxt(status: str, expected: OrderStatus) -> None:
    info = copy.deepcopy(load_payload("order_spot_limit_open")["info"])
    info.update(status=status, executedQty=_executed(status, info["origQty"]))
    info["cummulativeQuoteQty"] = str(Decimal(info["executedQty"]) * Decimal(info["price"]))
    ccxt = binance_parser()
    report = parse_order(ccxt.parse_order(info, ccxt.market("BTC/USDT")), now_ns=NOW_NS)
    assert report.status is expected
    assert (report.type, report.side) == (OrderType.LIMIT, Side.BUY)


@pytest.mark.parametrize(("status", "expected"), sorted(FUTURES.items()))
def test_every_futures_status_through_ccxt(status: str, expected: OrderStatus) -> None:
    info = copy.deepcopy(load_payload("order_perp_limit_reduce_only")["info"])
    info.update(status=status, executedQty=_executed(status, info["origQty"]))
    ccxt = binance_parser()
    report = parse_order(ccxt.parse_order(info, ccxt.market("BTC/USDT:USDT")), now_ns=NOW_NS)
    assert report.status is expected


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("open", OrderStatus.OPEN),
        ("canceling", OrderStatus.OPEN),
        ("closed", OrderStatus.FILLED),
        ("canceled", OrderStatus.CANCELED),
        ("cancelled", OrderStatus.CANCELED),
        ("expired", OrderStatus.EXPIRED),
        ("rejected", OrderStatus.REJECTED),
    ],
)
def test_ccxt_unified_statuses(status: str, expected: OrderStatus) -> None:
    assert map_order_status(status, Decimal(0)) is expected


def _status_of(order_id: str, status: str) -> Any:
    def mutate(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for row in rows:
            if str(row["orderId"]) == order_id:
                row["status"] = status
        return rows

    return mutate


async def _two_open_orders(gateway: Any) -> list[str]:
    ids = []
    for n, price in enumerate(("20000", "20100")):
        report = await gateway.create_order(
            "BTC/USDT", Side.BUY, OrderType.LIMIT, Decimal("0.001"), Decimal(price),
            client_order_id=f"st-{n}",
        )
        ids.append(report.exchange_order_id)
    return ids


async def test_pending_new_in_a_live_open_order_list(sim: SimulatorThread) -> None:
    async with MutatingProxy(sim.url) as proxy, make_gateway(
        sim, url_override=proxy.url, markets=("spot",)
    ) as gateway:
        first, second = await _two_open_orders(gateway)
        proxy.mutate("GET", "/api/v3/openOrders", _status_of(first, "PENDING_NEW"))
        reports = {r.exchange_order_id: r for r in await gateway.fetch_open_orders("BTC/USDT")}
        assert proxy.mutated == 1
        assert reports[first].status is OrderStatus.OPEN
        assert reports[second].status is OrderStatus.OPEN


async def test_one_garbled_record_spoils_only_itself(sim: SimulatorThread) -> None:
    async with MutatingProxy(sim.url) as proxy, make_gateway(
        sim, url_override=proxy.url, markets=("spot",)
    ) as gateway:
        first, second = await _two_open_orders(gateway)
        proxy.mutate("GET", "/api/v3/openOrders", _status_of(first, "HALF_BAKED"))
        with pytest.raises(PartialAnswerError) as caught:
            await gateway.fetch_open_orders("BTC/USDT")
        assert isinstance(caught.value, ExchangeError)  # callers that do not look: failed
        assert [r.exchange_order_id for r in caught.value.reports] == [second]
        (record,) = caught.value.unreadable
        assert record.record_id == first
        assert "HALF_BAKED" in record.error
        assert record.symbol == "BTC/USDT"

"""Every amount, price, fee and balance arrives exactly (issue 7, item 26).

ccxt's default number type is float, which keeps ~15 significant digits: a balance of
919925047.08470054 became 919925047.0847006. The gateway runs ccxt in string mode;
these tests send Binance's own decimal text through real ccxt (over HTTP from the
simulator, and through ccxt's parsers on edited recorded payloads) and compare.
"""

from __future__ import annotations

import copy
import functools
from decimal import Decimal
from typing import Any

from ccxtparse import binance_parser, load_payload
from gwhelpers import Admin
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeguard.domain.enums import MarketKind
from tradeguard.exchange.ccxt_gateway import CcxtGateway
from tradeguard.exchange.parsing import parse_balances, parse_order, parse_trade

NOW_NS = 1_800_000_000_000_000_000
LARGE = Decimal("919925047.08470054")

# 8-decimal values between 1e7 and 1e9: about three in four lose digits as floats.
eight_decimals = st.decimals(
    min_value=Decimal("1e7"), max_value=Decimal("1e9"), places=8, allow_nan=False
)

@functools.cache
def parser() -> Any:
    """One ccxt client for all examples (building one costs ~50 ms)."""
    return binance_parser()


def text(value: Decimal) -> str:
    return format(value, "f")


async def test_large_balance_is_exact_through_the_gateway(
    gateway: CcxtGateway, admin: Admin
) -> None:
    # The simulator starts with 10 ETH on spot.
    await admin.post("deposit", {"asset": "ETH", "amount": text(LARGE - 10), "market": "spot"})
    balances = await gateway.fetch_balances()
    eth = next(b for b in balances if b.asset == "ETH" and b.kind is MarketKind.SPOT)
    assert (eth.total, eth.free, eth.used) == (LARGE, LARGE, Decimal(0))


def test_recorded_payload_with_the_issue_value_is_exact() -> None:
    info = copy.deepcopy(load_payload("balance_spot")["info"])
    usdt = next(row for row in info["balances"] if row["asset"] == "USDT")
    usdt["free"], usdt["locked"] = text(LARGE), "0.00000001"
    reports = parse_balances(parser().parse_balance_custom(info, "spot"), kind=MarketKind.SPOT)
    report = next(r for r in reports if r.asset == "USDT")
    assert report.free == LARGE
    assert report.used == Decimal("0.00000001")
    assert report.total == Decimal("919925047.08470055")


@settings(max_examples=200, deadline=None)
@given(free=eight_decimals, locked=eight_decimals)
def test_balances_are_exact(free: Decimal, locked: Decimal) -> None:
    info = copy.deepcopy(load_payload("balance_spot")["info"])
    usdt = next(row for row in info["balances"] if row["asset"] == "USDT")
    usdt["free"], usdt["locked"] = text(free), text(locked)
    reports = parse_balances(parser().parse_balance_custom(info, "spot"), kind=MarketKind.SPOT)
    report = next(r for r in reports if r.asset == "USDT")
    assert (report.free, report.used, report.total) == (free, locked, free + locked)


@settings(max_examples=200, deadline=None)
@given(amount=eight_decimals, price=eight_decimals, data=st.data())
def test_orders_are_exact(amount: Decimal, price: Decimal, data: st.DataObject) -> None:
    filled = data.draw(
        st.decimals(min_value=Decimal(0), max_value=amount, places=8, allow_nan=False)
    )
    info = copy.deepcopy(load_payload("order_spot_limit_partial")["info"])
    info.update(
        origQty=text(amount),
        price=text(price),
        executedQty=text(filled),
        cummulativeQuoteQty=text(filled * price),
        fills=[],
    )
    ccxt = parser()
    report = parse_order(ccxt.parse_order(info, ccxt.market("BTC/USDT")), now_ns=NOW_NS)
    assert (report.amount, report.price, report.filled) == (amount, price, filled)


@settings(max_examples=200, deadline=None)
@given(amount=eight_decimals, price=eight_decimals, fee=eight_decimals)
def test_trades_and_fees_are_exact(amount: Decimal, price: Decimal, fee: Decimal) -> None:
    info = copy.deepcopy(load_payload("trades_spot")[0]["info"])
    info.update(qty=text(amount), price=text(price), commission=text(fee))
    ccxt = parser()
    report = parse_trade(ccxt.parse_trade(info, ccxt.market("BTC/USDT")))
    assert (report.amount, report.price, report.fee) == (amount, price, fee)

"""Pure parsing of ccxt unified dicts into reports.

Payloads in ``payloads/`` were recorded from real ccxt against the simulator by
``record_payloads.py``; edge cases are hand-written copies with a field removed or
garbled.
"""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from tradeguard.domain.enums import MarketKind, OrderStatus, OrderType, Side
from tradeguard.errors import ExchangeError
from tradeguard.exchange.parsing import (
    PRECISION_DECIMAL_PLACES,
    PRECISION_SIGNIFICANT_DIGITS,
    PRECISION_TICK_SIZE,
    map_order_status,
    ms_to_ns,
    parse_balances,
    parse_market,
    parse_order,
    parse_position,
    parse_trade,
    to_decimal,
)
from tradeguard.exchange.reports import OrderReport

PAYLOADS = Path(__file__).parent / "payloads"
NOW_NS = 1_800_000_000_000_000_000
D = Decimal


def load(name: str) -> Any:
    return json.loads((PAYLOADS / f"{name}.json").read_text())


# --- markets -----------------------------------------------------------------------


def test_markets_spot_and_perpetual() -> None:
    markets = load("markets")
    spot = parse_market(markets["BTC/USDT"], precision_mode=PRECISION_TICK_SIZE)
    perp = parse_market(markets["BTC/USDT:USDT"], precision_mode=PRECISION_TICK_SIZE)
    assert spot is not None
    assert perp is not None
    assert (spot.kind, spot.base, spot.quote, spot.settle) == (MarketKind.SPOT, "BTC", "USDT", None)
    assert spot.tick_size == D("0.01")
    assert spot.step_size == D("0.00001")
    assert spot.min_notional == D(5)
    assert not spot.contract
    assert (perp.kind, perp.settle, perp.contract, perp.linear) == (
        MarketKind.PERPETUAL,
        "USDT",
        True,
        True,
    )
    assert perp.contract_size == 1
    assert perp.min_notional == D(100)
    # Every recorded market parses and round-trips through msgpack.
    for market in markets.values():
        info = parse_market(market, precision_mode=PRECISION_TICK_SIZE)
        assert info is not None
        assert msgspec.msgpack.decode(msgspec.msgpack.encode(info), type=type(info)) == info


def test_market_precision_modes_and_unsupported_kinds() -> None:
    market = copy.deepcopy(load("markets")["BTC/USDT"])
    market["precision"] = {"price": 2, "amount": 5}
    info = parse_market(market, precision_mode=PRECISION_DECIMAL_PLACES)
    assert info is not None
    assert (info.tick_size, info.step_size) == (D("0.01"), D("0.00001"))
    with pytest.raises(ExchangeError, match="precision mode"):
        parse_market(market, precision_mode=PRECISION_SIGNIFICANT_DIGITS)
    for kind in ({"type": "future"}, {"type": "option"}, {"type": "swap", "linear": False}):
        assert parse_market({**market, **kind}, precision_mode=PRECISION_TICK_SIZE) is None


def test_market_missing_field_is_named() -> None:
    market = copy.deepcopy(load("markets")["ETH/USDT"])
    del market["base"]
    with pytest.raises(ExchangeError, match=r"load_markets ETH/USDT: ccxt market field 'base'"):
        parse_market(market, precision_mode=PRECISION_TICK_SIZE)


# --- orders --------------------------------------------------------------------------


def test_open_limit_order() -> None:
    report = parse_order(load("order_spot_limit_open"), now_ns=NOW_NS, call="create_order")
    assert report.client_order_id == "rec-open"
    assert report.exchange_order_id == "1000"
    assert (report.symbol, report.side, report.type) == ("BTC/USDT", Side.BUY, OrderType.LIMIT)
    assert report.status is OrderStatus.OPEN
    assert (report.price, report.amount, report.filled, report.average) == (
        D(20000),
        D("0.01"),
        D(0),
        None,
    )
    assert report.is_open
    assert report.remaining == D("0.01")
    assert report.updated_ns % 1_000_000 == 0
    assert report.updated_ns != NOW_NS


def test_filled_market_order_has_no_limit_price() -> None:
    report = parse_order(load("order_spot_market_filled"), now_ns=NOW_NS)
    assert report.status is OrderStatus.FILLED
    assert report.type is OrderType.MARKET
    assert report.price is None
    assert report.filled == report.amount == D("0.002")
    assert report.average is not None
    assert report.average > 0
    assert not report.is_open


def test_partially_filled_limit_order() -> None:
    report = parse_order(load("order_spot_limit_partial"), now_ns=NOW_NS)
    assert report.status is OrderStatus.PARTIALLY_FILLED
    assert 0 < report.filled < report.amount
    assert report.remaining == report.amount - report.filled


def test_cancel_response_keeps_the_original_client_order_id() -> None:
    payload = load("order_spot_cancel")
    # Binance answers a cancel with the cancel request's own id in clientOrderId.
    assert payload["clientOrderId"] != "rec-open"
    report = parse_order(payload, now_ns=NOW_NS, call="cancel_order")
    assert report.client_order_id == "rec-open"
    assert report.status is OrderStatus.CANCELED


def test_fetched_and_listed_orders() -> None:
    fetched = parse_order(load("order_spot_fetch_by_client_id"), now_ns=NOW_NS)
    assert fetched.client_order_id == "rec-open"
    listed = [parse_order(o, now_ns=NOW_NS) for o in load("open_orders_spot")]
    assert {o.client_order_id for o in listed} == {"rec-open", "rec-partial"}
    history = [parse_order(o, now_ns=NOW_NS, call="fetch_orders") for o in load("orders_spot_all")]
    assert [o.exchange_order_id for o in history] == sorted(
        (o.exchange_order_id for o in history), key=int
    )
    assert {o.status for o in history} >= {OrderStatus.CANCELED, OrderStatus.FILLED}


def test_perpetual_orders() -> None:
    short = parse_order(load("order_perp_market_short"), now_ns=NOW_NS)
    assert (short.symbol, short.side, short.status) == (
        "BTC/USDT:USDT",
        Side.SELL,
        OrderStatus.FILLED,
    )
    reduce = parse_order(load("order_perp_limit_reduce_only"), now_ns=NOW_NS)
    assert reduce.reduce_only
    assert reduce.status is OrderStatus.OPEN


def test_order_reports_round_trip_msgpack() -> None:
    report = parse_order(load("order_spot_limit_partial"), now_ns=NOW_NS)
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(report), type=OrderReport) == report


@pytest.mark.parametrize("field", ["id", "symbol", "amount", "side", "type", "status"])
def test_order_missing_field_is_named(field: str) -> None:
    payload = load("order_spot_limit_open")
    payload[field] = None
    with pytest.raises(ExchangeError, match=field) as info:
        parse_order(payload, now_ns=NOW_NS, call="fetch_order")
    assert "fetch_order" in str(info.value)


def test_order_without_timestamp_uses_now() -> None:
    payload = load("order_spot_limit_open")
    for key in ("timestamp", "lastUpdateTimestamp", "lastTradeTimestamp"):
        payload[key] = None
    assert parse_order(payload, now_ns=NOW_NS).updated_ns == NOW_NS


def test_order_garbled_number_is_named() -> None:
    payload = load("order_spot_limit_open")
    payload["amount"] = "12abc"
    with pytest.raises(ExchangeError, match=r"'amount' is not a number"):
        parse_order(payload, now_ns=NOW_NS)
    payload["amount"] = float("nan")
    with pytest.raises(ExchangeError, match="not finite"):
        parse_order(payload, now_ns=NOW_NS)


def test_unsupported_order_type_is_an_error() -> None:
    payload = load("order_spot_limit_open")
    payload["type"] = "iceberg"  # stop and take-profit types are supported (item 27)
    with pytest.raises(ExchangeError, match="unsupported value"):
        parse_order(payload, now_ns=NOW_NS)


@pytest.mark.parametrize(
    ("status", "filled", "expected"),
    [
        ("open", "0", OrderStatus.OPEN),
        ("open", "0.5", OrderStatus.PARTIALLY_FILLED),
        ("canceling", "0", OrderStatus.OPEN),
        ("closed", "1", OrderStatus.FILLED),
        ("canceled", "0.3", OrderStatus.CANCELED),
        ("expired", "0", OrderStatus.EXPIRED),
        ("rejected", "0", OrderStatus.REJECTED),
    ],
)
def test_status_mapping(status: str, filled: str, expected: OrderStatus) -> None:
    assert map_order_status(status, D(filled)) is expected


# Binance's own statuses are mapped (test_exchange_statuses.py); these are not statuses.
@pytest.mark.parametrize("status", [None, "", "new", "weird", "PENDING", 3])
def test_unknown_status_is_an_error(status: str | None) -> None:
    with pytest.raises(ExchangeError, match="status"):
        map_order_status(status, D(0), call="fetch_order")


# --- trades, balances, positions -------------------------------------------------------


def test_trades() -> None:
    spot = [parse_trade(t) for t in load("trades_spot")]
    assert len(spot) >= 2
    first = spot[0]
    assert first.exchange_order_id in {"1001", "1002"}
    assert first.fee > 0
    assert first.fee_asset in {"USDT", "BTC"}
    assert first.is_maker is False
    assert first.ts_ns % 1_000_000 == 0
    perp = [parse_trade(t) for t in load("trades_perp")]
    assert perp[0].symbol == "BTC/USDT:USDT"
    assert perp[0].side is Side.SELL


def test_trade_missing_fields() -> None:
    payload = load("trades_spot")[0]
    for field in ("order", "timestamp", "price"):
        broken = {**payload, field: None}
        with pytest.raises(ExchangeError, match=field):
            parse_trade(broken)
    no_fee = parse_trade({**payload, "fee": None})
    assert (no_fee.fee, no_fee.fee_asset) == (D(0), None)


def test_balances_spot_and_linear() -> None:
    spot = {b.asset: b for b in parse_balances(load("balance_spot"), kind=MarketKind.SPOT)}
    assert set(spot) >= {"BTC", "ETH", "USDT"}
    assert all(b.kind is MarketKind.SPOT for b in spot.values())
    for balance in spot.values():
        assert balance.free + balance.used == balance.total
    assert spot["USDT"].used > 0  # the recorded open buy orders lock quote
    linear = parse_balances(load("balance_linear"), kind=MarketKind.PERPETUAL)
    assert [b.asset for b in linear] == ["USDT"]


def test_balance_derivation_and_missing_total() -> None:
    derived = parse_balances(
        {"BTC": {"free": 1.5, "used": 0.5, "total": None}}, kind=MarketKind.SPOT
    )
    assert derived[0].total == D(2)
    derived = parse_balances({"BTC": {"free": None, "used": 0.5, "total": 2}}, kind=MarketKind.SPOT)
    assert derived[0].free == D("1.5")
    with pytest.raises(ExchangeError, match=r"fetch_balance BTC: .*'total' is missing"):
        parse_balances({"BTC": {"free": 1, "used": None, "total": None}}, kind=MarketKind.SPOT)


def test_positions() -> None:
    rows = load("positions_perp")
    report = parse_position(rows[0])
    assert report.symbol == "BTC/USDT:USDT"
    assert report.size == D("-0.01")  # a short
    assert report.entry_price > 0
    assert report.mark_price is not None
    assert report.leverage == D(10)
    long_row = {**rows[0], "side": "long"}
    assert parse_position(long_row).size == D("0.01")
    with pytest.raises(ExchangeError, match="contracts"):
        parse_position({**rows[0], "contracts": None})
    with pytest.raises(ExchangeError, match="side"):
        parse_position({**rows[0], "side": None})


def test_number_and_time_helpers() -> None:
    assert to_decimal(0.1, field="x", call="c") == D("0.1")
    assert to_decimal("0.10000000", field="x", call="c") == D("0.1")
    assert to_decimal(3, field="x", call="c") == D(3)
    with pytest.raises(ExchangeError, match="not a number"):
        to_decimal(True, field="x", call="c")
    assert ms_to_ns(1_700_000_000_123) == 1_700_000_000_123_000_000
    with pytest.raises(ExchangeError, match="timestamp"):
        ms_to_ns(None)

"""Malformed exchange answers are rejected at the gateway, never adopted (issue 7, item 21).

An acknowledgement with ``orderId`` 0 used to be journaled as the order's exchange id:
the order was then looked up by that id for ever and flagged as vanished. Garbled ids,
negative or non-finite amounts, ``filled`` above ``amount`` and impossible balances are
refused here with an error naming the field and the value; a garbled answer to a submit
is an ambiguous outcome, settled by client order id.

Crafted payloads go through real ccxt: its parsers on edited recorded Binance answers,
and real HTTP through a proxy that garbles the simulator's answers.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from ccxtparse import binance_parser, load_payload
from gwhelpers import Admin, make_gateway
from mutproxy import MutatingProxy

from tradeguard.config import Config, StorageSettings
from tradeguard.domain.enums import MarketKind, OrderStatus, OrderType, Side
from tradeguard.errors import AmbiguousOutcomeError, ExchangeError
from tradeguard.exchange.parsing import parse_balances, parse_order, parse_trade
from tradeguard.reconcile import VanishedOrder
from tradeguard.session import Session, SessionSettings
from tradeguard.sim import SimulatorThread

NOW_NS = 1_800_000_000_000_000_000
SPOT_ORDER = "/api/v3/order"


def _order_info(**changes: Any) -> dict[str, Any]:
    info = copy.deepcopy(load_payload("order_spot_limit_partial")["info"])
    info["fills"] = []
    info.update(changes)
    return info


def _through_ccxt(info: dict[str, Any]) -> Any:
    ccxt = binance_parser()
    return parse_order(ccxt.parse_order(info, ccxt.market("BTC/USDT")), now_ns=NOW_NS)


# --- pure: real ccxt parsing of crafted Binance answers -----------------------------


@pytest.mark.parametrize("order_id", [0, -1, "0", "-7", "12.5", "1e3", "a b"])
def test_an_order_id_that_is_no_id_is_refused(order_id: Any) -> None:
    with pytest.raises(ExchangeError, match=r"'id' is not a valid id"):
        _through_ccxt(_order_info(orderId=order_id))


def test_a_missing_order_id_is_refused() -> None:
    info = _order_info()
    del info["orderId"]
    with pytest.raises(ExchangeError, match="'id' is missing"):
        _through_ccxt(info)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"origQty": "-0.05"}, r"'amount' must be > 0, got '-0.05'"),
        ({"origQty": "0"}, r"'amount' is missing"),  # ccxt reads a 0 quantity as absent
        ({"origQty": "1e30"}, r"'amount' is implausibly large"),
        ({"executedQty": "-0.01"}, r"'filled' must be >= 0"),
        ({"executedQty": "0.06"}, r"'filled' 0.06 is above the amount 0.05"),
        ({"price": "-61000"}, r"'price' must be >= 0, got '-61000'"),
        ({"status": "HALF_BAKED"}, r"'status' has an unknown value: 'HALF_BAKED'"),
    ],
)
def test_impossible_order_numbers_are_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ExchangeError, match=message):
        _through_ccxt(_order_info(**changes))


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e999999", "twelve"])
@pytest.mark.parametrize("field", ["price", "amount", "filled", "average"])
def test_non_finite_numbers_are_refused(field: str, value: str) -> None:
    # ccxt's own Precise arithmetic raises on most of these first (the gateway turns
    # that into "response unreadable"); a ccxt class that passes them on meets this.
    order = copy.deepcopy(load_payload("order_spot_limit_partial"))
    order[field] = value
    refused = rf"'{field}' is (not a number|not finite|implausibly large)"
    with pytest.raises(ExchangeError, match=refused):
        parse_order(order, now_ns=NOW_NS)


def test_a_sound_order_still_parses() -> None:
    report = _through_ccxt(_order_info())
    assert (report.exchange_order_id, report.status) == ("1002", OrderStatus.PARTIALLY_FILLED)


@pytest.mark.parametrize(
    ("free", "message"),
    [
        ("-5", r"fetch_balance USDT: ccxt balance field 'free' must be >= 0, got '-5'"),
        ("1e30", r"fetch_balance USDT: ccxt balance field 'free' is implausibly large"),
    ],
)
def test_impossible_balances_are_refused(free: str, message: str) -> None:
    info = copy.deepcopy(load_payload("balance_spot")["info"])
    usdt = next(row for row in info["balances"] if row["asset"] == "USDT")
    usdt["free"] = free
    balance = binance_parser().parse_balance_custom(info, "spot")
    with pytest.raises(ExchangeError, match=message):
        parse_balances(balance, kind=MarketKind.SPOT)


def test_a_derived_negative_balance_is_refused() -> None:
    balance = {"USDT": {"total": "1", "used": "2.5"}}
    with pytest.raises(ExchangeError, match=r"USDT: .*'free' derived from total 1 is negative"):
        parse_balances(balance, kind=MarketKind.SPOT)


def test_perpetual_free_margin_may_be_negative_but_nothing_else() -> None:
    # Binance's availableBalance drops below zero when losses exceed the margin.
    balance = copy.deepcopy(load_payload("balance_linear"))
    balance["USDT"]["free"] = "-12.5"
    (usdt,) = [r for r in parse_balances(balance, kind=MarketKind.PERPETUAL) if r.asset == "USDT"]
    assert usdt.free == Decimal("-12.5")
    balance["USDT"]["used"] = "-1"
    with pytest.raises(ExchangeError, match=r"'used' must be >= 0"):
        parse_balances(balance, kind=MarketKind.PERPETUAL)
    balance["USDT"]["used"], balance["USDT"]["free"] = "0", "-1e30"
    with pytest.raises(ExchangeError, match=r"'free' is implausibly large"):
        parse_balances(balance, kind=MarketKind.PERPETUAL)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"id": 0}, r"'id' is not a valid id"),
        ({"orderId": -1}, r"'order' is not a valid id"),
        ({"qty": "-0.002"}, r"'amount' must be > 0"),
        ({"price": "0"}, r"'price' must be > 0"),
        ({"commission": "1e40"}, r"'fee.cost' is implausibly large"),
    ],
)
def test_impossible_trades_are_refused(changes: dict[str, Any], message: str) -> None:
    info = copy.deepcopy(load_payload("trades_spot")[0]["info"])
    info.update(changes)
    ccxt = binance_parser()
    with pytest.raises(ExchangeError, match=message):
        parse_trade(ccxt.parse_trade(info, ccxt.market("BTC/USDT")))


# --- real ccxt over HTTP, answers garbled by a proxy --------------------------------


def _set(**fields: Any) -> Any:
    def mutate(payload: dict[str, Any]) -> dict[str, Any]:
        payload.update(fields)
        return payload

    return mutate


async def test_an_ack_with_order_id_zero_is_ambiguous_not_adopted(
    sim: SimulatorThread, admin: Admin
) -> None:
    async with MutatingProxy(sim.url) as proxy, make_gateway(
        sim, url_override=proxy.url, markets=("spot",)
    ) as gateway:
        proxy.mutate("POST", SPOT_ORDER, _set(orderId=0))
        with pytest.raises(AmbiguousOutcomeError, match=r"malformed acknowledgement.*'id'"):
            await gateway.create_order(
                "BTC/USDT", Side.BUY, OrderType.LIMIT, Decimal("0.001"), Decimal(20000),
                client_order_id="bad-ack",
            )
        assert proxy.mutated == 1
        (placed,) = await admin.orders_with_client_id("bad-ack")
        found = await gateway.fetch_order("BTC/USDT", client_order_id="bad-ack")
        assert found.exchange_order_id == str(placed["orderId"]) != "0"


async def test_an_ack_for_another_client_order_id_is_ambiguous(sim: SimulatorThread) -> None:
    async with MutatingProxy(sim.url) as proxy, make_gateway(
        sim, url_override=proxy.url, markets=("spot",)
    ) as gateway:
        proxy.mutate("POST", SPOT_ORDER, _set(clientOrderId="someone-else"))
        with pytest.raises(AmbiguousOutcomeError, match="names another order"):
            await gateway.create_order(
                "BTC/USDT", Side.BUY, OrderType.LIMIT, Decimal("0.001"), Decimal(20000),
                client_order_id="mine",
            )


async def test_a_garbled_cancel_answer_is_ambiguous(sim: SimulatorThread) -> None:
    async with MutatingProxy(sim.url) as proxy, make_gateway(
        sim, url_override=proxy.url, markets=("spot",)
    ) as gateway:
        order = await gateway.create_order(
            "BTC/USDT", Side.BUY, OrderType.LIMIT, Decimal("0.001"), Decimal(20000),
            client_order_id="to-cancel",
        )
        proxy.mutate("DELETE", SPOT_ORDER, _set(orderId=-1))
        with pytest.raises(AmbiguousOutcomeError, match="malformed answer"):
            await gateway.cancel_order("BTC/USDT", exchange_order_id=order.exchange_order_id)


async def test_a_negative_balance_is_refused_naming_field_and_value(
    sim: SimulatorThread,
) -> None:
    def negative(payload: dict[str, Any]) -> dict[str, Any]:
        for row in payload["balances"]:
            if row["asset"] == "ETH":
                row["free"] = "-3.5"
        return payload

    async with MutatingProxy(sim.url) as proxy, make_gateway(
        sim, url_override=proxy.url, markets=("spot",)
    ) as gateway:
        proxy.mutate("GET", "/api/v3/account", negative)
        with pytest.raises(ExchangeError, match=r"ETH: .*'free' must be >= 0, got '-3.5'"):
            await gateway.fetch_balances()
        # The next, sound answer is read normally.
        assert any(b.asset == "ETH" for b in await gateway.fetch_balances())


async def test_session_settles_a_garbled_ack_by_client_order_id(
    sim: SimulatorThread, admin: Admin, tmp_path: Path
) -> None:
    config = Config(
        storage=StorageSettings(
            url=f"sqlite:///{tmp_path / 'data'}",
            backup_every_seconds=86_400.0,
            backup_dir=str(tmp_path / "backups"),
        )
    )
    settings = SessionSettings(symbols=("BTC/USDT",), unknown_grace_seconds=0)
    async with MutatingProxy(sim.url) as proxy, make_gateway(
        sim, url_override=proxy.url, markets=("spot",)
    ) as gateway:
        session = await Session.open(config, gateway=gateway, settings=settings, background=False)
        try:
            proxy.mutate("POST", SPOT_ORDER, _set(orderId=0))
            order = await session.submit_order(
                "BTC/USDT", "buy", "limit", Decimal("0.001"), Decimal(20000)
            )
            assert order.status is OrderStatus.UNKNOWN
            assert order.exchange_order_id is None
            (placed,) = await admin.orders_with_client_id(order.client_order_id)
            summary = await session.resolve_unknown_orders(force=True)
            assert summary.adopted == (order.client_order_id,)
            settled = session.state.order(order.client_order_id)
            assert settled is not None
            assert settled.status is OrderStatus.OPEN
            assert settled.exchange_order_id == str(placed["orderId"])
            status = await session.reconcile_now()
            assert status.complete, status.error
            assert status.report is not None
            assert not any(isinstance(d, VanishedOrder) for d in status.report.discrepancies)
            assert session.state.open_flags() == []
        finally:
            await session.close()

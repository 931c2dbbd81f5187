"""Unit tests of the pure matching engine: fills, locks, fees, PnL, determinism."""

from __future__ import annotations

import contextlib
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeguard.errors import SimulatorRejectionError
from tradeguard.sim import Engine, SimulatorConfig

D = Decimal
NOW = 1_700_000_000_000


def make_engine(**overrides: Any) -> Engine:
    return Engine(SimulatorConfig(tick_interval_ms=0, **overrides))


def limit(engine: Engine, venue: str, side: str, qty: str, price: str, **kw: Any) -> Any:
    return engine.place_order(
        venue, "BTCUSDT", side=side, order_type="LIMIT", quantity=D(qty), price=D(price),
        time_in_force=kw.pop("tif", "GTC"), client_order_id=kw.pop("cid", None),
        now_ms=NOW, **kw,
    )


def market(engine: Engine, venue: str, side: str, qty: str, **kw: Any) -> Any:
    return engine.place_order(
        venue, "BTCUSDT", side=side, order_type="MARKET", quantity=D(qty), price=None,
        time_in_force=None, client_order_id=None, now_ms=NOW, **kw,
    )


def test_resting_buy_locks_quote_and_cancel_releases_it() -> None:
    engine = make_engine()
    order, fills = limit(engine, "spot", "BUY", "0.5", "50000")
    assert fills == []
    assert order.status == "NEW"
    # Exactly 0.5 * 50000 is held until the order ends (Binance reserves no fee).
    assert engine.spot.locked["USDT"] == D("25000")
    assert engine.spot.free["USDT"] == D("75000")
    engine.cancel_order("spot", "BTCUSDT", order.order_id, None, NOW)
    assert order.status == "CANCELED"
    assert engine.spot.locked["USDT"] == 0
    assert engine.spot.free["USDT"] == D("100000")


def test_sell_locks_base_and_fill_pays_quote_minus_fee() -> None:
    engine = make_engine()
    order, _ = limit(engine, "spot", "SELL", "0.4", "61000")
    assert engine.spot.locked["BTC"] == D("0.4")
    trades = engine.set_price("spot:BTCUSDT", D("61000"), NOW + 1)
    assert [t.qty for t in trades] == [D("0.4")]
    assert trades[0].is_maker
    assert trades[0].price == D("61000")
    assert order.status == "FILLED"
    assert engine.spot.locked["BTC"] == 0
    assert engine.spot.free["BTC"] == D("0.6")
    # 24400 proceeds minus the 0.1% maker fee.
    assert engine.spot.free["USDT"] == D("100000") + D("24400") - D("24.4")


def test_marketable_limit_fills_partially_against_depth_then_rests() -> None:
    engine = make_engine(depth_per_tick_quote=D("6000"))
    order, fills = limit(engine, "spot", "BUY", "0.25", "60100")
    # 6000 USDT of depth at ~60006 buys 0.09999 BTC at most per pass.
    assert len(fills) == 1
    assert fills[0].qty == D("0.09999")
    assert not fills[0].is_maker
    assert order.status == "PARTIALLY_FILLED"
    assert order.order_id in engine.open_orders["spot:BTCUSDT"]
    engine.set_price("spot:BTCUSDT", D("60000"), NOW + 1)
    engine.set_price("spot:BTCUSDT", D("60000"), NOW + 2)
    assert order.status == "FILLED"
    assert sum(t.qty for t in engine.trades["spot:BTCUSDT"]) == D("0.25")
    assert engine.spot.locked["USDT"] == 0
    # The buyer's fees are paid in the BTC it receives.
    fees = sum(t.commission for t in engine.trades["spot:BTCUSDT"])
    assert {t.commission_asset for t in engine.trades["spot:BTCUSDT"]} == {"BTC"}
    assert engine.spot.free["BTC"] == D("1.25") - fees


def test_ioc_remainder_expires_and_fok_never_partially_fills() -> None:
    engine = make_engine(depth_per_tick_quote=D("6000"))
    ioc, fills = limit(engine, "spot", "BUY", "0.25", "60100", tif="IOC")
    assert ioc.status == "EXPIRED"
    assert fills
    assert ioc.executed_qty < D("0.25")
    fok, fills = limit(engine, "spot", "BUY", "0.25", "60100", tif="FOK")
    assert fok.status == "EXPIRED"
    assert fills == []
    assert fok.executed_qty == 0
    assert engine.spot.locked["USDT"] == 0


def test_market_buy_fills_at_mark_plus_spread_with_taker_fee() -> None:
    engine = make_engine()
    order, fills = market(engine, "spot", "BUY", "0.1")
    assert order.status == "FILLED"
    assert fills[0].price == D("60006")  # 60000 * (1 + 0.0001)
    assert (fills[0].commission, fills[0].commission_asset) == (D("0.0001"), "BTC")
    assert engine.spot.free["USDT"] == D("100000") - D("6000.6")
    assert engine.spot.free["BTC"] == D("1.1") - D("0.0001")


def test_insufficient_balance_duplicate_and_filters_change_nothing() -> None:
    engine = make_engine()
    with pytest.raises(SimulatorRejectionError) as exc:
        limit(engine, "spot", "BUY", "5", "50000")
    assert exc.value.code == -2010
    assert "insufficient balance" in str(exc.value)
    limit(engine, "spot", "BUY", "0.1", "50000", cid="dup-1")
    with pytest.raises(SimulatorRejectionError, match=r"Duplicate order sent\."):
        limit(engine, "spot", "BUY", "0.1", "50000", cid="dup-1")
    with pytest.raises(SimulatorRejectionError, match="LOT_SIZE"):
        limit(engine, "spot", "BUY", "0.000015", "50000")
    with pytest.raises(SimulatorRejectionError, match="PRICE_FILTER"):
        limit(engine, "spot", "BUY", "0.1", "50000.001")
    with pytest.raises(SimulatorRejectionError, match="NOTIONAL"):
        limit(engine, "spot", "BUY", "0.00001", "50000")
    assert len(engine.orders["spot"]) == 1
    assert engine.spot.locked["USDT"] == D("5000")


def test_client_id_of_closed_order_can_be_reused() -> None:
    engine = make_engine()
    first, _ = limit(engine, "spot", "BUY", "0.1", "50000", cid="again")
    engine.cancel_order("spot", "BTCUSDT", None, "again", NOW)
    second, _ = limit(engine, "spot", "BUY", "0.1", "50000", cid="again")
    assert second.order_id != first.order_id
    assert engine.get_order("spot", "BTCUSDT", None, "again") is second
    with pytest.raises(SimulatorRejectionError) as exc:
        engine.cancel_order("spot", "BTCUSDT", first.order_id, None, NOW)
    assert exc.value.code == -2011


def test_perpetual_netting_realized_pnl_and_fees() -> None:
    engine = make_engine()
    engine.set_price("usdm:BTCUSDT", D("60000"), NOW)
    market(engine, "usdm", "BUY", "0.1")  # 60006 taker
    limit(engine, "usdm", "BUY", "0.1", "59000")
    engine.set_price("usdm:BTCUSDT", D("59000"), NOW + 1)
    pos = engine.futures.position("BTCUSDT")
    assert pos.amount == D("0.2")
    assert pos.entry_price == D("59503")
    _, fills = market(engine, "usdm", "SELL", "0.3")  # flips short at 58994.1
    assert fills[0].price == D("58994.1")
    assert fills[0].realized_pnl == D("0.2") * (D("58994.1") - D("59503"))
    assert pos.amount == D("-0.1")
    assert pos.entry_price == D("58994.1")
    fees = D("3.0003") + D("1.18") + D("8.84911500")
    expected = D("100000") + fills[0].realized_pnl - fees
    assert engine.futures.wallet["USDT"] == expected


def test_reduce_only_is_rejected_when_it_would_increase_and_clipped_otherwise() -> None:
    engine = make_engine()
    with pytest.raises(SimulatorRejectionError) as exc:
        market(engine, "usdm", "SELL", "0.01", reduce_only=True)
    assert exc.value.code == -2022
    market(engine, "usdm", "BUY", "0.01")
    order, fills = market(engine, "usdm", "SELL", "0.05", reduce_only=True)
    assert fills[0].qty == D("0.01")
    assert order.status == "EXPIRED"
    assert engine.futures.position("BTCUSDT").amount == 0


def test_futures_margin_is_held_and_released() -> None:
    engine = make_engine(futures_balances={"USDT": D("1000")})
    order, _ = limit(engine, "usdm", "BUY", "0.1", "50000")
    assert engine.futures.order_margin == D("500")  # 5000 notional / leverage 10
    with pytest.raises(SimulatorRejectionError) as exc:
        limit(engine, "usdm", "BUY", "0.2", "50000")
    assert exc.value.code == -2019
    engine.cancel_order("usdm", "BTCUSDT", order.order_id, None, NOW)
    assert engine.futures.order_margin == 0


def _run_script(seed: int, steps: list[tuple[str, str]]) -> list[object]:
    engine = make_engine(seed=seed, volatility=D("0.002"), depth_per_tick_quote=D("3000"))
    now = NOW
    for side, offset in steps:
        price = engine.prices["spot:BTCUSDT"] + D(offset)
        price = max(price.quantize(D("0.01")), D("1000"))
        with contextlib.suppress(SimulatorRejectionError):
            limit(engine, "spot", side, "0.05", str(price))
        now += 200
        engine.step_random_walk(now)
    return [
        (t.trade_id, t.order_id, t.price, t.qty, t.commission)
        for t in engine.trades["spot:BTCUSDT"]
    ] + [dict(engine.spot.free), dict(engine.spot.locked), dict(engine.prices)]


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    steps=st.lists(
        st.tuples(st.sampled_from(["BUY", "SELL"]), st.sampled_from(["-200", "-20", "0", "30"])),
        max_size=25,
    ),
)
def test_same_seed_and_requests_give_same_history(seed: int, steps: list[tuple[str, str]]) -> None:
    assert _run_script(seed, steps) == _run_script(seed, steps)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32), steps=st.integers(1, 40))
def test_balances_are_conserved_minus_fees(seed: int, steps: int) -> None:
    """USDT and BTC move by the trades minus the fees paid in each: nothing leaks."""
    engine = make_engine(seed=seed, volatility=D("0.003"), depth_per_tick_quote=D("2000"))
    for i in range(steps):
        side = "BUY" if i % 2 else "SELL"
        mark = engine.prices["spot:BTCUSDT"]
        with contextlib.suppress(SimulatorRejectionError):
            limit(engine, "spot", side, "0.03", str(mark.quantize(D("0.01"))))
        engine.step_random_walk(NOW + i)
    trades = engine.trades["spot:BTCUSDT"]
    usdt = engine.spot.free["USDT"] + engine.spot.locked["USDT"]
    btc = engine.spot.free["BTC"] + engine.spot.locked["BTC"]
    flow = sum((-t.quote_qty if t.side == "BUY" else t.quote_qty) for t in trades)
    assert {t.commission_asset for t in trades if t.side == "BUY"} <= {"BTC"}
    assert {t.commission_asset for t in trades if t.side == "SELL"} <= {"USDT"}
    usdt_fees = sum(t.commission for t in trades if t.side == "SELL")
    btc_fees = sum(t.commission for t in trades if t.side == "BUY")
    assert usdt == D("100000") + flow - usdt_fees
    bought = sum((t.qty if t.side == "BUY" else -t.qty) for t in trades)
    assert btc == D("1") + bought - btc_fees
    held = sum(
        o.remaining * o.price for o in engine.open_orders["spot:BTCUSDT"].values()
        if o.side == "BUY"
    )
    assert engine.spot.locked["USDT"] == held

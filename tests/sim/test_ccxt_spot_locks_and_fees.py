"""Spot locks and fees as Binance does them, seen through the real ccxt client.

Binance locks exactly price x remaining of the quote asset for a limit buy and the
remaining base amount for a limit sell; the buyer pays commission in the base asset it
receives, the seller in the quote asset it receives (no BNB discount is simulated).
Everything is compared exactly, from the raw strings Binance's JSON carries.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tradeguard.sim import SimulatorConfig, SimulatorThread

D = Decimal
SYMBOL = "BTC/USDT"
MAKER_FEE = D("0.001")
TAKER_FEE = D("0.002")
# Little depth per pass, so an order crossed by the price fills only in part.
DEPTH_QUOTE = D(6000)


@pytest.fixture
def sim_config() -> SimulatorConfig:
    """Maker and taker fees that differ (so the rate used shows), shallow depth."""
    return SimulatorConfig(
        seed=7, tick_interval_ms=0, spot_maker_fee=MAKER_FEE, spot_taker_fee=TAKER_FEE,
        depth_per_tick_quote=DEPTH_QUOTE,
    )


def set_price(sim: SimulatorThread, price: str) -> None:
    sim.call(lambda: sim.engine.set_price("spot:BTCUSDT", D(price), sim.server.now_ms()))


async def wallet(spot: Any) -> dict[str, tuple[Decimal, Decimal]]:
    """(free, locked) per asset, exact, from GET /api/v3/account through ccxt."""
    balance = await spot.fetch_balance()
    rows = balance["info"]["balances"]
    return {r["asset"]: (D(r["free"]), D(r["locked"])) for r in rows}


def raw_fee(trade: dict[str, Any]) -> tuple[str, Decimal]:
    """(commissionAsset, commission) exactly as the exchange sent them."""
    info = trade["info"]
    return info["commissionAsset"], D(info["commission"])


async def test_a_limit_buy_locks_exactly_price_times_amount(spot: Any) -> None:
    order = await spot.create_order(SYMBOL, "limit", "buy", 0.01, 59000)
    assert order["status"] == "open"
    free, locked = (await wallet(spot))["USDT"]
    assert locked == D("590.00")  # 59000 x 0.01, no fee reserve
    assert free == D(100000) - D(590)
    balance = await spot.fetch_balance()
    assert balance["USDT"]["used"] == 590.0
    await spot.cancel_order(order["id"], SYMBOL)
    assert (await wallet(spot))["USDT"] == (D(100000), D(0))


async def test_a_limit_sell_locks_exactly_the_base_amount(spot: Any) -> None:
    await spot.create_order(SYMBOL, "limit", "sell", 0.3, 61000)
    free, locked = (await wallet(spot))["BTC"]
    assert (free, locked) == (D("0.7"), D("0.3"))
    assert (await wallet(spot))["USDT"] == (D(100000), D(0))


async def test_a_partly_filled_buy_locks_price_times_remaining_and_pays_fee_in_base(
    spot: Any, sim: SimulatorThread
) -> None:
    order = await spot.create_order(SYMBOL, "limit", "buy", 0.25, 59000)
    set_price(sim, "59000")  # the mark reaches the limit: one pass of depth fills
    fetched = await spot.fetch_order(order["id"], SYMBOL)
    assert fetched["status"] == "open"
    filled = D(fetched["info"]["executedQty"])
    assert D(0) < filled < D("0.25")
    remaining = D("0.25") - filled
    trades = await spot.fetch_my_trades(SYMBOL)
    assert len(trades) == 1
    assert trades[0]["takerOrMaker"] == "maker"
    assert D(trades[0]["info"]["qty"]) == filled
    # The buyer pays its commission in the base asset it receives, at the maker rate.
    fee = filled * MAKER_FEE
    assert raw_fee(trades[0]) == ("BTC", fee)
    assert trades[0]["fee"]["currency"] == "BTC"
    usdt, btc = (await wallet(spot))["USDT"], (await wallet(spot))["BTC"]
    assert usdt == (D(100000) - D(59000) * D("0.25"), D(59000) * remaining)
    assert btc == (D(1) + filled - fee, D(0))
    # The rest fills on the next passes; nothing stays locked, nothing leaks.
    set_price(sim, "59000")
    set_price(sim, "59000")
    assert (await spot.fetch_order(order["id"], SYMBOL))["status"] == "closed"
    trades = await spot.fetch_my_trades(SYMBOL)
    fees = sum((raw_fee(t)[1] for t in trades), D(0))
    assert {raw_fee(t)[0] for t in trades} == {"BTC"}
    assert (await wallet(spot))["USDT"] == (D(100000) - D(59000) * D("0.25"), D(0))
    assert (await wallet(spot))["BTC"] == (D("1.25") - fees, D(0))


async def test_a_sell_fill_pays_its_fee_in_quote(spot: Any, sim: SimulatorThread) -> None:
    await spot.create_order(SYMBOL, "limit", "sell", 0.05, 61000)
    set_price(sim, "61000")
    trades = await spot.fetch_my_trades(SYMBOL)
    assert [D(t["info"]["qty"]) for t in trades] == [D("0.05")]
    proceeds = D(61000) * D("0.05")
    assert raw_fee(trades[0]) == ("USDT", proceeds * MAKER_FEE)
    assert (await wallet(spot))["USDT"] == (D(100000) + proceeds - proceeds * MAKER_FEE, D(0))
    assert (await wallet(spot))["BTC"] == (D("0.95"), D(0))


async def test_market_orders_pay_the_taker_fee_in_what_they_receive(spot: Any) -> None:
    buy = await spot.create_order(SYMBOL, "market", "buy", 0.02)
    # The order answer (newOrderRespType FULL) names the commission asset too.
    assert [(f["commissionAsset"], D(f["commission"])) for f in buy["info"]["fills"]] == [
        ("BTC", D("0.02") * TAKER_FEE)
    ]
    assert buy["fee"]["currency"] == "BTC"
    cost = D(buy["info"]["cummulativeQuoteQty"])
    assert (await wallet(spot))["USDT"] == (D(100000) - cost, D(0))
    assert (await wallet(spot))["BTC"] == (D("1.02") - D("0.02") * TAKER_FEE, D(0))
    sell = await spot.create_order(SYMBOL, "market", "sell", 0.01)
    proceeds = D(sell["info"]["cummulativeQuoteQty"])
    assert [(f["commissionAsset"], D(f["commission"])) for f in sell["info"]["fills"]] == [
        ("USDT", proceeds * TAKER_FEE)
    ]
    trades = await spot.fetch_my_trades(SYMBOL)
    assert [raw_fee(t)[0] for t in trades] == ["BTC", "USDT"]


async def test_a_marketable_buy_that_fills_below_its_limit_gives_the_difference_back(
    spot: Any,
) -> None:
    # Limit 60100 against a touch of 60006: the filled part costs 60006, the rest
    # keeps 60100 x remaining locked (Binance locks at the order's price).
    order = await spot.create_order(SYMBOL, "limit", "buy", 0.25, 60100)
    fetched = await spot.fetch_order(order["id"], SYMBOL)
    filled = D(fetched["info"]["executedQty"])
    assert D(0) < filled < D("0.25")
    cost = D(fetched["info"]["cummulativeQuoteQty"])
    assert cost == D(60006) * filled
    remaining = D("0.25") - filled
    free, locked = (await wallet(spot))["USDT"]
    assert locked == D(60100) * remaining
    assert free == D(100000) - cost - locked
    (trade,) = await spot.fetch_my_trades(SYMBOL)
    assert raw_fee(trade) == ("BTC", filled * TAKER_FEE)

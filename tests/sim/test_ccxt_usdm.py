"""The real ccxt ``binanceusdm`` client against the simulator's USD-M perpetual API."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt_async
import pytest

from simfixtures import make_ccxt
from tradeguard.sim import SimulatorThread

PERP = "BTC/USDT:USDT"


def set_price(sim: SimulatorThread, price: str) -> None:
    sim.call(lambda: sim.engine.set_price("usdm:BTCUSDT", Decimal(price), sim.server.now_ms()))


async def test_markets_balance_and_empty_positions(usdm: Any) -> None:
    market = usdm.market(PERP)
    assert market["swap"]
    assert market["linear"]
    assert market["settle"] == "USDT"
    assert market["limits"]["amount"]["min"] == 0.001
    assert market["precision"]["price"] == 0.1
    balance = await usdm.fetch_balance()
    assert balance["USDT"]["free"] == 100000.0
    assert await usdm.fetch_positions() == []


async def test_position_pnl_through_ccxt(usdm: Any, sim: SimulatorThread) -> None:
    await usdm.create_order(PERP, "market", "buy", 0.1)
    opened = await usdm.create_order(PERP, "limit", "buy", 0.1, 59000)
    assert opened["status"] == "open"
    set_price(sim, "59000")
    assert (await usdm.fetch_order(opened["id"], PERP))["status"] == "closed"
    [position] = await usdm.fetch_positions([PERP])
    assert position["side"] == "long"
    assert position["contracts"] == 0.2
    assert position["entryPrice"] == 59503.0
    close = await usdm.create_order(PERP, "market", "sell", 0.2, None, {"reduceOnly": True})
    assert close["status"] == "closed"
    assert close["reduceOnly"] is True
    assert await usdm.fetch_positions() == []
    trades = await usdm.fetch_my_trades(PERP)
    assert len(trades) == 3
    realized = sum(Decimal(t["info"]["realizedPnl"]) for t in trades)
    assert realized == Decimal("0.2") * (Decimal("58994.1") - Decimal("59503"))
    truth = sim.state()["usdm"]
    fees = sum(Decimal(str(t["fee"]["cost"])) for t in trades)
    assert Decimal(truth["wallet"]["USDT"]) == Decimal(100000) + realized - fees


async def test_orders_by_client_id_open_orders_and_history(usdm: Any) -> None:
    order = await usdm.create_order(PERP, "limit", "sell", 0.01, 65000, {"clientOrderId": "p-1"})
    found = await usdm.fetch_order(None, PERP, {"clientOrderId": "p-1"})
    assert found["id"] == order["id"]
    assert found["status"] == "open"
    assert [o["id"] for o in await usdm.fetch_open_orders()] == [order["id"]]
    balance = await usdm.fetch_balance()
    assert balance["USDT"]["used"] == 65.0  # 650 notional / leverage 10
    canceled = await usdm.cancel_order(None, PERP, {"clientOrderId": "p-1"})
    assert canceled["status"] == "canceled"
    assert [o["status"] for o in await usdm.fetch_orders(PERP)] == ["canceled"]


async def test_usdm_rejections(usdm: Any) -> None:
    # Loopback URLs only get ccxt's generic error table: fapi's -2022, -4116 and -2019
    # come out as ExchangeError there (production hosts map them to InvalidOrder and
    # InsufficientFunds); the body carries Binance's code either way.
    with pytest.raises(ccxt_async.ExchangeError, match="-2022"):
        await usdm.create_order(PERP, "market", "sell", 0.01, None, {"reduceOnly": True})
    await usdm.create_order(PERP, "limit", "buy", 0.01, 50000, {"clientOrderId": "dup"})
    with pytest.raises(ccxt_async.ExchangeError, match="-4116"):
        await usdm.create_order(PERP, "limit", "buy", 0.01, 50000, {"clientOrderId": "dup"})
    with pytest.raises(ccxt_async.ExchangeError, match="-2019"):
        await usdm.create_order(PERP, "limit", "buy", 100, 50000)
    with pytest.raises(ccxt_async.OrderNotFound):
        await usdm.fetch_order("123456", PERP)


async def test_both_market_types_in_one_client(sim: SimulatorThread) -> None:
    exchange = make_ccxt(sim.url, "binance", fetchMarkets={"types": ["spot", "linear"]})
    try:
        markets = await exchange.load_markets()
        assert {"BTC/USDT", "ETH/USDT", PERP, "ETH/USDT:USDT"} <= set(markets)
        order = await exchange.create_order(PERP, "market", "buy", 0.002)
        assert order["status"] == "closed"
        positions = await exchange.fetch_positions([PERP])
        assert positions[0]["contracts"] == 0.002
    finally:
        await exchange.close()


async def test_leverage_changes_margin_and_cancel_all(usdm: Any, sim: SimulatorThread) -> None:
    await usdm.set_leverage(5, PERP)
    await usdm.create_order(PERP, "limit", "buy", 0.01, 50000)
    await usdm.create_order(PERP, "limit", "buy", 0.01, 51000)
    assert Decimal(sim.state()["usdm"]["order_margin"]) == Decimal(1010 / 5)
    await usdm.cancel_all_orders(PERP)
    assert await usdm.fetch_open_orders(PERP) == []
    assert Decimal(sim.state()["usdm"]["order_margin"]) == 0

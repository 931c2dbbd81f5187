"""The real ccxt ``binance`` client against the simulator's spot API."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tradeguard.sim import SimulatorThread

SYMBOL = "BTC/USDT"


def set_price(sim: SimulatorThread, key: str, price: str) -> None:
    sim.call(lambda: sim.engine.set_price(key, Decimal(price), sim.server.now_ms()))


async def test_load_markets_time_and_balance(spot: Any, sim: SimulatorThread) -> None:
    assert set(spot.markets) == {"BTC/USDT", "ETH/USDT"}
    market = spot.market(SYMBOL)
    assert market["active"]
    assert market["spot"]
    assert market["limits"]["amount"]["min"] == 0.00001
    assert market["limits"]["cost"]["min"] == 5
    assert market["precision"]["price"] == 0.01
    server_time = await spot.fetch_time()
    assert abs(server_time - sim.server.now_ms()) < 60_000
    balance = await spot.fetch_balance()
    assert balance["USDT"] == {"free": 100000.0, "used": 0.0, "total": 100000.0}
    assert balance["BTC"]["total"] == 1.0


async def test_limit_order_lifecycle_by_id_and_client_id(spot: Any, sim: SimulatorThread) -> None:
    order = await spot.create_order(SYMBOL, "limit", "buy", 0.01, 59000, {"clientOrderId": "tg-1"})
    assert order["status"] == "open"
    assert order["clientOrderId"] == "tg-1"
    assert order["price"] == 59000
    assert order["amount"] == 0.01
    by_id = await spot.fetch_order(order["id"], SYMBOL)
    by_cid = await spot.fetch_order(None, SYMBOL, {"clientOrderId": "tg-1"})
    assert by_id["id"] == by_cid["id"] == order["id"]
    balance = await spot.fetch_balance()
    assert balance["USDT"]["used"] == 590.0  # price x amount, as Binance locks it
    assert [o["id"] for o in await spot.fetch_open_orders(SYMBOL)] == [order["id"]]
    canceled = await spot.cancel_order(order["id"], SYMBOL)
    assert canceled["status"] == "canceled"
    assert (await spot.fetch_balance())["USDT"]["used"] == 0
    second = await spot.create_order(
        SYMBOL, "limit", "sell", 0.01, 61000, {"clientOrderId": "tg-2"}
    )
    canceled = await spot.cancel_order(None, SYMBOL, {"clientOrderId": "tg-2"})
    assert canceled["id"] == second["id"]
    assert canceled["status"] == "canceled"
    assert await spot.fetch_open_orders() == []
    truth = sim.state()
    assert {o["clientOrderId"]: o["status"] for o in truth["orders"]} == {
        "tg-1": "CANCELED", "tg-2": "CANCELED",
    }


async def test_market_orders_fill_with_fees_and_trades(spot: Any, sim: SimulatorThread) -> None:
    buy = await spot.create_order(SYMBOL, "market", "buy", 0.02)
    assert buy["status"] == "closed"
    assert buy["filled"] == 0.02
    assert buy["average"] == 60006.0
    assert buy["fee"] == {"currency": "BTC", "cost": 0.00002}  # the buyer pays in base
    sell = await spot.create_order(SYMBOL, "market", "sell", 0.01)
    assert sell["status"] == "closed"
    assert sell["average"] == 59994.0
    trades = await spot.fetch_my_trades(SYMBOL)
    assert [(t["side"], t["amount"], t["takerOrMaker"]) for t in trades] == [
        ("buy", 0.02, "taker"), ("sell", 0.01, "taker"),
    ]
    assert trades[0]["order"] == buy["id"]
    balance = await spot.fetch_balance()
    assert balance["BTC"]["total"] == 1.00998  # 1 + 0.02 - 0.01 - the buy's 0.00002 fee


async def test_resting_order_fills_when_price_moves(spot: Any, sim: SimulatorThread) -> None:
    order = await spot.create_order(SYMBOL, "limit", "sell", 0.05, 60500)
    set_price(sim, "spot:BTCUSDT", "60400")
    assert (await spot.fetch_order(order["id"], SYMBOL))["status"] == "open"
    set_price(sim, "spot:BTCUSDT", "60600")
    filled = await spot.fetch_order(order["id"], SYMBOL)
    assert filled["status"] == "closed"
    assert filled["average"] == 60500
    trades = await spot.fetch_my_trades(SYMBOL)
    assert trades[-1]["takerOrMaker"] == "maker"
    assert trades[-1]["price"] == 60500


async def test_fetch_orders_and_trade_paging(spot: Any, sim: SimulatorThread) -> None:
    ids = [(await spot.create_order(SYMBOL, "market", "buy", 0.001))["id"] for _ in range(7)]
    orders = await spot.fetch_orders(SYMBOL)
    assert [o["id"] for o in orders] == ids
    assert [o["id"] for o in await spot.fetch_orders(SYMBOL, None, 3)] == ids[-3:]
    seen: list[str] = []
    cursor: int | None = None
    while True:
        params = {"fromId": cursor} if cursor is not None else {"fromId": 0}
        page = await spot.fetch_my_trades(SYMBOL, None, 3, params)
        seen.extend(t["id"] for t in page)
        if len(page) < 3:
            break
        cursor = int(page[-1]["id"]) + 1
    all_trades = await spot.fetch_my_trades(SYMBOL)
    assert seen == [t["id"] for t in all_trades]
    assert len(seen) == 7
    since = all_trades[3]["timestamp"]
    assert len(await spot.fetch_my_trades(SYMBOL, since)) >= 4


async def test_open_orders_across_symbols(spot: Any) -> None:
    a = await spot.create_order("BTC/USDT", "limit", "buy", 0.001, 50000)
    b = await spot.create_order("ETH/USDT", "limit", "buy", 0.01, 2000)
    assert {o["id"] for o in await spot.fetch_open_orders()} == {a["id"], b["id"]}
    assert [o["id"] for o in await spot.fetch_open_orders("ETH/USDT")] == [b["id"]]


async def test_cancel_all_and_ticker(spot: Any, sim: SimulatorThread) -> None:
    for price in (50000, 51000):
        await spot.create_order(SYMBOL, "limit", "buy", 0.001, price)
    keep = await spot.create_order("ETH/USDT", "limit", "buy", 0.01, 2000)
    canceled = await spot.cancel_all_orders(SYMBOL)
    assert sorted(o["status"] for o in canceled) == ["canceled", "canceled"]
    assert [o["id"] for o in await spot.fetch_open_orders()] == [keep["id"]]
    set_price(sim, "spot:BTCUSDT", "61234.5")
    ticker = await spot.fetch_ticker(SYMBOL)
    assert ticker["last"] == 61234.5
    assert ticker["bid"] < ticker["last"] < ticker["ask"]

"""The gateway contract, through real ccxt and HTTP, against the simulator.

Every protocol method on spot and on the perpetual. Fault injection lives in
test_gateway_faults.py.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from gwhelpers import Admin, make_gateway

from tradeguard.domain.enums import MarketKind, OrderStatus, OrderType, Side
from tradeguard.errors import ExchangeError, InvalidOrderError, OrderNotFoundError
from tradeguard.exchange import ExchangeGateway
from tradeguard.exchange.ccxt_gateway import CcxtGateway
from tradeguard.exchange.reports import PageCursor
from tradeguard.sim import SimulatorThread

D = Decimal
SPOT, PERP = "BTC/USDT", "BTC/USDT:USDT"


def test_ccxt_gateway_satisfies_the_protocol(gateway: CcxtGateway) -> None:
    assert isinstance(gateway, ExchangeGateway)


async def test_load_markets(gateway: CcxtGateway) -> None:
    markets = await gateway.load_markets()
    assert {SPOT, "ETH/USDT", PERP} <= set(markets)
    assert markets[SPOT].kind is MarketKind.SPOT
    assert markets[PERP].kind is MarketKind.PERPETUAL
    assert markets[PERP].settle == "USDT"
    assert markets[SPOT].tick_size == D("0.01")
    reloaded = await gateway.load_markets(reload=True)
    assert dict(reloaded) == dict(markets)


async def test_balances_match_the_ground_truth(gateway: CcxtGateway, admin: Admin) -> None:
    balances = await gateway.fetch_balances()
    state = await admin.state()
    spot = {b.asset: b for b in balances if b.kind is MarketKind.SPOT}
    perp = {b.asset: b for b in balances if b.kind is MarketKind.PERPETUAL}
    for asset, row in state["spot"]["balances"].items():
        assert spot[asset].free == D(row["free"])
        assert spot[asset].used == D(row["locked"])
    assert perp["USDT"].total == D(state["usdm"]["wallet"]["USDT"])


async def test_time(gateway: CcxtGateway, admin: Admin) -> None:
    before = (await admin.state())["time"] * 1_000_000
    exchange_ns = await gateway.fetch_time_ns()
    after = (await admin.state())["time"] * 1_000_000
    assert before <= exchange_ns <= after


@pytest.mark.parametrize(("symbol", "amount"), [(SPOT, D("0.01")), (PERP, D("0.01"))])
async def test_order_lifecycle(gateway: CcxtGateway, symbol: str, amount: Decimal) -> None:
    """create -> fetch by both ids -> open orders -> cancel -> fetch -> cancel again."""
    placed = await gateway.create_order(
        symbol, Side.BUY, OrderType.LIMIT, amount, D(20000), client_order_id="life-1"
    )
    assert placed.status is OrderStatus.OPEN
    assert (placed.client_order_id, placed.symbol, placed.amount, placed.price) == (
        "life-1",
        symbol,
        amount,
        D(20000),
    )
    by_id = await gateway.fetch_order(symbol, exchange_order_id=placed.exchange_order_id)
    by_client = await gateway.fetch_order(symbol, client_order_id="life-1")
    assert by_id.exchange_order_id == by_client.exchange_order_id == placed.exchange_order_id
    assert by_client.client_order_id == "life-1"

    assert [o.client_order_id for o in await gateway.fetch_open_orders(symbol)] == ["life-1"]
    everywhere = await gateway.fetch_open_orders()
    assert [o.client_order_id for o in everywhere] == ["life-1"]

    canceled = await gateway.cancel_order(symbol, client_order_id="life-1")
    assert canceled.status is OrderStatus.CANCELED
    assert canceled.client_order_id == "life-1"
    after = await gateway.fetch_order(symbol, client_order_id="life-1")
    assert after.status is OrderStatus.CANCELED
    assert await gateway.fetch_open_orders() == []
    with pytest.raises(OrderNotFoundError, match="cancel_order"):
        await gateway.cancel_order(symbol, exchange_order_id=placed.exchange_order_id)


async def test_open_orders_of_both_kinds_without_symbol(gateway: CcxtGateway) -> None:
    await gateway.create_order(
        SPOT, Side.BUY, OrderType.LIMIT, D("0.01"), D(20000), client_order_id="s-1"
    )
    await gateway.create_order(
        PERP, Side.SELL, OrderType.LIMIT, D("0.01"), D(90000), client_order_id="p-1"
    )
    everywhere = await gateway.fetch_open_orders()
    assert sorted((o.symbol, o.client_order_id) for o in everywhere) == [
        (SPOT, "s-1"),
        (PERP, "p-1"),
    ]


async def test_fetch_unknown_order(gateway: CcxtGateway) -> None:
    with pytest.raises(OrderNotFoundError, match="client_order_id=never-sent"):
        await gateway.fetch_order(SPOT, client_order_id="never-sent")
    with pytest.raises(OrderNotFoundError):
        await gateway.fetch_order(PERP, exchange_order_id="999999")


async def test_market_orders_fill_and_trades_page(
    gateway: CcxtGateway, sim: SimulatorThread
) -> None:
    """Seven fills, paged three at a time, and a second call sees only new ones."""
    paged = make_gateway(sim, page_limit=3)
    async with paged:
        for index in range(7):
            report = await gateway.create_order(
                SPOT, Side.BUY, OrderType.MARKET, D("0.001"), client_order_id=f"m-{index}"
            )
            assert report.status is OrderStatus.FILLED
            assert report.filled == D("0.001")
            assert report.price is None
        page = await paged.fetch_trades_since(SPOT)
        assert len(page.trades) == 7
        assert len({t.trade_id for t in page.trades}) == 7
        assert all(t.symbol == SPOT and t.side is Side.BUY and t.fee > 0 for t in page.trades)
        orders = {
            o.exchange_order_id: o.client_order_id
            for o in (await paged.fetch_orders_since(SPOT)).orders
        }
        assert {orders[t.exchange_order_id] for t in page.trades} == {f"m-{i}" for i in range(7)}

        again = await paged.fetch_trades_since(SPOT, page.cursor)
        assert again.trades == ()
        assert again.cursor == page.cursor
        await gateway.create_order(
            SPOT, Side.SELL, OrderType.MARKET, D("0.002"), client_order_id="m-x"
        )
        new = await paged.fetch_trades_since(SPOT, page.cursor)
        assert [t.side for t in new.trades] == [Side.SELL]
        assert int(new.cursor.after_id or 0) > int(page.cursor.after_id or 0)


async def test_orders_since_cursor_and_timestamp(
    gateway: CcxtGateway, sim: SimulatorThread
) -> None:
    paged = make_gateway(sim, page_limit=2)
    async with paged:
        first = await paged.fetch_orders_since(SPOT)
        assert first.orders == ()
        assert first.cursor == PageCursor()
        for index in range(5):
            await gateway.create_order(
                SPOT,
                Side.BUY,
                OrderType.LIMIT,
                D("0.01"),
                D(20000 + index),
                client_order_id=f"o-{index}",
            )
        page = await paged.fetch_orders_since(SPOT)
        assert [o.client_order_id for o in page.orders] == [f"o-{i}" for i in range(5)]
        assert (await paged.fetch_orders_since(SPOT, page.cursor)).orders == ()
        since = page.orders[2].updated_ns
        by_time = await paged.fetch_orders_since(SPOT, since)
        assert {o.client_order_id for o in by_time.orders} >= {"o-2", "o-3", "o-4"}
        assert by_time.cursor.after_id == page.cursor.after_id


async def test_perpetual_position_and_reduce_only(gateway: CcxtGateway) -> None:
    assert await gateway.fetch_positions([]) == []
    flat = await gateway.fetch_positions([PERP])
    assert [(p.symbol, p.size) for p in flat] == [(PERP, D(0))]

    short = await gateway.create_order(
        PERP, Side.SELL, OrderType.MARKET, D("0.02"), client_order_id="short-1"
    )
    assert short.status is OrderStatus.FILLED
    positions = await gateway.fetch_positions([PERP, "ETH/USDT:USDT"])
    by_symbol = {p.symbol: p for p in positions}
    assert by_symbol[PERP].size == D("-0.02")
    assert by_symbol[PERP].entry_price > 0
    assert by_symbol[PERP].leverage is not None
    assert by_symbol["ETH/USDT:USDT"].size == 0

    reduce = await gateway.create_order(
        PERP, Side.BUY, OrderType.MARKET, D("0.01"), client_order_id="reduce-1", reduce_only=True
    )
    assert reduce.reduce_only
    assert reduce.status is OrderStatus.FILLED
    assert (await gateway.fetch_positions([PERP]))[0].size == D("-0.01")
    trades = (await gateway.fetch_trades_since(PERP)).trades
    assert [t.side for t in trades] == [Side.SELL, Side.BUY]
    with pytest.raises(ExchangeError, match="not a perpetual"):
        await gateway.fetch_positions([SPOT])


async def test_local_checks_send_nothing(gateway: CcxtGateway, admin: Admin) -> None:
    with pytest.raises(InvalidOrderError, match="step size"):
        await gateway.create_order(
            SPOT, Side.BUY, OrderType.LIMIT, D("0.000011"), D(20000), client_order_id="bad-1"
        )
    with pytest.raises(InvalidOrderError, match="reduce_only"):
        await gateway.create_order(
            SPOT, Side.BUY, OrderType.MARKET, D("0.001"), client_order_id="bad-2", reduce_only=True
        )
    with pytest.raises(InvalidOrderError, match="unknown or unsupported symbol"):
        await gateway.create_order(
            "DOGE/USDT", Side.BUY, OrderType.MARKET, D(1), client_order_id="bad-3"
        )
    assert (await admin.state())["orders"] == []


async def test_close_is_idempotent_and_final(sim: SimulatorThread) -> None:
    gw = make_gateway(sim)
    async with gw:
        await gw.fetch_time_ns()
    await gw.close()
    with pytest.raises(ExchangeError, match="closed"):
        await gw.fetch_time_ns()

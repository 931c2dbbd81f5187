"""The sample grid strategy and the strategy loader, on a real Session and simulator."""

from __future__ import annotations

from decimal import Decimal

import pytest
from gwhelpers import Admin

from tradeguard.config import Config
from tradeguard.domain import OrderStatus, Side
from tradeguard.errors import ConfigError
from tradeguard.exchange.ccxt_gateway import CcxtGateway
from tradeguard.session import Session, SessionSettings
from tradeguard.strategies import Strategy, load_strategy
from tradeguard.strategies.grid import Grid, grid_prices


def test_grid_prices_are_on_the_tick_and_never_cross_the_mid() -> None:
    buys, sells = grid_prices(
        Decimal("60000.005"), levels=3, spacing=Decimal("0.001"), tick_size=Decimal("0.01")
    )
    assert buys == [Decimal("59940.00"), Decimal("59880.00"), Decimal("59820.00")]
    assert sells == [Decimal("60060.01"), Decimal("60120.01"), Decimal("60180.01")]
    assert all(p % Decimal("0.01") == 0 for p in buys + sells)


def test_load_strategy() -> None:
    grid = load_strategy("tradeguard.strategies.grid:Grid", levels=2)
    assert isinstance(grid, Strategy)
    assert isinstance(grid, Grid)
    assert grid.levels == 2
    for bad in (
        "tradeguard.strategies.grid",
        "no.such.module:X",
        "tradeguard.strategies.grid:Nope",
        "tradeguard.config:Config",
    ):
        with pytest.raises(ConfigError):
            load_strategy(bad)


async def test_grid_quotes_both_sides_and_requotes_when_the_price_moves(
    store_config: Config, gateway: CcxtGateway, admin: Admin
) -> None:
    grid = Grid("BTC/USDT", levels=2, spacing="0.002", amount="0.0005")
    session = await Session.open(
        store_config,
        gateway=gateway,
        strategy=grid,
        background=False,
        settings=SessionSettings(unknown_grace_seconds=0),
    )
    try:
        await grid.on_tick(session)
        first = session.open_orders("BTC/USDT")
        assert sorted((o.side, o.price) for o in first) == [
            (Side.BUY, Decimal("59760.00")),
            (Side.BUY, Decimal("59880.00")),
            (Side.SELL, Decimal("60120.00")),
            (Side.SELL, Decimal("60240.00")),
        ]
        await grid.on_tick(session)  # nothing moved: nothing to do
        assert grid.placed == 4
        assert grid.canceled == 0

        # Down 1%: the resting buys fill, every old quote is far, the grid re-quotes.
        await admin.post("price", {"symbol": "BTCUSDT", "price": "59400", "market": "spot"})
        await session.poll_once()
        await grid.on_tick(session)
        now = session.open_orders("BTC/USDT")
        assert len(now) == 4
        assert all(
            abs(o.price - Decimal(59400)) < Decimal(59400) * Decimal("0.005")  # type: ignore[operator]
            for o in now
        )
        exchange_open = {o["clientOrderId"] for o in (await admin.state())["open_orders"]}
        assert exchange_open == {o.client_order_id for o in now}
        filled = [o for o in session.orders.values() if o.status is OrderStatus.FILLED]
        assert len(filled) == 2
        assert session.state.position("BTC/USDT").size == Decimal("0.001")
    finally:
        await session.close()

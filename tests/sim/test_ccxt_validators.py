"""ccxt's own structure validators on everything the simulator returns through ccxt.

The validators ship with the installed ccxt package (``ccxt/test/exchange/base/``);
ccxt's test suite runs them against the real exchanges. Here they run, with no
property skipped, on the unified structures the plain ``binance`` and ``binanceusdm``
clients (default options, only the URLs rewritten) build from the simulator's answers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt_async
import pytest
from ccxt.test.exchange.base.test_balance import test_balance as check_balance
from ccxt.test.exchange.base.test_currency import test_currency as check_currency
from ccxt.test.exchange.base.test_last_price import test_last_price as check_last_price
from ccxt.test.exchange.base.test_leverage_tier import test_leverage_tier as check_leverage_tier
from ccxt.test.exchange.base.test_market import test_market as check_market
from ccxt.test.exchange.base.test_ohlcv import test_ohlcv as check_ohlcv
from ccxt.test.exchange.base.test_order import test_order as check_order
from ccxt.test.exchange.base.test_order_book import test_order_book as check_order_book
from ccxt.test.exchange.base.test_position import test_position as check_position
from ccxt.test.exchange.base.test_ticker import test_ticker as check_ticker
from ccxt.test.exchange.base.test_trade import test_trade as check_trade

from simfixtures import point_ccxt_at
from tradeguard.sim import SimulatorThread

SPOT = "BTC/USDT"
PERP = "BTC/USDT:USDT"
# Nothing skipped: the simulator must pass where ccxt holds real exchanges to account.
NO_SKIPS: dict[str, Any] = {}
# Binance's spot /api/v3/depth carries no time (only lastUpdateId), so neither does
# ccxt's order book; USD-M's has one and is checked.
SPOT_BOOK_SKIPS = {"timestamp": True, "datetime": True}


def set_price(sim: SimulatorThread, key: str, price: str) -> None:
    sim.call(lambda: sim.engine.set_price(key, Decimal(price), sim.server.now_ms()))


@pytest.fixture
async def plain(sim: SimulatorThread) -> AsyncIterator[Any]:
    """Unmodified ``ccxt.binance``: default options, only its URLs aimed at the sim."""
    exchange = ccxt_async.binance({"apiKey": "demo", "secret": "demo"})
    point_ccxt_at(exchange, sim.url)
    try:
        await exchange.load_markets()
        yield exchange
    finally:
        await exchange.close()


async def trade_some(exchange: Any, sim: SimulatorThread) -> None:
    """Fills on both venues, a price path with ups and downs, and resting orders."""
    await exchange.create_order(SPOT, "market", "buy", 0.01)
    set_price(sim, "spot:BTCUSDT", "60500")
    await exchange.create_order(SPOT, "market", "sell", 0.005)
    set_price(sim, "spot:BTCUSDT", "59700")
    await exchange.create_order(SPOT, "limit", "buy", 0.002, 59000)
    await exchange.create_order(SPOT, "limit", "sell", 0.002, 61000)
    # Large enough (notional above the wallet) to have a liquidation price: ccxt derives
    # a cross position's collateral from it.
    await exchange.create_order(PERP, "market", "buy", 2)
    set_price(sim, "usdm:BTCUSDT", "60800")
    await exchange.create_order(PERP, "limit", "buy", 0.01, 59000)


async def test_markets_and_currencies_pass_ccxt_validators(plain: Any) -> None:
    assert {SPOT, "ETH/USDT", PERP, "ETH/USDT:USDT"} <= set(plain.markets)
    for market in plain.markets.values():
        check_market(plain, NO_SKIPS, "loadMarkets", market)
    assert {"BTC", "ETH", "USDT"} <= set(plain.currencies)
    # ccxt adds BNFCR (a futures credit) from its own options, not from an answer.
    for code in ("BTC", "ETH", "USDT"):
        check_currency(plain, NO_SKIPS, "fetchCurrencies", plain.currencies[code])


async def test_tickers_pass_ccxt_validators(plain: Any, sim: SimulatorThread) -> None:
    await trade_some(plain, sim)
    for symbol in (SPOT, PERP):
        check_ticker(plain, NO_SKIPS, "fetchTicker", await plain.fetch_ticker(symbol), symbol)
    for symbol, ticker in (await plain.fetch_tickers([SPOT, "ETH/USDT"])).items():
        check_ticker(plain, NO_SKIPS, "fetchTickers", ticker, symbol)
    for symbol, ticker in (await plain.fetch_bids_asks([SPOT, "ETH/USDT"])).items():
        check_ticker(plain, NO_SKIPS, "fetchBidsAsks", ticker, symbol)
    for symbol, ticker in (await plain.fetch_bids_asks([PERP])).items():
        check_ticker(plain, NO_SKIPS, "fetchBidsAsks", ticker, symbol)
    for symbols in ([SPOT, "ETH/USDT"], [PERP]):
        for symbol, last in (await plain.fetch_last_prices(symbols)).items():
            check_last_price(plain, NO_SKIPS, "fetchLastPrices", last, symbol)


async def test_order_books_trades_and_candles_pass_ccxt_validators(
    plain: Any, sim: SimulatorThread
) -> None:
    await trade_some(plain, sim)
    now = plain.milliseconds()
    for symbol in (SPOT, PERP):
        book = await plain.fetch_order_book(symbol, 20)
        assert len(book["bids"]) == len(book["asks"]) == 20
        skips = SPOT_BOOK_SKIPS if symbol == SPOT else NO_SKIPS
        check_order_book(plain, skips, "fetchOrderBook", book, symbol)
        trades = await plain.fetch_trades(symbol)
        assert trades
        for trade in trades:
            check_trade(plain, NO_SKIPS, "fetchTrades", trade, symbol, now, True)
        for timeframe in ("1m", "1h", "1d"):
            candles = await plain.fetch_ohlcv(symbol, timeframe, None, 30)
            assert len(candles) == 30
            for candle in candles:
                check_ohlcv(plain, NO_SKIPS, "fetchOHLCV", candle, symbol, now)


async def test_orders_trades_balances_and_positions_pass_ccxt_validators(
    plain: Any, sim: SimulatorThread
) -> None:
    await trade_some(plain, sim)
    now = plain.milliseconds()
    for symbol in (SPOT, PERP):
        created = await plain.create_order(symbol, "limit", "buy", 0.01, 58000)
        check_order(plain, NO_SKIPS, "createOrder", created, symbol, now)
        check_order(
            plain, NO_SKIPS, "fetchOrder", await plain.fetch_order(created["id"], symbol),
            symbol, now,
        )
        for order in await plain.fetch_open_orders(symbol):
            check_order(plain, NO_SKIPS, "fetchOpenOrders", order, symbol, now)
        canceled = await plain.cancel_order(created["id"], symbol)
        check_order(plain, NO_SKIPS, "cancelOrder", canceled, symbol, now)
        for order in await plain.fetch_orders(symbol):
            check_order(plain, NO_SKIPS, "fetchOrders", order, symbol, now)
        trades = await plain.fetch_my_trades(symbol)
        assert trades
        for trade in trades:
            check_trade(plain, NO_SKIPS, "fetchMyTrades", trade, symbol, now, False)
    for params in ({}, {"type": "future"}):
        check_balance(plain, NO_SKIPS, "fetchBalance", await plain.fetch_balance(params))
    positions = await plain.fetch_positions([PERP])
    assert len(positions) == 1
    for position in positions:
        check_position(plain, NO_SKIPS, "fetchPositions", position, PERP, now)
    tiers = await plain.fetch_leverage_tiers([PERP])
    for tier in tiers[PERP]:
        check_leverage_tier(plain, NO_SKIPS, "fetchLeverageTiers", tier)

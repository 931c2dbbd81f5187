"""Binance's public market-data answers: tickers, order book, trades, candles.

Each endpoint has its own shape, as on Binance: ``ticker/price`` is symbol and price,
``ticker/bookTicker`` the best bid and ask, ``ticker/24hr`` the rolling 24h statistics
(USD-M's without the book fields). The order book is the simulator's liquidity model:
``depth_per_tick_quote`` of quote asset on every tick from the touch outwards (the
same depth a matching pass fills), plus the account's own resting orders.
"""

from __future__ import annotations

import json
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from typing import Any

from tradeguard.errors import SimulatorRejectionError
from tradeguard.sim.accounts import SimTrade
from tradeguard.sim.engine import Engine, round_to_step
from tradeguard.sim.marketdata import DAY_MS, Bar, interval_ms, summarize
from tradeguard.sim.markets import Market, fmt

__all__ = [
    "agg_trades",
    "book_ticker",
    "depth",
    "klines",
    "recent_trades",
    "select_markets",
    "ticker_24hr",
    "ticker_price",
]

Params = dict[str, str]
_PERCENT_PLACES = Decimal("0.001")


def _invalid_symbol() -> SimulatorRejectionError:
    return SimulatorRejectionError(-1121, "Invalid symbol.")


def _int_param(params: Params, name: str) -> int | None:
    text = params.get(name)
    if text is None or text == "":
        return None
    try:
        return int(text)
    except ValueError as exc:
        raise SimulatorRejectionError(
            -1100, f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]+$'."
        ) from exc


def _limit(params: Params, *, default: int, maximum: int) -> int:
    value = _int_param(params, "limit")
    if value is None:
        return default
    if value <= 0:
        raise SimulatorRejectionError(-1100, "Illegal characters found in parameter 'limit'.")
    return min(value, maximum)


def _market(engine: Engine, venue: str, params: Params) -> Market:
    symbol = params.get("symbol")
    if not symbol:
        raise SimulatorRejectionError(
            -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."
        )
    found = engine.markets.get(f"{venue}:{symbol}")
    if found is None:
        raise _invalid_symbol()
    return found


def select_markets(engine: Engine, venue: str, params: Params) -> tuple[list[Market], bool]:
    """The markets a ticker request names, and whether it asked for a single one.

    ``symbol`` gives one object; ``symbols`` (a JSON array) or nothing gives a list.
    """
    symbol = params.get("symbol")
    if symbol:
        return [_market(engine, venue, params)], True
    on_venue = [m for m in engine.markets.values() if m.venue == venue]
    symbols_text = params.get("symbols")
    if not symbols_text:
        return on_venue, False
    malformed = "Illegal characters found in parameter 'symbols'."
    try:
        wanted = json.loads(symbols_text)
    except ValueError as exc:
        raise SimulatorRejectionError(-1100, malformed) from exc
    if not isinstance(wanted, list) or not all(isinstance(s, str) for s in wanted):
        raise SimulatorRejectionError(-1100, malformed)
    by_symbol = {m.symbol: m for m in on_venue}
    if any(s not in by_symbol for s in wanted):
        raise _invalid_symbol()
    return [by_symbol[s] for s in wanted], False


# --- order book ------------------------------------------------------------------------


def _book_sides(
    engine: Engine, market: Market, levels: int
) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
    """Bids (descending) and asks (ascending): synthetic depth plus own resting orders."""
    mark = engine.prices[market.key]
    tick = market.tick_size

    def level_qty(price: Decimal) -> Decimal:
        qty = round_to_step(
            engine.config.depth_per_tick_quote / price, market.step_size, ROUND_DOWN
        )
        return max(qty, market.step_size)

    bids: dict[Decimal, Decimal] = {}
    asks: dict[Decimal, Decimal] = {}
    best_bid = engine.taker_price(market, "SELL", mark)
    best_ask = engine.taker_price(market, "BUY", mark)
    for i in range(levels):
        bid = best_bid - i * tick
        if bid >= market.min_price and bid > 0:
            bids[bid] = level_qty(bid)
        ask = best_ask + i * tick
        if ask <= market.max_price:
            asks[ask] = level_qty(ask)
    for order in engine.open_orders[market.key].values():
        if order.type == "MARKET" or order.remaining <= 0:
            continue
        side = bids if order.side == "BUY" else asks
        side[order.price] = side.get(order.price, Decimal(0)) + order.remaining
    bid_rows = sorted(bids.items(), reverse=True)[:levels]
    ask_rows = sorted(asks.items())[:levels]
    return bid_rows, ask_rows


def depth(engine: Engine, venue: str, params: Params, now_ms: int) -> dict[str, Any]:
    """GET /api/v3/depth and /fapi/v1/depth."""
    market = _market(engine, venue, params)
    if venue == "spot":
        levels = _limit(params, default=100, maximum=5000)
    else:
        levels = _limit(params, default=500, maximum=1000)
    bids, asks = _book_sides(engine, market, levels)
    doc: dict[str, Any] = {"lastUpdateId": engine.history.update_id}
    if venue == "usdm":
        doc["E"] = now_ms
        doc["T"] = now_ms
    doc["bids"] = [[fmt(p), fmt(q)] for p, q in bids]
    doc["asks"] = [[fmt(p), fmt(q)] for p, q in asks]
    return doc


def book_ticker(engine: Engine, venue: str, market: Market, now_ms: int) -> dict[str, Any]:
    """One row of GET ticker/bookTicker."""
    bids, asks = _book_sides(engine, market, 1)
    row: dict[str, Any] = {"symbol": market.symbol}
    row["bidPrice"], row["bidQty"] = (fmt(bids[0][0]), fmt(bids[0][1])) if bids else ("0", "0")
    row["askPrice"], row["askQty"] = (fmt(asks[0][0]), fmt(asks[0][1])) if asks else ("0", "0")
    if venue == "usdm":
        row["time"] = now_ms
        row["lastUpdateId"] = engine.history.update_id
    return row


# --- tickers -------------------------------------------------------------------------


def ticker_price(engine: Engine, venue: str, market: Market, now_ms: int) -> dict[str, Any]:
    """One row of GET ticker/price (USD-M's carries the time)."""
    row: dict[str, Any] = {"symbol": market.symbol, "price": fmt(engine.prices[market.key])}
    if venue == "usdm":
        row["time"] = now_ms
    return row


def _day(engine: Engine, market: Market, now_ms: int) -> Bar:
    current = engine.prices[market.key]
    return engine.history.bar(
        market.key, now_ms - DAY_MS, now_ms, current, engine.trades[market.key],
        closing=current,
    )


def ticker_24hr(engine: Engine, venue: str, market: Market, now_ms: int) -> dict[str, Any]:
    """One row of GET ticker/24hr: the rolling 24h window ending now."""
    day = _day(engine, market, now_ms)
    change = day.close - day.open
    percent = (change / day.open * 100).quantize(_PERCENT_PLACES, rounding=ROUND_HALF_EVEN)
    vwap = (
        round_to_step(day.quote_volume / day.volume, market.tick_size, ROUND_HALF_EVEN)
        if day.volume else Decimal(0)
    )
    row: dict[str, Any] = {
        "symbol": market.symbol,
        "priceChange": fmt(change),
        "priceChangePercent": fmt(percent),
        "weightedAvgPrice": fmt(vwap),
    }
    if venue == "spot":
        row["prevClosePrice"] = fmt(day.open)
    row["lastPrice"] = fmt(day.close)
    row["lastQty"] = fmt(day.last_qty)
    if venue == "spot":
        book = book_ticker(engine, venue, market, now_ms)
        row.update({k: book[k] for k in ("bidPrice", "bidQty", "askPrice", "askQty")})
    row.update({
        "openPrice": fmt(day.open),
        "highPrice": fmt(day.high),
        "lowPrice": fmt(day.low),
        "volume": fmt(day.volume),
        "quoteVolume": fmt(day.quote_volume),
        "openTime": day.open_ms,
        "closeTime": day.close_ms,
        "firstId": day.first_trade_id,
        "lastId": day.last_trade_id,
        "count": day.count,
    })
    return row


# --- trades and candles --------------------------------------------------------------


def _buyer_is_maker(trade: SimTrade) -> bool:
    # The account's fills are the only trades: it is the buyer when it bought.
    return (trade.side == "BUY") == trade.is_maker


def recent_trades(engine: Engine, venue: str, params: Params) -> list[dict[str, Any]]:
    """GET /api/v3/trades and /fapi/v1/trades: the newest ``limit`` trades."""
    market = _market(engine, venue, params)
    limit = _limit(params, default=500, maximum=1000)
    rows = []
    for trade in engine.trades[market.key][-limit:]:
        row: dict[str, Any] = {
            "id": trade.trade_id,
            "price": fmt(trade.price),
            "qty": fmt(trade.qty),
            "quoteQty": fmt(trade.quote_qty),
            "time": trade.time_ms,
            "isBuyerMaker": _buyer_is_maker(trade),
        }
        if venue == "spot":
            row["isBestMatch"] = True
        rows.append(row)
    return rows


def agg_trades(engine: Engine, venue: str, params: Params) -> list[dict[str, Any]]:
    """GET /api/v3/aggTrades and /fapi/v1/aggTrades (every fill is its own aggregate)."""
    market = _market(engine, venue, params)
    limit = _limit(params, default=500, maximum=1000)
    from_id = _int_param(params, "fromId")
    start = _int_param(params, "startTime")
    end = _int_param(params, "endTime")
    if start is not None and end is not None and end - start > 3_600_000:
        raise SimulatorRejectionError(
            -1127, "More than 1 hours between startTime and endTime."
        )
    rows = engine.trades[market.key]
    if from_id is not None:
        selected = [t for t in rows if t.trade_id >= from_id][:limit]
    elif start is not None or end is not None:
        selected = [
            t for t in rows
            if (start is None or t.time_ms >= start) and (end is None or t.time_ms <= end)
        ]
        selected = selected[:limit] if start is not None else selected[-limit:]
    else:
        selected = rows[-limit:]
    result = []
    for trade in selected:
        row: dict[str, Any] = {
            "a": trade.trade_id, "p": fmt(trade.price), "q": fmt(trade.qty),
            "f": trade.trade_id, "l": trade.trade_id, "T": trade.time_ms,
            "m": _buyer_is_maker(trade),
        }
        if venue == "spot":
            row["M"] = True
        result.append(row)
    return result


def klines(engine: Engine, venue: str, params: Params, now_ms: int) -> list[list[Any]]:
    """GET /api/v3/klines and /fapi/v1/klines."""
    market = _market(engine, venue, params)
    interval_name = params.get("interval")
    if not interval_name:
        raise SimulatorRejectionError(
            -1102, "Mandatory parameter 'interval' was not sent, was empty/null, or malformed."
        )
    length = interval_ms(interval_name)
    limit = _limit(params, default=500, maximum=1000 if venue == "spot" else 1500)
    start = _int_param(params, "startTime")
    end = _int_param(params, "endTime")
    if start is not None and end is not None and start > end:
        raise SimulatorRejectionError(-1023, "Start time is greater than end time.")
    bars = summarize(
        engine.history, market.key, interval=length, start_ms=start, end_ms=end,
        limit=limit, now_ms=now_ms, current=engine.prices[market.key],
        trades=engine.trades[market.key],
    )
    return [
        [
            bar.open_ms, fmt(bar.open), fmt(bar.high), fmt(bar.low), fmt(bar.close),
            fmt(bar.volume), bar.close_ms, fmt(bar.quote_volume), bar.count,
            fmt(bar.taker_buy_volume), fmt(bar.taker_buy_quote_volume), "0",
        ]
        for bar in bars
        if end is None or bar.open_ms <= end
    ]

"""Public market data of the simulator: mark-price history, 24h statistics, candles.

The simulator's "last price" is each market's mark. :class:`MarkHistory` keeps the
open/high/low/close of the mark per UTC minute (a bounded window, about a day); trade
volumes come from the engine's own trades, which are the only trades this exchange
has. Candles and 24h statistics merge both, so they obey what ccxt's validators and
Binance promise: low <= open, close <= high, every trade price inside [low, high],
quote volume between base volume * low and base volume * high.

Before the first recorded price move the mark is taken to have been flat at that
move's opening price (a fresh simulator has a flat, volume-less past); the history is
not saved in the state file, so a restarted simulator starts a new flat past at its
restored prices.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from decimal import Decimal

import msgspec

from tradeguard.errors import SimulatorRejectionError
from tradeguard.sim.accounts import SimTrade

__all__ = [
    "KLINE_INTERVALS_MS",
    "Bar",
    "MarkHistory",
    "bucket_start",
    "interval_ms",
    "summarize",
]

MINUTE_MS = 60_000
DAY_MS = 86_400_000
# Binance's weekly candles open on Monday 00:00 UTC; 1970-01-01 was a Thursday.
_WEEK_OFFSET_MS = 4 * DAY_MS
KLINE_INTERVALS_MS: dict[str, int] = {
    "1m": MINUTE_MS, "3m": 3 * MINUTE_MS, "5m": 5 * MINUTE_MS, "15m": 15 * MINUTE_MS,
    "30m": 30 * MINUTE_MS, "1h": 60 * MINUTE_MS, "2h": 120 * MINUTE_MS,
    "4h": 240 * MINUTE_MS, "6h": 360 * MINUTE_MS, "8h": 480 * MINUTE_MS,
    "12h": 720 * MINUTE_MS, "1d": DAY_MS, "3d": 3 * DAY_MS, "1w": 7 * DAY_MS,
}
# Minutes of mark history kept per market: a 24h window plus a margin.
KEEP_MINUTES = 1500


def interval_ms(name: str) -> int:
    """Length of a kline interval (``1m`` … ``1w``), or Binance's -1120."""
    found = KLINE_INTERVALS_MS.get(name)
    if found is None:
        raise SimulatorRejectionError(-1120, "Invalid interval.")
    return found


def bucket_start(time_ms: int, length_ms: int) -> int:
    """Open time of the candle of length ``length_ms`` that contains ``time_ms``."""
    offset = _WEEK_OFFSET_MS if length_ms == 7 * DAY_MS else 0
    return (time_ms - offset) // length_ms * length_ms + offset


class Bar(msgspec.Struct, kw_only=True):
    """Statistics of one time span: a candle, or the 24h ticker window."""

    open_ms: int
    close_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal = Decimal(0)
    quote_volume: Decimal = Decimal(0)
    count: int = 0
    taker_buy_volume: Decimal = Decimal(0)
    taker_buy_quote_volume: Decimal = Decimal(0)
    first_trade_id: int = -1
    last_trade_id: int = -1
    last_qty: Decimal = Decimal(0)


class MarkHistory:
    """Per-minute open/high/low/close of every market's mark price (bounded)."""

    def __init__(self, keep_minutes: int = KEEP_MINUTES) -> None:
        self._keep = keep_minutes
        # Per market: ascending minute open times, and [open, high, low, close] per minute.
        self._starts: dict[str, list[int]] = {}
        self._bars: dict[str, list[list[Decimal]]] = {}
        # Changes with every recorded move: the order book's lastUpdateId.
        self.update_id = 1

    def record(self, key: str, before: Decimal, after: Decimal, now_ms: int) -> None:
        """The mark of ``key`` moved from ``before`` to ``after`` at ``now_ms``."""
        self.update_id += 1
        minute = bucket_start(now_ms, MINUTE_MS)
        starts = self._starts.setdefault(key, [])
        bars = self._bars.setdefault(key, [])
        if starts and starts[-1] >= minute:
            # Same minute (or a clock set back: fold it into the newest minute, so the
            # history stays ascending).
            bar = bars[-1]
            bar[1] = max(bar[1], after)
            bar[2] = min(bar[2], after)
            bar[3] = after
            return
        starts.append(minute)
        bars.append([before, max(before, after), min(before, after), after])
        if len(starts) > self._keep + 100:
            del starts[:100]
            del bars[:100]

    def price_at(self, key: str, time_ms: int, current: Decimal) -> Decimal:
        """The mark at ``time_ms`` (to the minute): the last close before it."""
        starts = self._starts.get(key)
        if not starts:
            return current
        bars = self._bars[key]
        index = bisect.bisect_right(starts, time_ms) - 1
        if index < 0:
            return bars[0][0]  # before the first move: flat at its opening price
        if starts[index] + MINUTE_MS <= time_ms:
            return bars[index][3]
        return bars[index][0]

    def bar(
        self, key: str, start_ms: int, end_ms: int, current: Decimal,
        trades: Sequence[SimTrade], *, closing: Decimal | None = None,
    ) -> Bar:
        """Statistics of ``[start_ms, end_ms]`` from the mark history and ``trades``.

        ``trades`` must be ascending by time (the engine's trade list of ``key``);
        ``closing`` is the close of a span still in progress (the current mark).
        """
        opening = self.price_at(key, start_ms, current)
        if closing is None:
            closing = self.price_at(key, end_ms + 1, current)
        high = max(opening, closing)
        low = min(opening, closing)
        starts = self._starts.get(key, [])
        bars = self._bars.get(key, [])
        first = bisect.bisect_left(starts, bucket_start(start_ms, MINUTE_MS))
        last = bisect.bisect_right(starts, end_ms)
        for bar in bars[first:last]:
            high = max(high, bar[1])
            low = min(low, bar[2])
        result = Bar(
            open_ms=start_ms, close_ms=end_ms, open=opening, high=high, low=low,
            close=closing,
        )
        first_trade = bisect.bisect_left(trades, start_ms, key=_trade_time)
        last_trade = bisect.bisect_right(trades, end_ms, key=_trade_time)
        for trade in trades[first_trade:last_trade]:
            _add_trade(result, trade)
        return result


def _trade_time(trade: SimTrade) -> int:
    return trade.time_ms


def _add_trade(bar: Bar, trade: SimTrade) -> None:
    bar.high = max(bar.high, trade.price)
    bar.low = min(bar.low, trade.price)
    bar.volume += trade.qty
    bar.quote_volume += trade.quote_qty
    bar.count += 1
    if bar.first_trade_id < 0:
        bar.first_trade_id = trade.trade_id
    bar.last_trade_id = trade.trade_id
    bar.last_qty = trade.qty
    # The account's fills are the exchange's only trades: the taker is the buyer when
    # the account bought as taker or sold as maker.
    if (trade.side == "BUY") != trade.is_maker:
        bar.taker_buy_volume += trade.qty
        bar.taker_buy_quote_volume += trade.quote_qty


def summarize(
    history: MarkHistory, key: str, *, interval: int, start_ms: int | None,
    end_ms: int | None, limit: int, now_ms: int, current: Decimal,
    trades: Sequence[SimTrade],
) -> list[Bar]:
    """Candles of ``interval`` ms as Binance's klines select them.

    With ``start_ms`` the oldest ``limit`` candles from there; otherwise the newest
    ``limit`` up to ``end_ms`` (default now). The candle in progress is included; no
    candle opens after now.
    """
    last_open = bucket_start(min(end_ms if end_ms is not None else now_ms, now_ms), interval)
    if start_ms is not None:
        first_open = bucket_start(start_ms, interval)
        if first_open < start_ms:
            first_open += interval
        opens = range(first_open, min(last_open, first_open + (limit - 1) * interval) + 1,
                      interval)
    else:
        opens = range(last_open - (limit - 1) * interval, last_open + 1, interval)
    return [
        history.bar(
            key, open_ms, open_ms + interval - 1, current, trades,
            closing=current if open_ms + interval > now_ms else None,
        )
        for open_ms in opens
    ]

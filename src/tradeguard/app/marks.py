"""Mark prices for the dashboard, and the equity and append-latency series of its charts.

:class:`MarkBook` keeps the last mid price of each symbol the dashboard values (the
registered instruments, and ``ASSET/QUOTE`` for every balance asset the exchange lists),
refreshed by the runtime's ``marks`` job from the gateway's ticker. A price the exchange
did not give is unknown (None), never guessed. :class:`Series` is a bounded ring buffer
of samples taken by the same job. Both live on the event loop only.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from tradeguard.domain.enums import MarketKind
from tradeguard.domain.state import SessionState
from tradeguard.errors import TradeguardError
from tradeguard.exchange.gateway import ExchangeGateway
from tradeguard.logs import get_logger

__all__ = [
    "DEFAULT_VALUATION_ASSET",
    "Mark",
    "MarkBook",
    "Sample",
    "Series",
    "Valuation",
    "asset_price",
    "symbols_to_mark",
    "unrealized_pnl",
    "valuation_asset",
    "value_state",
]

_log = get_logger("tradeguard.app.marks")

DEFAULT_VALUATION_ASSET = "USDT"
_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Mark:
    """A symbol's mark (mid, else last) price and when the ticker was read."""

    price: Decimal
    ts_ns: int


class MarkBook:
    """Last known mark price per symbol; :meth:`refresh` asks the exchange."""

    def __init__(self) -> None:
        self.marks: dict[str, Mark] = {}
        self.last_error: str | None = None

    def price(self, symbol: str) -> Decimal | None:
        """The mark of ``symbol`` (None: never read)."""
        mark = self.marks.get(symbol)
        return None if mark is None else mark.price

    async def refresh(self, gateway: ExchangeGateway, symbols: Iterable[str]) -> int:
        """Read the ticker of each symbol; returns how many were refreshed.

        A symbol whose ticker fails keeps its last mark (its time says how old it is).
        The errors are kept in :attr:`last_error` and logged once when they start and
        once when they stop, never raised: the exchange being down is the health
        checks' finding, and a dashboard must not fill the log every few seconds.
        """
        wanted = list(dict.fromkeys(symbols))
        done = 0
        errors: list[str] = []
        for symbol in wanted:
            try:
                ticker = await gateway.fetch_ticker(symbol)
            except TradeguardError as exc:
                errors.append(f"{symbol}: {exc}")
                continue
            if ticker.mid is not None:
                self.marks[symbol] = Mark(ticker.mid, ticker.ts_ns or time.time_ns())
                done += 1
        error = "; ".join(errors) or None
        if error is not None and self.last_error is None:
            _log.warning("mark prices unavailable", error=error)
        elif error is None and self.last_error is not None:
            _log.info("mark prices available again", symbols=len(wanted))
        self.last_error = error
        return done


def valuation_asset(state: SessionState) -> str:
    """The asset equity is counted in: the most common quote of the instruments."""
    quotes = Counter(i.quote for i in state.instruments.values())
    return str(quotes.most_common(1)[0][0]) if quotes else DEFAULT_VALUATION_ASSET


def symbols_to_mark(state: SessionState, listed: Collection[str]) -> list[str]:
    """Instruments, non-flat positions, and ``ASSET/QUOTE`` of each balance asset that
    the exchange lists (``listed``), in that order."""
    quote = valuation_asset(state)
    wanted = [str(s) for s in state.instruments]
    wanted += [str(s) for s, p in state.positions.items() if p.size != _ZERO]
    for asset in state.balances:
        pair = f"{asset}/{quote}"
        if asset != quote and pair in listed:
            wanted.append(pair)
    return list(dict.fromkeys(wanted))


def unrealized_pnl(size: Decimal, entry_price: Decimal, mark: Decimal | None) -> Decimal | None:
    """PnL of holding ``size`` (signed) from ``entry_price`` at ``mark`` (None: unknown)."""
    if mark is None:
        return None
    return size * (mark - entry_price)


@dataclass(frozen=True, slots=True)
class Valuation:
    """Equity in ``asset``: balances at their marks plus perpetuals' unrealized PnL.

    ``unpriced`` lists what could not be valued (left out of ``equity``); ``equity`` is
    None when nothing could be valued at all.
    """

    asset: str
    equity: Decimal | None
    unpriced: tuple[str, ...]


def asset_price(asset: str, quote: str, marks: MarkBook) -> Decimal | None:
    """The price of one unit of ``asset`` in ``quote`` (1 for ``quote`` itself)."""
    if asset == quote:
        return Decimal(1)
    return marks.price(f"{asset}/{quote}")


def value_state(state: SessionState, marks: MarkBook) -> Valuation:
    """Equity of ``state`` at ``marks`` (see :class:`Valuation`)."""
    quote = valuation_asset(state)
    total = _ZERO
    priced = 0
    unpriced: list[str] = []
    for asset, balance in state.balances.items():
        if balance.total == _ZERO:
            continue
        price = asset_price(str(asset), quote, marks)
        if price is None:
            unpriced.append(str(asset))
            continue
        total += balance.total * price
        priced += 1
    for symbol, position in state.positions.items():
        instrument = state.instruments.get(symbol)
        if position.size == _ZERO or instrument is None:
            continue
        if instrument.kind is not MarketKind.PERPETUAL:
            continue  # a spot holding is in the balances already
        pnl = unrealized_pnl(position.size, position.entry_price, marks.price(str(symbol)))
        if pnl is None or instrument.quote != quote:
            unpriced.append(str(symbol))
            continue
        total += pnl
        priced += 1
    return Valuation(quote, total if priced else None, tuple(unpriced))


@dataclass(frozen=True, slots=True)
class Sample:
    """One point of the charts."""

    ts_ns: int
    equity: Decimal | None
    journal_append_p99_s: float | None


class Series:
    """The newest ``capacity`` samples, oldest first (a ring buffer)."""

    def __init__(self, capacity: int = 720) -> None:
        self._samples: deque[Sample] = deque(maxlen=capacity)

    def add(self, sample: Sample) -> None:
        self._samples.append(sample)

    def __len__(self) -> int:
        return len(self._samples)

    def columns(self) -> Mapping[str, list[object]]:
        """``ts_ns``, ``equity`` (decimal strings or None) and ``journal_append_p99_s``
        as equal-length lists, oldest first."""
        samples = list(self._samples)
        return {
            "ts_ns": [s.ts_ns for s in samples],
            "equity": [None if s.equity is None else str(s.equity) for s in samples],
            "journal_append_p99_s": [s.journal_append_p99_s for s in samples],
        }

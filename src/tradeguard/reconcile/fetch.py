"""Fetch an ``ExchangeSnapshot`` through an ``ExchangeGateway`` (the I/O half).

Every fetch is tried; one that raises a tradeguard ``ExchangeError`` is recorded in
``failures`` with its error and the rest continue, so one broken endpoint makes the
run incomplete instead of aborting it (and never makes it look clean). A list answer
with some unreadable records (``PartialAnswerError``: open orders, order history) is
used for the records that were readable, and each unreadable one is recorded as a
failure of its own, so one garbled order leaves just that order unchecked.

The order of the fetches matters for races with a live account:

1. markets, then every open order (this also says which symbols the exchange knows);
2. positions, then each symbol's trades after the journaled cursor, then positions
   again: a position that moved meanwhile is reported as not consistently fetched
   rather than compared (a fill landing between two fetches must not raise a flag);
3. balances;
4. reports of local orders that are no longer open: the order history when several
   are missing on one symbol, then one lookup by id for each order still missing.
   These come after the trades, so a finished order's report counts every fill of it.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Final, TypeVar

from tradeguard.domain.enums import MarketKind, OrderStatus
from tradeguard.domain.ids import ClientOrderId, ExchangeOrderId, Symbol
from tradeguard.domain.orders import OPEN_STATUSES, Order
from tradeguard.domain.state import SessionState
from tradeguard.errors import ExchangeError, OrderNotFoundError
from tradeguard.exchange.errors import PartialAnswerError
from tradeguard.exchange.gateway import ExchangeGateway
from tradeguard.exchange.reports import MarketInfo, OrderReport, PositionReport
from tradeguard.reconcile.snapshot import (
    ExchangeSnapshot,
    FetchFailure,
    OrderLookup,
    SymbolSnapshot,
)
from tradeguard.reconcile.trades import decode_cursor

__all__ = ["HISTORY_MARGIN_NS", "HISTORY_THRESHOLD", "fetch_snapshot", "symbols_to_check"]

T = TypeVar("T")

HISTORY_THRESHOLD: Final = 3
"""From this many missing orders on one symbol, one history query replaces lookups."""
HISTORY_MARGIN_NS: Final = 60_000_000_000
"""The history starts this long before the oldest missing order (clock differences)."""

_TRACKED: Final = OPEN_STATUSES | {OrderStatus.UNKNOWN}


def symbols_to_check(
    state: SessionState,
    extra: Iterable[str] = (),
    open_orders: Iterable[OrderReport] = (),
    positions: Iterable[PositionReport] = (),
) -> set[Symbol]:
    """Every symbol either side knows: instruments, orders, positions, trade cursors."""
    symbols = {Symbol(s) for s in extra}
    symbols.update(state.instruments)
    symbols.update(order.symbol for order in state.orders.values())
    symbols.update(s for s, p in state.positions.items() if not p.is_flat)
    symbols.update(state.trade_cursors)
    symbols.update(report.symbol for report in open_orders)
    symbols.update(p.symbol for p in positions if p.size != 0)
    return symbols


class _Fetcher:
    """Collects results and failures of one snapshot's fetches."""

    def __init__(self, gateway: ExchangeGateway) -> None:
        self.gateway = gateway
        self.failures: list[FetchFailure] = []

    async def attempt(
        self,
        what: str,
        call: Callable[[], Awaitable[T]],
        *,
        symbol: str | None = None,
        client_order_id: str | None = None,
    ) -> T | None:
        """The call's result, or None with the failure recorded."""
        try:
            return await call()
        except ExchangeError as exc:
            self.fail(what, exc, symbol=symbol, client_order_id=client_order_id)
            return None

    async def attempt_orders(
        self, what: str, call: Callable[[], Awaitable[T]], *, symbol: str | None = None
    ) -> T | list[OrderReport] | None:
        """Like ``attempt`` for a list of orders; a partly unreadable list gives its
        readable records, each unreadable one recorded as a failure of its own."""
        try:
            return await call()
        except PartialAnswerError as exc:
            for record in exc.unreadable:
                self.failures.append(
                    FetchFailure(
                        what=what,
                        symbol=record.symbol or symbol,
                        error=f"record {record.record_id or '(no id)'} unreadable: {record.error}",
                        error_type=type(exc).__name__,
                    )
                )
            return list(exc.reports)
        except ExchangeError as exc:
            self.fail(what, exc, symbol=symbol)
            return None

    def fail(
        self,
        what: str,
        exc: BaseException,
        *,
        symbol: str | None = None,
        client_order_id: str | None = None,
    ) -> None:
        """Record one failed fetch."""
        self.failures.append(
            FetchFailure(
                what=what,
                symbol=symbol,
                client_order_id=client_order_id,
                error=str(exc),
                error_type=type(exc).__name__,
            )
        )


async def fetch_snapshot(
    gateway: ExchangeGateway,
    state: SessionState,
    symbols: Iterable[str] = (),
    *,
    ts_now: int | None = None,
) -> ExchangeSnapshot:
    """Fetch what reconciling ``state`` needs; ``symbols`` adds symbols to look at.

    ``ts_now`` (default: now) is the snapshot's time; local orders changed after it
    are not judged against it.
    """
    ts = time.time_ns() if ts_now is None else ts_now
    fetcher = _Fetcher(gateway)
    markets: Mapping[str, MarketInfo] = (
        await fetcher.attempt("markets", gateway.load_markets) or {}
    )
    open_all = await fetcher.attempt_orders(
        "open_orders", lambda: gateway.fetch_open_orders(None)
    )
    wanted = symbols_to_check(state, symbols, open_all or ())
    perpetuals = sorted(
        {s for s, m in markets.items() if m.kind is MarketKind.PERPETUAL}
        | {s for s in wanted if _is_perpetual(state, markets, s)}
    )
    positions_before = await _positions(fetcher, perpetuals, markets)
    wanted |= symbols_to_check(state, positions=positions_before or ())
    parts: dict[Symbol, SymbolSnapshot] = {}
    for symbol in sorted(wanted):
        parts[symbol] = await _trades(fetcher, state, symbol, markets, open_all)
    positions = await _positions(fetcher, perpetuals, markets)
    positions = _consistent(fetcher, positions_before, positions)
    balances = await fetcher.attempt("balances", gateway.fetch_balances)
    lookups = await _missing_orders(fetcher, state, parts, ts, open_all is not None)
    return ExchangeSnapshot(
        ts_ns=ts,
        symbols=parts,
        balances=None if balances is None else tuple(balances),
        positions=None if positions is None else tuple(positions),
        position_symbols=tuple(Symbol(s) for s in perpetuals),
        lookups=tuple(lookups),
        failures=tuple(fetcher.failures),
    )


def _is_perpetual(state: SessionState, markets: Mapping[str, MarketInfo], symbol: str) -> bool:
    if symbol in markets:
        return markets[symbol].kind is MarketKind.PERPETUAL
    instrument = state.instruments.get(Symbol(symbol))
    if instrument is not None:
        return instrument.kind is MarketKind.PERPETUAL
    return ":" in symbol


async def _positions(
    fetcher: _Fetcher, perpetuals: list[str], markets: Mapping[str, MarketInfo]
) -> list[PositionReport] | None:
    # Only symbols the exchange lists can be asked for; others are caught by the diff.
    listed = [s for s in perpetuals if s in markets]
    if not listed:
        return [] if markets else None
    return await fetcher.attempt("positions", lambda: fetcher.gateway.fetch_positions(listed))


def _consistent(
    fetcher: _Fetcher,
    before: list[PositionReport] | None,
    after: list[PositionReport] | None,
) -> list[PositionReport] | None:
    """The positions, unless one moved while the trades were fetched (then: failure)."""
    if before is None or after is None:
        return None
    sizes = {p.symbol: p.size for p in before}
    moved = [p.symbol for p in after if sizes.get(p.symbol) != p.size]
    if moved:
        fetcher.fail(
            "positions",
            ExchangeError(
                f"positions of {', '.join(moved)} changed while trades were fetched; "
                "compared next time"
            ),
        )
        return None
    return after


async def _trades(
    fetcher: _Fetcher,
    state: SessionState,
    symbol: Symbol,
    markets: Mapping[str, MarketInfo],
    open_all: list[OrderReport] | None,
) -> SymbolSnapshot:
    kind = markets[symbol].kind if symbol in markets else None
    open_orders = (
        None if open_all is None else tuple(o for o in open_all if o.symbol == symbol)
    )
    try:
        cursor = decode_cursor(state.trade_cursors.get(symbol))
    except ValueError as exc:
        fetcher.fail("trades", exc, symbol=symbol)
        return SymbolSnapshot(symbol=symbol, kind=kind, open_orders=open_orders)
    page = await fetcher.attempt(
        "trades", lambda: fetcher.gateway.fetch_trades_since(symbol, cursor), symbol=symbol
    )
    return SymbolSnapshot(
        symbol=symbol,
        kind=kind,
        open_orders=open_orders,
        trades=None if page is None else page.trades,
        trade_cursor=None if page is None else page.cursor,
    )


def _missing(state: SessionState, parts: Mapping[Symbol, SymbolSnapshot], ts: int) -> list[Order]:
    """Local orders still tracked as working that the open-order list does not show."""
    seen_ids: set[tuple[Symbol, ExchangeOrderId]] = set()
    seen_clients: set[tuple[Symbol, ClientOrderId]] = set()
    for part in parts.values():
        for report in part.open_orders or ():
            seen_ids.add((report.symbol, report.exchange_order_id))
            if report.client_order_id is not None:
                seen_clients.add((report.symbol, report.client_order_id))
    missing = []
    for order in state.orders.values():
        if order.status not in _TRACKED or order.updated_ns > ts:
            continue
        if order.exchange_order_id is not None:
            if (order.symbol, order.exchange_order_id) in seen_ids:
                continue
        elif (order.symbol, order.client_order_id) in seen_clients:
            continue
        missing.append(order)
    return missing


async def _missing_orders(
    fetcher: _Fetcher,
    state: SessionState,
    parts: dict[Symbol, SymbolSnapshot],
    ts: int,
    open_fetched: bool,
) -> list[OrderLookup]:
    """History and lookups for local orders that left the open list (see the module doc)."""
    if not open_fetched:
        return []  # which orders are missing is unknown: the diff reports them unchecked
    by_symbol: dict[Symbol, list[Order]] = {}
    for order in _missing(state, parts, ts):
        by_symbol.setdefault(order.symbol, []).append(order)
    lookups: list[OrderLookup] = []
    for symbol in sorted(by_symbol):
        orders = by_symbol[symbol]
        if len(orders) >= HISTORY_THRESHOLD:
            orders = await _history(fetcher, parts, symbol, orders)
        for order in orders:
            lookup = await _lookup(fetcher, order)
            if lookup is not None:
                lookups.append(lookup)
    return lookups


async def _history(
    fetcher: _Fetcher, parts: dict[Symbol, SymbolSnapshot], symbol: Symbol, orders: list[Order]
) -> list[Order]:
    """Fetch the symbol's order history; returns the orders it did not cover."""
    since = min(order.created_ns for order in orders) - HISTORY_MARGIN_NS
    answer = await fetcher.attempt_orders(
        "orders", lambda: fetcher.gateway.fetch_orders_since(symbol, since), symbol=symbol
    )
    if answer is None:
        return orders  # fall back to one lookup each
    history = tuple(answer) if isinstance(answer, list) else answer.orders
    part = parts.get(symbol) or SymbolSnapshot(symbol=symbol)
    parts[symbol] = SymbolSnapshot(
        symbol=symbol,
        kind=part.kind,
        open_orders=part.open_orders,
        orders=history,
        orders_since_ns=since,
        trades=part.trades,
        trade_cursor=part.trade_cursor,
    )
    ids = {report.exchange_order_id for report in history}
    clients = {report.client_order_id for report in history}
    return [
        order
        for order in orders
        if order.exchange_order_id not in ids
        and (order.exchange_order_id is not None or order.client_order_id not in clients)
    ]


async def _lookup(fetcher: _Fetcher, order: Order) -> OrderLookup | None:
    """One order by exchange id (or client id); NOT_FOUND is an answer, not a failure."""
    try:
        report = await fetcher.gateway.fetch_order(
            order.symbol,
            exchange_order_id=order.exchange_order_id,
            client_order_id=None if order.exchange_order_id else order.client_order_id,
        )
    except OrderNotFoundError:
        return OrderLookup(client_order_id=order.client_order_id, symbol=order.symbol, report=None)
    except ExchangeError as exc:
        fetcher.fail("order", exc, symbol=order.symbol, client_order_id=order.client_order_id)
        return None
    return OrderLookup(client_order_id=order.client_order_id, symbol=order.symbol, report=report)

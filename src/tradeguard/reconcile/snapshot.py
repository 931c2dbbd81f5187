"""What one reconciliation fetched from the exchange: a frozen ``ExchangeSnapshot``.

The snapshot is pure data (reports from ``tradeguard.exchange.reports``), so the diff
can be tested without any exchange. Every fetch that failed is recorded in
``failures`` and leaves its part of the snapshot as ``None``: "not fetched" is never
confused with "empty" (fail closed, DESIGN.md principle 4).
"""

from __future__ import annotations

from collections.abc import Iterator

import msgspec

from tradeguard.domain.enums import MarketKind
from tradeguard.domain.ids import Asset, ClientOrderId, Symbol
from tradeguard.exchange.reports import (
    BalanceReport,
    OrderReport,
    PageCursor,
    PositionReport,
    TradeReport,
)

__all__ = [
    "ExchangeSnapshot",
    "FetchFailure",
    "OrderLookup",
    "SymbolSnapshot",
    "balance_key",
]


def balance_key(asset: str, kind: MarketKind) -> Asset:
    """The key an account balance is journaled under: the asset for the spot wallet,
    ``ASSET@perpetual`` for perpetual margin (the domain has one balance per key; a
    ``BalanceUpdated.account`` field would make this unnecessary)."""
    return Asset(asset if kind is MarketKind.SPOT else f"{asset}@{kind.value}")


class FetchFailure(msgspec.Struct, frozen=True, kw_only=True):
    """One fetch that failed: ``what`` (open_orders, orders, trades, balances,
    positions, order, markets), the symbol or order it concerned, and the error."""

    what: str
    symbol: str | None = None
    client_order_id: str | None = None
    error: str
    error_type: str


class OrderLookup(msgspec.Struct, frozen=True, kw_only=True):
    """One local order fetched on its own; ``report`` None means the exchange answered
    "no such order" (NOT_FOUND). A lookup that failed is a ``FetchFailure`` instead."""

    client_order_id: ClientOrderId
    symbol: Symbol
    report: OrderReport | None

    @property
    def found(self) -> bool:
        """True when the exchange knows the order."""
        return self.report is not None


class SymbolSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """Everything fetched for one symbol. ``None`` fields were not fetched (failed).

    ``orders`` is the order history since ``orders_since_ns`` (fetched only when
    local orders left the open list), ``trades`` every trade after the journaled trade
    cursor and ``trade_cursor`` the cursor positioned after them.
    """

    symbol: Symbol
    kind: MarketKind | None = None
    open_orders: tuple[OrderReport, ...] | None = None
    orders: tuple[OrderReport, ...] | None = None
    orders_since_ns: int | None = None
    trades: tuple[TradeReport, ...] | None = None
    trade_cursor: PageCursor | None = None


class ExchangeSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """The exchange's view at ``ts_ns`` (when fetching started), per symbol and account.

    ``balances``/``positions`` are None when their fetch failed; ``positions`` covers
    the perpetual symbols in ``position_symbols``. ``complete`` is False as soon as any
    fetch failed.
    """

    ts_ns: int
    symbols: dict[Symbol, SymbolSnapshot] = msgspec.field(default_factory=dict)
    balances: tuple[BalanceReport, ...] | None = None
    positions: tuple[PositionReport, ...] | None = None
    position_symbols: tuple[Symbol, ...] = ()
    lookups: tuple[OrderLookup, ...] = ()
    failures: tuple[FetchFailure, ...] = ()

    @property
    def complete(self) -> bool:
        """True only when every fetch succeeded."""
        return not self.failures

    def symbol(self, symbol: str) -> SymbolSnapshot | None:
        """The part fetched for ``symbol``, or None when it was not looked at."""
        return self.symbols.get(Symbol(symbol))

    def order_reports(self) -> Iterator[OrderReport]:
        """Every order report in the snapshot: open orders, history, then lookups."""
        for part in self.symbols.values():
            yield from part.open_orders or ()
            yield from part.orders or ()
        for lookup in self.lookups:
            if lookup.report is not None:
                yield lookup.report

"""The exchange gateway protocol: one interface, in tradeguard's terms, for any venue.

Everything returned is a report (``tradeguard.exchange.reports``), never a ccxt dict;
everything raised is a :class:`~tradeguard.errors.ExchangeError` subclass. What each
error means for an order is the contract the rest of tradeguard relies on:

- ``AmbiguousOutcomeError`` from ``create_order``: the order may exist. It becomes
  UNKNOWN and is settled by ``fetch_order(client_order_id=...)``; never resend blindly.
- ``AmbiguousOutcomeError`` from ``cancel_order``: the cancel may or may not have
  happened; the order itself is whatever the next fetch says.
- ``ExchangeUnavailableError`` from a read: nothing was learned; the check is "not done".
- ``InvalidOrderError``/``InsufficientFundsError``/``RateLimitedError``/
  ``AuthenticationError`` from a submit: the exchange refused it; no order exists.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

from tradeguard.domain.enums import OrderType, Side
from tradeguard.exchange.reports import (
    BalanceReport,
    MarketInfo,
    OrderReport,
    OrdersPage,
    PageCursor,
    PositionReport,
    TickerReport,
    TradesPage,
)

__all__ = ["ExchangeGateway"]


@runtime_checkable
class ExchangeGateway(Protocol):
    """Async access to one exchange account. Use as ``async with`` so it is closed."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def load_markets(self, *, reload: bool = False) -> Mapping[str, MarketInfo]:
        """Markets tradeguard can trade (spot, linear perpetuals), by unified symbol."""
        ...

    async def fetch_ticker(self, symbol: str) -> TickerReport:
        """Best bid, best ask and last price of one market."""
        ...

    async def fetch_balances(self) -> list[BalanceReport]:
        """Every asset's balance in every configured account kind."""
        ...

    async def fetch_positions(self, symbols: Iterable[str]) -> list[PositionReport]:
        """Net position of each perpetual symbol given (size 0 when flat)."""
        ...

    async def fetch_open_orders(self, symbol: str | None = None) -> list[OrderReport]:
        """Open orders of one symbol, or of every configured market kind."""
        ...

    async def fetch_order(
        self,
        symbol: str,
        *,
        exchange_order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> OrderReport:
        """One order by the exchange's id or by our client order id.

        Raises ``OrderNotFoundError`` when the exchange has no such order.
        """
        ...

    async def fetch_orders_since(
        self, symbol: str, cursor: PageCursor | int | None = None
    ) -> OrdersPage:
        """Orders created after ``cursor`` (or since a ns timestamp), every page."""
        ...

    async def fetch_trades_since(self, symbol: str, cursor: PageCursor | None = None) -> TradesPage:
        """Our trades after ``cursor``, every page, and the cursor to continue from."""
        ...

    async def create_order(
        self,
        symbol: str,
        side: Side,
        type: OrderType,
        amount: Decimal,
        price: Decimal | None = None,
        *,
        client_order_id: str,
        reduce_only: bool = False,
        trigger_price: Decimal | None = None,
    ) -> OrderReport:
        """Submit one order under our client order id; never retried on ambiguity.

        ``trigger_price`` is the stop price of a stop or take-profit ``type``.
        """
        ...

    async def cancel_order(
        self,
        symbol: str,
        *,
        exchange_order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> OrderReport:
        """Cancel one order; the report shows its state after the cancel."""
        ...

    async def fetch_time_ns(self) -> int:
        """The exchange's clock, in integer nanoseconds."""
        ...

    async def close(self) -> None:
        """Release connections. Safe to call twice."""
        ...

"""Whether the exchange answers: the outcome of every gateway call, kept for display and
health checks.

A session talks to the exchange only through its gateway. ``TrackedGateway`` wraps it
and reports each call's outcome to an ``ExchangeStatus``: an answer (even a refusal such
as "order not found" or "insufficient funds": the exchange is there) marks it reachable;
an error that means the request never got an answer (connection refused, timeout,
dropped connection, 5xx, maintenance) marks it unreachable from the first such failure
on, with the last error, until the next answer. The live table shows it ("exchange
unreachable since ..."), and ``health()`` gives the same facts as a frozen struct.

Each call is timed too: observers added with ``ExchangeStatus.add_request_observer``
(the metrics) hear ``(endpoint, seconds)`` for every request that went to the exchange,
answered or not; the endpoint is the gateway operation (``create_order``), never the
symbol or an id, so it stays a low-cardinality label.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from decimal import Decimal
from types import TracebackType
from typing import Any, Self, TypeVar

import msgspec

from tradeguard.domain.enums import OrderType, Side
from tradeguard.errors import AmbiguousOutcomeError, ExchangeUnavailableError
from tradeguard.exchange.gateway import ExchangeGateway
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

__all__ = [
    "ExchangeHealth",
    "ExchangeStatus",
    "RequestObserver",
    "TrackedGateway",
    "is_unreachable_error",
]

T = TypeVar("T")

RequestObserver = Callable[[str, float], None]
"""``observer(endpoint, seconds)``: told of every exchange request once it ended."""

# Errors after which nothing was heard from the exchange. Everything else the gateway
# raises (rejections, not found, rate limits, bad keys) is an answer from it.
_UNREACHABLE: tuple[type[BaseException], ...] = (
    ExchangeUnavailableError,
    AmbiguousOutcomeError,
    OSError,
    TimeoutError,
)


def is_unreachable_error(exc: BaseException) -> bool:
    """True when ``exc`` means the exchange did not answer at all."""
    return isinstance(exc, _UNREACHABLE)


class ExchangeHealth(msgspec.Struct, frozen=True, kw_only=True):
    """The exchange connection at a glance (times in integer ns since the epoch).

    ``reachable`` is None before the first call. While unreachable,
    ``unreachable_since_ns`` is the first failure of the current outage and
    ``last_error`` the newest one; ``last_error`` stays after recovery, for the record.
    """

    reachable: bool | None
    unreachable_since_ns: int | None
    last_error: str | None
    last_error_ns: int | None
    last_answer_ns: int | None
    consecutive_failures: int
    calls: int
    failures: int


class ExchangeStatus:
    """Mutable tracker of exchange call outcomes; ``health()`` returns a snapshot."""

    def __init__(self, clock_ns: Callable[[], int] = time.time_ns) -> None:
        self._clock_ns = clock_ns
        self.reachable: bool | None = None
        self.unreachable_since_ns: int | None = None
        self.last_error: str | None = None
        self.last_error_ns: int | None = None
        self.last_answer_ns: int | None = None
        self.consecutive_failures = 0
        self.calls = 0
        self.failures = 0
        self._observers: list[RequestObserver] = []

    def add_request_observer(self, observer: RequestObserver) -> None:
        """Tell ``observer(endpoint, seconds)`` of every request from now on (on the
        caller's loop; it must be quick, and an exception from it is ignored)."""
        self._observers.append(observer)

    def observe_request(self, endpoint: str, seconds: float) -> None:
        """One request to ``endpoint`` took ``seconds`` (answered or not)."""
        for observer in tuple(self._observers):
            with contextlib.suppress(Exception):
                observer(endpoint, seconds)

    def record_answer(self) -> None:
        """The exchange answered (success or a definite refusal)."""
        self.calls += 1
        self.reachable = True
        self.unreachable_since_ns = None
        self.consecutive_failures = 0
        self.last_answer_ns = self._clock_ns()

    def record_failure(self, operation: str, exc: BaseException) -> None:
        """A call got no answer; the outage starts at the first such failure."""
        now = self._clock_ns()
        self.calls += 1
        self.failures += 1
        self.consecutive_failures += 1
        if self.reachable is not False:
            self.unreachable_since_ns = now
        self.reachable = False
        self.last_error = f"{operation}: {' '.join(str(exc).split()) or type(exc).__name__}"
        self.last_error_ns = now

    def record(self, operation: str, exc: BaseException | None) -> None:
        """Record one call's outcome (``exc`` None: it succeeded)."""
        if exc is not None and is_unreachable_error(exc):
            self.record_failure(operation, exc)
        else:
            self.record_answer()

    def health(self) -> ExchangeHealth:
        """A frozen snapshot of the current facts (for health checks and JSON)."""
        return ExchangeHealth(
            reachable=self.reachable,
            unreachable_since_ns=self.unreachable_since_ns,
            last_error=self.last_error,
            last_error_ns=self.last_error_ns,
            last_answer_ns=self.last_answer_ns,
            consecutive_failures=self.consecutive_failures,
            calls=self.calls,
            failures=self.failures,
        )


class TrackedGateway:
    """An ``ExchangeGateway`` that reports every call's outcome to an ``ExchangeStatus``.

    It changes nothing else: arguments, results and errors pass through as they are.
    Attributes it does not define (e.g. ``exchange_id``) are read from the wrapped one.
    """

    def __init__(self, inner: ExchangeGateway, status: ExchangeStatus) -> None:
        self.inner = inner
        self.status = status
        self._markets_loaded = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def _track(self, operation: str, call: Awaitable[T], *, remote: bool = True) -> T:
        """Await ``call`` and record its outcome. ``remote`` False: a success may have
        been answered from a local cache (markets loaded before, no symbols to ask
        about), which proves nothing about the exchange; only a failure is recorded.
        Every recorded call is also timed (``ExchangeStatus.observe_request``)."""
        endpoint = operation.partition(" ")[0]
        began = time.perf_counter()
        try:
            result = await call
        except BaseException as exc:
            if isinstance(exc, Exception):
                self.status.observe_request(endpoint, time.perf_counter() - began)
                self.status.record(operation, exc)
            raise
        if remote:
            self.status.observe_request(endpoint, time.perf_counter() - began)
            self.status.record(operation, None)
        return result

    async def __aenter__(self) -> Self:
        await self.inner.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.inner.__aexit__(exc_type, exc, tb)

    async def load_markets(self, *, reload: bool = False) -> Mapping[str, MarketInfo]:
        """See ``ExchangeGateway.load_markets``."""
        first = not self._markets_loaded
        markets = await self._track(
            "load_markets", self.inner.load_markets(reload=reload), remote=reload or first
        )
        self._markets_loaded = True
        return markets

    async def fetch_ticker(self, symbol: str) -> TickerReport:
        """See ``ExchangeGateway.fetch_ticker``."""
        return await self._track(f"fetch_ticker {symbol}", self.inner.fetch_ticker(symbol))

    async def fetch_balances(self) -> list[BalanceReport]:
        """See ``ExchangeGateway.fetch_balances``."""
        return await self._track("fetch_balances", self.inner.fetch_balances())

    async def fetch_positions(self, symbols: Iterable[str]) -> list[PositionReport]:
        """See ``ExchangeGateway.fetch_positions``."""
        wanted = list(symbols)
        return await self._track(
            "fetch_positions", self.inner.fetch_positions(wanted), remote=bool(wanted)
        )

    async def fetch_open_orders(self, symbol: str | None = None) -> list[OrderReport]:
        """See ``ExchangeGateway.fetch_open_orders``."""
        return await self._track(
            f"fetch_open_orders {symbol or ''}".rstrip(), self.inner.fetch_open_orders(symbol)
        )

    async def fetch_order(
        self,
        symbol: str,
        *,
        exchange_order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> OrderReport:
        """See ``ExchangeGateway.fetch_order``."""
        return await self._track(
            f"fetch_order {symbol}",
            self.inner.fetch_order(
                symbol, exchange_order_id=exchange_order_id, client_order_id=client_order_id
            ),
        )

    async def fetch_orders_since(
        self, symbol: str, cursor: PageCursor | int | None = None
    ) -> OrdersPage:
        """See ``ExchangeGateway.fetch_orders_since``."""
        return await self._track(
            f"fetch_orders_since {symbol}", self.inner.fetch_orders_since(symbol, cursor)
        )

    async def fetch_trades_since(self, symbol: str, cursor: PageCursor | None = None) -> TradesPage:
        """See ``ExchangeGateway.fetch_trades_since``."""
        return await self._track(
            f"fetch_trades_since {symbol}", self.inner.fetch_trades_since(symbol, cursor)
        )

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
        """See ``ExchangeGateway.create_order``."""
        return await self._track(
            f"create_order {symbol}",
            self.inner.create_order(
                symbol,
                side,
                type,
                amount,
                price,
                client_order_id=client_order_id,
                reduce_only=reduce_only,
                trigger_price=trigger_price,
            ),
        )

    async def cancel_order(
        self,
        symbol: str,
        *,
        exchange_order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> OrderReport:
        """See ``ExchangeGateway.cancel_order``."""
        return await self._track(
            f"cancel_order {symbol}",
            self.inner.cancel_order(
                symbol, exchange_order_id=exchange_order_id, client_order_id=client_order_id
            ),
        )

    async def fetch_time_ns(self) -> int:
        """See ``ExchangeGateway.fetch_time_ns``."""
        return await self._track("fetch_time_ns", self.inner.fetch_time_ns())

    async def close(self) -> None:
        """Close the wrapped gateway."""
        await self.inner.close()

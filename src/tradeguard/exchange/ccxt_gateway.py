"""``CcxtGateway``: the exchange gateway over ``ccxt.async_support``, for any ccxt id.

Pointing it somewhere:

- **the simulator** (or any Binance-compatible server): ``url_override=
  "http://127.0.0.1:PORT"`` rewrites every entry of ``exchange.urls['api']`` to that
  host, keeping each path. Never combine with ``sandbox`` (ccxt's sandbox mode swaps
  the URLs for the testnet's).
- **a real exchange**: ``CcxtGateway.from_env("binance", api_key_env=...,
  api_secret_env=...)`` reads the key and secret from environment variables by name;
  ``sandbox=True`` uses the exchange's testnet where ccxt knows one.

Safety rules built in: ccxt's automatic retries are off (``maxRetriesOnFailure`` 0) and
a submit is never retried by this class after an unclear failure, because a re-sent
POST is how orders get duplicated. The one retry is after a timestamp rejection
(Binance -1021, ccxt ``InvalidNonce``): the exchange checks the timestamp before it
processes anything, so the first request provably did nothing; the time difference is
reloaded and the request sent once more. Credentials never appear in ``repr``, logs or
error messages.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from decimal import Decimal
from functools import partial
from types import MappingProxyType, TracebackType
from typing import Any, Self, TypeVar

import msgspec
from ccxt.base import errors as ccxt_errors

from tradeguard.domain.enums import MarketKind, OrderType, Side
from tradeguard.domain.ids import ClientOrderId, Symbol
from tradeguard.errors import (
    AmbiguousOutcomeError,
    ConfigError,
    ExchangeError,
    InvalidOrderError,
)
from tradeguard.exchange.ccxt_client import build_exchange, open_session
from tradeguard.exchange.config import ExchangeConfig
from tradeguard.exchange.errors import (
    PARSE_FAILURES,
    CallKind,
    PartialAnswerError,
    UnreadableRecord,
    describe_call,
    translate_error,
)
from tradeguard.exchange.orders import ccxt_order_type, validate_order
from tradeguard.exchange.pacing import TokenBucket
from tradeguard.exchange.paging import FetchPage, fetch_all_by_id, fetch_all_by_time
from tradeguard.exchange.parsing import (
    ms_to_ns,
    parse_balances,
    parse_market,
    parse_order,
    parse_position,
    parse_ticker,
    parse_trade,
)
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

__all__ = ["CcxtGateway"]

T = TypeVar("T")

# ccxt's (type, subType) parameters selecting the account of each market kind.
_KIND_PARAMS: Mapping[str, tuple[MarketKind, dict[str, str]]] = {
    "spot": (MarketKind.SPOT, {"type": "spot"}),
    "linear": (MarketKind.PERPETUAL, {"type": "swap", "subType": "linear"}),
}
# Exchanges whose order and trade histories page exactly by id (orderId / fromId).
_ID_PAGED = frozenset({"binance", "binanceusdm"})
# Errors a ccxt call can end with, whatever the response looked like.
_CAUGHT: tuple[type[BaseException], ...] = (ccxt_errors.BaseError, OSError, *PARSE_FAILURES)
# A submit's response that cannot be read: the order may exist.
_UNREADABLE: tuple[type[Exception], ...] = (ExchangeError, *PARSE_FAILURES)


class CcxtGateway:
    """:class:`~tradeguard.exchange.gateway.ExchangeGateway` over a ccxt exchange class.

    ``markets`` names the ccxt market types to load and account kinds to query:
    ``"spot"`` and/or ``"linear"`` (USD-margined perpetuals). ``rate_limit_per_s``:
    None = the exchange's published rate for real endpoints and no pacing for a URL
    override, 0 = no pacing. ``page_limit`` is the page size of history queries.
    """

    def __init__(
        self,
        exchange_id: str,
        *,
        api_key: str,
        secret: str,
        url_override: str | None = None,
        sandbox: bool = False,
        markets: Iterable[str] = ("spot", "linear"),
        timeout_ms: int = 10_000,
        rate_limit_per_s: float | None = None,
        rate_limit_burst: int = 10,
        page_limit: int = 500,
        page_by_id: bool | None = None,
    ) -> None:
        self.exchange_id = exchange_id
        self.url_override = url_override or None
        self.sandbox = sandbox
        self.market_types = tuple(markets)
        self.page_limit = page_limit
        self.page_by_id = exchange_id in _ID_PAGED if page_by_id is None else page_by_id
        unknown = [name for name in self.market_types if name not in _KIND_PARAMS]
        if unknown or not self.market_types:
            raise ConfigError(f"exchange.markets must be 'spot' and/or 'linear', got {unknown}")
        self._secrets = (api_key, secret)
        self._exchange: Any = build_exchange(
            exchange_id,
            api_key=api_key,
            secret=secret,
            url_override=self.url_override,
            sandbox=sandbox,
            market_types=self.market_types,
            timeout_ms=timeout_ms,
        )
        if rate_limit_per_s is None:
            rate_limit_per_s = 0 if self.url_override else 1000 / float(self._exchange.rateLimit)
        self._pacer = TokenBucket(rate_limit_per_s, rate_limit_burst) if rate_limit_per_s else None
        self._markets: dict[str, MarketInfo] | None = None
        self._closed = False

    @classmethod
    def from_env(
        cls,
        exchange_id: str,
        *,
        api_key_env: str,
        api_secret_env: str,
        environ: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> Self:
        """A gateway whose key and secret come from the named environment variables."""
        env = os.environ if environ is None else environ
        missing = [name for name in (api_key_env, api_secret_env) if not env.get(name)]
        if missing:
            raise ConfigError(
                f"exchange credentials: environment variable(s) {', '.join(missing)} not set"
            )
        return cls(exchange_id, api_key=env[api_key_env], secret=env[api_secret_env], **kwargs)

    @classmethod
    def from_config(cls, config: ExchangeConfig, environ: Mapping[str, str] | None = None) -> Self:
        """A gateway as the ``[exchange]`` table of the config file describes it."""
        return cls.from_env(
            config.id,
            api_key_env=config.api_key_env,
            api_secret_env=config.api_secret_env,
            environ=environ,
            url_override=config.url or None,
            sandbox=config.sandbox,
            markets=config.markets,
            timeout_ms=config.timeout_ms,
            rate_limit_per_s=config.rate_limit_per_s,
            rate_limit_burst=config.rate_limit_burst,
            page_limit=config.page_limit,
        )

    def __repr__(self) -> str:
        where = self.url_override or ("sandbox" if self.sandbox else "live")
        return (
            f"CcxtGateway(exchange_id={self.exchange_id!r}, url={where!r}, "
            f"markets={self.market_types!r}, pacer={self._pacer!r})"
        )

    @property
    def account_fingerprint(self) -> str:
        """Which account this gateway trades: a hash of the API key, never the key.

        Stored in the journal (``AccountBound``) so a store is never reconciled against
        another account by mistake. A rotated key looks like another account.
        """
        digest = hashlib.sha256(b"tradeguard-account-v1:" + self._secrets[0].encode())
        return "key-sha256:" + digest.hexdigest()[:16]

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close ccxt's HTTP session. Safe to call twice."""
        if not self._closed:
            self._closed = True
            await self._exchange.close()

    # --- the one place ccxt is called -------------------------------------------------

    async def _call(
        self,
        call: str,
        kind: CallKind,
        request: Callable[[], Awaitable[T]],
        *,
        symbol: str | None = None,
        client_order_id: str | None = None,
    ) -> T:
        """Run one ccxt request with pacing, time sync on -1021 and error translation."""
        if self._closed:
            raise ExchangeError(f"{describe_call(self.exchange_id, call, symbol, None)}: closed")
        synced = False
        while True:
            if self._pacer is not None:
                await self._pacer.acquire()
            open_session(self._exchange)
            try:
                return await request()
            except ccxt_errors.InvalidNonce as exc:
                # Rejected before processing (see the module docstring): safe to resend
                # once, even a submit, after loading the exchange's clock offset.
                if synced:
                    raise self._translate(exc, call, kind, symbol, client_order_id) from exc
                synced = True
                await self._call(
                    f"{call} (time sync)", CallKind.READ, self._exchange.load_time_difference
                )
            except _CAUGHT as exc:
                raise self._translate(exc, call, kind, symbol, client_order_id) from exc

    def _translate(
        self,
        exc: BaseException,
        call: str,
        kind: CallKind,
        symbol: str | None,
        client_order_id: str | None,
    ) -> ExchangeError:
        return translate_error(
            exc,
            exchange=self.exchange_id,
            call=call,
            kind=kind,
            symbol=symbol,
            client_order_id=client_order_id,
            secrets=self._secrets,
        )

    # --- markets, account ----------------------------------------------------------------

    async def load_markets(self, *, reload: bool = False) -> Mapping[str, MarketInfo]:
        """Markets tradeguard can trade (spot, linear perpetuals), by unified symbol."""
        if self._markets is None or reload:
            # ccxt keeps the markets of a load whose answer we refused: without ours,
            # always fetch afresh, so a retry after a garbled answer asks again.
            raw = await self._call(
                "load_markets", CallKind.READ, lambda: self._exchange.load_markets(True)
            )
            mode = int(self._exchange.precisionMode)
            parsed = [
                self._parse(parse_market, market, precision_mode=mode, call="load_markets")
                for market in raw.values()
            ]
            self._markets = {info.symbol: info for info in parsed if info is not None}
        return MappingProxyType(self._markets)

    async def market(self, symbol: str) -> MarketInfo:
        """One market's info; ``ExchangeError`` if the exchange does not list it."""
        markets = await self.load_markets()
        if symbol not in markets:
            raise ExchangeError(f"{self.exchange_id}: unknown or unsupported symbol {symbol!r}")
        return markets[symbol]

    async def fetch_ticker(self, symbol: str) -> TickerReport:
        """Best bid, best ask and last price of one market (Binance: the book ticker)."""
        raw = await self._call(
            "fetch_ticker", CallKind.READ, lambda: self._exchange.fetch_ticker(symbol),
            symbol=symbol,
        )
        report = self._parse(parse_ticker, raw, now_ns=time.time_ns(), call="fetch_ticker")
        # ccxt resolves the answer's market id (BTCUSDT is both spot and USD-M) by host,
        # which a URL override hides: the market we asked for is the one answered.
        if report.symbol != symbol:
            report = msgspec.structs.replace(report, symbol=Symbol(symbol))
        return report

    async def fetch_balances(self) -> list[BalanceReport]:
        """Every asset's balance in each configured account (spot wallet, USD-M margin)."""
        reports: list[BalanceReport] = []
        for name in self.market_types:
            kind, params = _KIND_PARAMS[name]
            raw = await self._call(
                "fetch_balance", CallKind.READ, partial(self._exchange.fetch_balance, params)
            )
            reports.extend(self._parse(parse_balances, raw, kind=kind, call="fetch_balance"))
        return reports

    async def fetch_positions(self, symbols: Iterable[str]) -> list[PositionReport]:
        """Net position of each perpetual symbol given; flat ones are reported as size 0."""
        wanted = list(dict.fromkeys(symbols))
        for symbol in wanted:
            if (await self.market(symbol)).kind is not MarketKind.PERPETUAL:
                raise ExchangeError(
                    f"{self.exchange_id} fetch_positions: {symbol} is not a perpetual"
                )
        if not wanted:
            return []
        raw = await self._call(
            "fetch_positions", CallKind.READ, lambda: self._exchange.fetch_positions(wanted)
        )
        found: dict[str, PositionReport] = {}
        for row in raw:
            report = self._parse(parse_position, row, call="fetch_positions")
            if report.symbol not in wanted or report.size == 0:
                continue
            if report.symbol in found:  # hedge mode: a long and a short leg
                raise ExchangeError(
                    f"{self.exchange_id} fetch_positions {report.symbol}: two positions "
                    "(hedge mode) are not supported; switch the account to one-way mode"
                )
            found[report.symbol] = report
        return [
            found.get(symbol)
            or PositionReport(
                symbol=Symbol(symbol),
                size=Decimal(0),
                entry_price=Decimal(0),
                mark_price=None,
                unrealized_pnl=Decimal(0),
                leverage=None,
            )
            for symbol in wanted
        ]

    async def fetch_time_ns(self) -> int:
        """The exchange's clock, in integer nanoseconds."""
        ms = await self._call("fetch_time", CallKind.READ, self._exchange.fetch_time)
        return ms_to_ns(ms, field="serverTime", call="fetch_time")

    def _parse(self, parser: Callable[..., T], raw: Any, **kwargs: Any) -> T:
        """Run a pure parser; a garbled payload (ccxt let it through) names the call."""
        try:
            return parser(raw, **kwargs)
        except ExchangeError as exc:
            raise ExchangeError(f"{self.exchange_id} {exc}") from exc
        except PARSE_FAILURES as exc:
            call = kwargs.get("call", "parse")
            raise ExchangeError(f"{self.exchange_id} {call}: unreadable payload ({exc!r})") from exc

    # --- orders ---------------------------------------------------------------------

    def _order(self, raw: Any, call: str) -> OrderReport:
        return self._parse(parse_order, raw, now_ns=time.time_ns(), call=call)

    def _orders(self, rows: Any, call: str, symbol: str | None = None) -> list[OrderReport]:
        """Every record of a list answer, each validated on its own.

        One unreadable record (an unknown status, a garbled id) must not hide the
        others: they are all parsed, and if any failed, ``PartialAnswerError`` carries
        the good reports and one line per bad record.
        """
        if not isinstance(rows, list):
            raise ExchangeError(f"{self.exchange_id} {call}: answer is not a list: {rows!r:.80}")
        reports: list[OrderReport] = []
        bad: list[UnreadableRecord] = []
        for row in rows:
            try:
                reports.append(self._order(row, call))
            except ExchangeError as exc:
                where = row if isinstance(row, Mapping) else {}
                bad.append(
                    UnreadableRecord(
                        symbol=_text_or_none(where.get("symbol")) or symbol,
                        record_id=_text_or_none(where.get("id")),
                        error=str(exc),
                    )
                )
        if bad:
            what = describe_call(self.exchange_id, call, symbol, None)
            raise PartialAnswerError(
                f"{what}: {len(bad)} of {len(rows)} records unreadable; first: {bad[0].error}",
                reports=reports,
                unreadable=bad,
            )
        return reports

    async def fetch_open_orders(self, symbol: str | None = None) -> list[OrderReport]:
        """Open orders of one symbol, or of every configured account kind."""
        if symbol is not None:
            raw = await self._call(
                "fetch_open_orders",
                CallKind.READ,
                lambda: self._exchange.fetch_open_orders(symbol),
                symbol=symbol,
            )
            return self._orders(raw, "fetch_open_orders", symbol)
        reports: dict[str, OrderReport] = {}
        bad: list[PartialAnswerError] = []
        for name in self.market_types:
            params = _KIND_PARAMS[name][1]
            raw = await self._call(
                "fetch_open_orders",
                CallKind.READ,
                partial(self._exchange.fetch_open_orders, None, None, None, params),
            )
            try:
                parsed = self._orders(raw, "fetch_open_orders")
            except PartialAnswerError as exc:
                bad.append(exc)
                parsed = list(exc.reports)
            for report in parsed:
                reports[f"{report.symbol}#{report.exchange_order_id}"] = report
        if bad:
            raise PartialAnswerError(
                "; ".join(str(exc) for exc in bad),
                reports=list(reports.values()),
                unreadable=[record for exc in bad for record in exc.unreadable],
            )
        return list(reports.values())

    async def fetch_order(
        self,
        symbol: str,
        *,
        exchange_order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> OrderReport:
        """One order by exchange id (preferred when both are given) or client order id."""
        params = _order_ref_params("fetch_order", exchange_order_id, client_order_id)
        raw = await self._call(
            "fetch_order",
            CallKind.READ,
            lambda: self._exchange.fetch_order(exchange_order_id, symbol, params),
            symbol=symbol,
            client_order_id=client_order_id,
        )
        report = self._order(raw, "fetch_order")
        _check_answers_for(
            report,
            symbol,
            exchange_order_id,
            None if exchange_order_id is not None else client_order_id,
            call=f"{self.exchange_id} fetch_order",
        )
        return report

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
        """Submit one order under our client order id; sent at most once (plus -1021).

        Checked locally first (``InvalidOrderError``, nothing sent): known market, a
        limit price for limit orders only, amount and price on the market's step and
        tick (ccxt would silently truncate them), reduce-only only on perpetuals, a
        trigger price for (spot) stop and take-profit orders only.
        """
        prefix = describe_call(self.exchange_id, "create_order", symbol, client_order_id)
        markets = await self.load_markets()
        if symbol not in markets:
            raise InvalidOrderError(f"{prefix}: not sent: unknown or unsupported symbol")
        validate_order(
            markets[symbol],
            type,
            amount,
            price,
            reduce_only=reduce_only,
            context=prefix,
            trigger_price=trigger_price,
        )
        ccxt_type, trigger_params = ccxt_order_type(type, trigger_price)
        params: dict[str, Any] = {"clientOrderId": client_order_id, **trigger_params}
        if reduce_only:
            params["reduceOnly"] = True
        raw = await self._call(
            "create_order",
            CallKind.SUBMIT,
            lambda: self._exchange.create_order(
                symbol,
                ccxt_type,
                side.value,
                # Decimal text, exact: ccxt's amount/price_to_precision take strings.
                str(amount),
                None if price is None else str(price),
                params,
            ),
            symbol=symbol,
            client_order_id=client_order_id,
        )
        if not isinstance(raw, Mapping) or raw.get("id") in (None, ""):
            # ccxt turns an unreadable 200 into an order without id: it may exist.
            raise AmbiguousOutcomeError(f"{prefix}: outcome unknown (response without order id)")
        # A malformed acknowledgement (order id 0, a negative amount, an unknown status)
        # is never adopted: the order may exist, so it becomes UNKNOWN and is settled by
        # its client order id, whatever id the garbled answer carried.
        try:
            report = parse_order(raw, now_ns=time.time_ns(), call="create_order")
        except _UNREADABLE as exc:
            raise AmbiguousOutcomeError(
                f"{prefix}: outcome unknown, malformed acknowledgement ({exc})"
            ) from exc
        if report.client_order_id not in (None, client_order_id) or report.symbol != symbol:
            raise AmbiguousOutcomeError(
                f"{prefix}: outcome unknown, the acknowledgement names another order "
                f"(client_order_id={report.client_order_id!r}, symbol={report.symbol!r})"
            )
        if report.client_order_id is None:
            report = msgspec.structs.replace(report, client_order_id=ClientOrderId(client_order_id))
        return report

    async def cancel_order(
        self,
        symbol: str,
        *,
        exchange_order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> OrderReport:
        """Cancel one order; the report shows it after the cancel (usually CANCELED)."""
        params = _order_ref_params("cancel_order", exchange_order_id, client_order_id)
        raw = await self._call(
            "cancel_order",
            CallKind.CANCEL,
            lambda: self._exchange.cancel_order(exchange_order_id, symbol, params),
            symbol=symbol,
            client_order_id=client_order_id,
        )
        prefix = describe_call(self.exchange_id, "cancel_order", symbol, client_order_id)
        try:
            report = self._order(raw, "cancel_order")
            _check_answers_for(report, symbol, exchange_order_id, None, call="cancel_order")
        except ExchangeError as exc:
            # The cancel was sent: whether it happened is unknown (gateway contract).
            raise AmbiguousOutcomeError(
                f"{prefix}: outcome unknown, malformed answer ({exc})"
            ) from exc
        if client_order_id is not None and report.client_order_id != client_order_id:
            report = msgspec.structs.replace(report, client_order_id=ClientOrderId(client_order_id))
        return report

    # --- history --------------------------------------------------------------------------

    async def _history(
        self, call: str, symbol: str, cursor: PageCursor, id_param: str, method: Any
    ) -> tuple[list[Mapping[str, Any]], PageCursor]:
        async def fetch(since_ms: int | None, limit: int, params: dict[str, Any]) -> Any:
            return await self._call(
                call, CallKind.READ, lambda: method(symbol, since_ms, limit, params), symbol=symbol
            )

        page: FetchPage = fetch
        what = describe_call(self.exchange_id, call, symbol, None)
        if self.page_by_id:
            return await fetch_all_by_id(
                page, cursor=cursor, id_param=id_param, limit=self.page_limit, what=what
            )
        return await fetch_all_by_time(page, cursor=cursor, limit=self.page_limit, what=what)

    async def fetch_orders_since(
        self, symbol: str, cursor: PageCursor | int | None = None
    ) -> OrdersPage:
        """Orders created after ``cursor`` (a cursor, a ns timestamp or None = all)."""
        if not isinstance(cursor, PageCursor):
            cursor = PageCursor(since_ns=cursor)
        raw, new_cursor = await self._history(
            "fetch_orders", symbol, cursor, "orderId", self._exchange.fetch_orders
        )
        orders = tuple(self._orders(raw, "fetch_orders", symbol))
        return OrdersPage(orders=orders, cursor=new_cursor)

    async def fetch_trades_since(self, symbol: str, cursor: PageCursor | None = None) -> TradesPage:
        """Our trades in ``symbol`` after ``cursor`` (None = all), every page."""
        raw, new_cursor = await self._history(
            "fetch_my_trades",
            symbol,
            cursor or PageCursor(),
            "fromId",
            self._exchange.fetch_my_trades,
        )
        trades = tuple(self._parse(parse_trade, row, call="fetch_my_trades") for row in raw)
        return TradesPage(trades=trades, cursor=new_cursor)


def _text_or_none(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _check_answers_for(
    report: OrderReport,
    symbol: str,
    exchange_order_id: str | None,
    client_order_id: str | None,
    *,
    call: str,
) -> None:
    """An answer about another order than the one asked for is malformed, not evidence."""
    wrong = []
    if report.symbol != symbol:
        wrong.append(f"symbol {report.symbol!r}")
    if exchange_order_id is not None and report.exchange_order_id != exchange_order_id:
        wrong.append(f"order id {report.exchange_order_id!r}")
    if client_order_id is not None and report.client_order_id not in (None, client_order_id):
        wrong.append(f"client_order_id {report.client_order_id!r}")
    if wrong:
        asked = exchange_order_id if exchange_order_id is not None else client_order_id
        raise ExchangeError(
            f"{call} {symbol}: the answer is about another order ({', '.join(wrong)}; "
            f"asked for {asked!r})"
        )


def _order_ref_params(
    call: str, exchange_order_id: str | None, client_order_id: str | None
) -> dict[str, Any]:
    """ccxt params naming an order: by exchange id when known, else by client order id."""
    if exchange_order_id is None and client_order_id is None:
        raise ExchangeError(f"{call} needs exchange_order_id or client_order_id")
    return {} if exchange_order_id is not None else {"clientOrderId": client_order_id}

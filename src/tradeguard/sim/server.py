"""aiohttp front of the simulator: Binance's /api/v3 and /fapi routes, faults, limits.

Besides spot (/api/v3) and USD-M (/fapi) it answers what ccxt's default
``load_markets`` asks for (the /sapi coin and margin-pair lists, /dapi's exchangeInfo
without markets), so an unmodified ccxt client with only its URLs changed works.

One catch-all aiohttp route dispatches through a dict, so fault injection, rate
limiting, authentication and error encoding sit in one lean request path. Nothing is
logged per request: the simulator must not be the bottleneck of a benchmark.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec
from aiohttp import web

from tradeguard.errors import SimulatorRejectionError, SimulatorStateError
from tradeguard.sim import public_views, views
from tradeguard.sim.auth import RequestAuth, parse_params
from tradeguard.sim.config import SimulatorConfig
from tradeguard.sim.engine import Engine
from tradeguard.sim.faults import FaultBook, FaultRule
from tradeguard.sim.limits import WEIGHT_HEADER, RequestMeter, request_weight
from tradeguard.sim.markets import (
    USDM_BRACKETS,
    Market,
    exchange_info_json,
    fmt,
    max_notional_for_leverage,
)
from tradeguard.sim.persistence import StateFile, restore_engine

__all__ = ["SimulatorServer"]

Params = dict[str, str]
Handler = Callable[[Params, int], Any]
_JSON = "application/json"


def _required(params: Params, name: str) -> str:
    value = params.get(name)
    if not value:
        raise SimulatorRejectionError(
            -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
        )
    return value


def _decimal(params: Params, name: str) -> Decimal | None:
    text = params.get(name)
    if text is None or text == "":
        return None
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise SimulatorRejectionError(
            -1100, f"Illegal characters found in parameter '{name}'; legal range is "
            "'^([0-9]{1,20})(\\.[0-9]{1,20})?$'."
        ) from exc
    if not value.is_finite():
        raise SimulatorRejectionError(-1100, f"Illegal characters found in parameter '{name}'.")
    return value


def _int(params: Params, name: str) -> int | None:
    text = params.get(name)
    if text is None or text == "":
        return None
    try:
        return int(text)
    except ValueError as exc:
        raise SimulatorRejectionError(
            -1100, f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]+$'."
        ) from exc


def error_response(code: int, message: str, status: int) -> web.Response:
    """Binance's error body: ``{"code": -2013, "msg": "Order does not exist."}``."""
    return web.Response(
        body=msgspec.json.encode({"code": code, "msg": message}), status=status,
        content_type=_JSON,
    )


class SimulatorServer:
    """The simulator's request handling around one :class:`Engine`."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.engine = Engine(config)
        self.auth = RequestAuth(config.api_key, config.api_secret)
        self.faults = FaultBook()
        self.clock_skew_ms = 0
        self.rate_limit_per_s = config.rate_limit_per_s
        self.meter = RequestMeter()
        self.state_file = StateFile(config) if config.state_path else None
        if self.state_file is not None:
            self._load_state(self.state_file)
        markets = tuple(self.engine.markets.values())
        # exchangeInfo never changes while the simulator runs: encode it once.
        self._exchange_info = {
            venue: exchange_info_json(venue, markets, self.now_ms())
            for venue in ("spot", "usdm", "coinm")
        }
        self._public: dict[tuple[str, str], Callable[[Params], bytes]] = {}
        self._signed: dict[tuple[str, str], Handler] = {}
        self._register_routes()
        self.admin: Callable[[web.Request], Any] | None = None

    def now_ms(self) -> int:
        """The exchange's clock: wall time plus the configured skew."""
        return time.time_ns() // 1_000_000 + self.clock_skew_ms

    def _load_state(self, state_file: StateFile) -> None:
        """Continue from the saved state (if any), then save at once.

        The first save proves the file is writable before any order is accepted.
        """
        state = state_file.load()
        if state is not None:
            self.engine = restore_engine(self.config, state, str(state_file.path))
            self.clock_skew_ms = state.clock_skew_ms
            # The exchange clock never runs backwards across a restart (order and trade
            # times stay ascending), even if the host's clock was set back meanwhile.
            behind_ms = state.saved_at_ms - self.now_ms()
            if behind_ms > 0:
                self.clock_skew_ms += behind_ms
        self.save_state()

    def save_state(self) -> None:
        """Save the whole engine state now, if this simulator keeps one (atomic, fsync)."""
        if self.state_file is not None:
            self.state_file.save(
                self.engine, clock_skew_ms=self.clock_skew_ms, now_ms=self.now_ms()
            )

    def save_state_if_dirty(self) -> None:
        """Save changes still waiting for the save timer (used at a clean stop)."""
        if self.state_file is not None and self.state_file.dirty:
            self.save_state()

    def reset(self) -> None:
        """Back to the initial state: fresh engine, no faults, no skew."""
        self.engine = Engine(self.config)
        self.faults.clear()
        self.clock_skew_ms = 0
        self.rate_limit_per_s = self.config.rate_limit_per_s
        self.meter = RequestMeter()

    def tick(self) -> None:
        """One random-walk step of every mark price, with matching.

        A step that filled something is saved at once (a fill is a fact the exchange
        must not forget); a plain price move is saved by the save timer.
        """
        trades = self.engine.step_random_walk(self.now_ms())
        state_file = self.state_file
        if state_file is None:
            return
        state_file.mark_dirty()
        if trades or state_file.save_due():
            self.save_state()

    # --- routing -------------------------------------------------------------------

    def _register_routes(self) -> None:
        enc = msgspec.json.encode
        pub = self._public
        for prefix, venue in (("/api/v3", "spot"), ("/fapi/v1", "usdm")):
            info = self._exchange_info[venue]
            pub["GET", f"{prefix}/exchangeInfo"] = lambda p, info=info: info  # type: ignore[misc]
            pub["GET", f"{prefix}/ping"] = lambda p: b"{}"
            pub["GET", f"{prefix}/time"] = lambda p: enc({"serverTime": self.now_ms()})
            for name, row in (
                ("ticker/price", public_views.ticker_price),
                ("ticker/24hr", public_views.ticker_24hr),
                ("ticker/bookTicker", public_views.book_ticker),
            ):
                pub["GET", f"{prefix}/{name}"] = (
                    lambda p, venue=venue, row=row: enc(self._tickers(venue, p, row))  # type: ignore[misc]
                )
            pub["GET", f"{prefix}/depth"] = lambda p, venue=venue: enc(  # type: ignore[misc]
                public_views.depth(self.engine, venue, p, self.now_ms())
            )
            pub["GET", f"{prefix}/trades"] = lambda p, venue=venue: enc(  # type: ignore[misc]
                public_views.recent_trades(self.engine, venue, p)
            )
            pub["GET", f"{prefix}/aggTrades"] = lambda p, venue=venue: enc(  # type: ignore[misc]
                public_views.agg_trades(self.engine, venue, p)
            )
            pub["GET", f"{prefix}/klines"] = lambda p, venue=venue: enc(  # type: ignore[misc]
                public_views.klines(self.engine, venue, p, self.now_ms())
            )
        pub["GET", "/fapi/v2/ticker/price"] = pub["GET", "/fapi/v1/ticker/price"]
        # Coin-margined futures: a venue without markets, so ccxt's default load_markets
        # (spot, linear and inverse) works against the simulator unchanged.
        pub["GET", "/dapi/v1/exchangeInfo"] = lambda p: self._exchange_info["coinm"]
        pub["GET", "/dapi/v1/ping"] = lambda p: b"{}"
        pub["GET", "/dapi/v1/time"] = lambda p: enc({"serverTime": self.now_ms()})
        pub["GET", "/sapi/v1/system/status"] = lambda p: b'{"status":0,"msg":"normal"}'
        s = self._signed
        s["GET", "/api/v3/account"] = lambda p, now: views.spot_account(self.engine, now)
        # The wallet endpoints ccxt's default load_markets calls (fetchCurrencies and
        # fetchMargins): the coins this exchange has; no margin trading, so no pairs.
        s["GET", "/sapi/v1/capital/config/getall"] = lambda p, now: views.capital_coins(
            self.engine
        )
        s["GET", "/sapi/v1/margin/allPairs"] = lambda p, now: []
        s["GET", "/sapi/v1/margin/isolated/allPairs"] = lambda p, now: []
        s["POST", "/api/v3/order"] = self._spot_create
        s["GET", "/api/v3/order"] = lambda p, now: views.spot_order(self._get("spot", p))
        s["DELETE", "/api/v3/order"] = self._spot_cancel
        s["DELETE", "/api/v3/openOrders"] = lambda p, now: [
            views.spot_cancel(o, f"sim-cancel-{o.order_id}", now)
            for o in self._cancel_all("spot", p, now)
        ]
        s["DELETE", "/fapi/v1/allOpenOrders"] = self._futures_cancel_all
        s["GET", "/api/v3/openOrders"] = lambda p, now: [
            views.spot_order(o) for o in self.engine.list_open_orders("spot", p.get("symbol"))
        ]
        s["GET", "/api/v3/allOrders"] = lambda p, now: [
            views.spot_order(o) for o in self._all_orders("spot", p)
        ]
        s["GET", "/api/v3/myTrades"] = lambda p, now: [
            views.spot_trade(t) for t in self._trades("spot", p)
        ]
        s["POST", "/fapi/v1/order"] = self._futures_create
        s["GET", "/fapi/v1/order"] = lambda p, now: views.futures_order(self._get("usdm", p))
        s["DELETE", "/fapi/v1/order"] = lambda p, now: views.futures_order(
            self.engine.cancel_order(
                "usdm", _required(p, "symbol"), _int(p, "orderId"),
                p.get("origClientOrderId"), now,
            )
        )
        s["GET", "/fapi/v1/openOrders"] = lambda p, now: [
            views.futures_order(o)
            for o in self.engine.list_open_orders("usdm", p.get("symbol"))
        ]
        s["GET", "/fapi/v1/allOrders"] = lambda p, now: [
            views.futures_order(o) for o in self._all_orders("usdm", p)
        ]
        s["GET", "/fapi/v1/userTrades"] = lambda p, now: [
            views.futures_trade(t) for t in self._trades("usdm", p)
        ]
        s["GET", "/fapi/v1/leverageBracket"] = lambda p, now: self._brackets(p.get("symbol"))
        s["POST", "/fapi/v1/leverage"] = self._set_leverage
        for version in ("v2", "v3"):
            s["GET", f"/fapi/{version}/account"] = lambda p, now: views.futures_account(
                self.engine, now
            )
            s["GET", f"/fapi/{version}/balance"] = lambda p, now: views.futures_balances(
                self.engine, now
            )
            s["GET", f"/fapi/{version}/positionRisk"] = lambda p, now: views.futures_positions(
                self.engine, now, p.get("symbol")
            )

    # --- handlers ------------------------------------------------------------------

    def _tickers(self, venue: str, p: Params, row: Callable[..., Any]) -> Any:
        """One ticker object for ``symbol``, else a list (``symbols`` or every market)."""
        markets, single = public_views.select_markets(self.engine, venue, p)
        now = self.now_ms()
        rows = [row(self.engine, venue, market, now) for market in markets]
        return rows[0] if single else rows

    def _futures_cancel_all(self, p: Params, now: int) -> Any:
        self._cancel_all("usdm", p, now)
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    def _cancel_all(self, venue: str, p: Params, now: int) -> list[Any]:
        symbol = _required(p, "symbol")
        return [
            self.engine.cancel_order(venue, symbol, o.order_id, None, now)
            for o in self.engine.list_open_orders(venue, symbol)
        ]

    def _get(self, venue: str, p: Params) -> Any:
        return self.engine.get_order(
            venue, _required(p, "symbol"), _int(p, "orderId"), p.get("origClientOrderId")
        )

    def _all_orders(self, venue: str, p: Params) -> Any:
        return self.engine.list_orders(
            venue, _required(p, "symbol"), order_id=_int(p, "orderId"),
            start_ms=_int(p, "startTime"), end_ms=_int(p, "endTime"), limit=_int(p, "limit"),
        )

    def _trades(self, venue: str, p: Params) -> Any:
        return self.engine.list_trades(
            venue, _required(p, "symbol"), from_id=_int(p, "fromId"),
            start_ms=_int(p, "startTime"), end_ms=_int(p, "endTime"),
            order_id=_int(p, "orderId"), limit=_int(p, "limit"),
        )

    def _place(self, venue: str, p: Params, now: int) -> Any:
        quantity = _decimal(p, "quantity")
        if quantity is None:
            raise SimulatorRejectionError(
                -1102, "Mandatory parameter 'quantity' was not sent, was empty/null, or "
                "malformed."
            )
        return self.engine.place_order(
            venue, _required(p, "symbol"),
            side=_required(p, "side"), order_type=_required(p, "type"),
            quantity=quantity, price=_decimal(p, "price"),
            time_in_force=p.get("timeInForce"), client_order_id=p.get("newClientOrderId"),
            reduce_only=p.get("reduceOnly", "").lower() == "true", now_ms=now,
        )

    def _spot_create(self, p: Params, now: int) -> Any:
        order, fills = self._place("spot", p, now)
        default = "FULL" if order.type in ("MARKET", "LIMIT") else "ACK"
        return views.spot_order_ack(order, fills, p.get("newOrderRespType", default))

    def _futures_create(self, p: Params, now: int) -> Any:
        order, _ = self._place("usdm", p, now)
        return views.futures_order(order)

    def _spot_cancel(self, p: Params, now: int) -> Any:
        order = self.engine.cancel_order(
            "spot", _required(p, "symbol"), _int(p, "orderId"), p.get("origClientOrderId"), now
        )
        cancel_id = p.get("newClientOrderId") or f"sim-cancel-{order.order_id}"
        return views.spot_cancel(order, cancel_id, now)

    def _usdm_markets(self, symbol: str | None) -> list[Market]:
        return [
            m for m in self.engine.markets.values()
            if m.venue == "usdm" and (symbol is None or m.symbol == symbol)
        ]

    def _brackets(self, symbol: str | None) -> Any:
        return [
            {
                "symbol": m.symbol,
                "brackets": [
                    {"bracket": b.bracket, "initialLeverage": b.initial_leverage,
                     "notionalCap": int(b.notional_cap), "notionalFloor": int(b.notional_floor),
                     "maintMarginRatio": float(b.maint_margin_ratio), "cum": float(b.cum)}
                    for b in USDM_BRACKETS
                ],
            }
            for m in self._usdm_markets(symbol)
        ]

    def _set_leverage(self, p: Params, now: int) -> Any:
        symbol = _required(p, "symbol")
        self.engine.market("usdm", symbol)
        leverage = _int(p, "leverage")
        if leverage is None or not 1 <= leverage <= 125:
            raise SimulatorRejectionError(-4028, "Leverage is not valid")
        self.engine.futures.position(symbol).leverage = leverage
        return {
            "leverage": leverage,
            "maxNotionalValue": fmt(max_notional_for_leverage(leverage)),
            "symbol": symbol,
        }

    # --- the request path ----------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Serve one request: admin, faults, rate limit, auth, engine, encoding.

        Every answer carries the weight used this minute (``X-MBX-USED-WEIGHT-1M``).
        """
        if request.path.startswith("/_sim/") and self.admin is not None:
            return await self._handle(request)
        weight = request_weight(request.method, request.path, request.query)
        used = self.meter.count(weight, self.now_ms())
        response = await self._handle(request)
        if not response.prepared:
            response.headers[WEIGHT_HEADER] = str(used)
        return response

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        method = request.method
        if path.startswith("/_sim/") and self.admin is not None:
            response: web.StreamResponse = await self.admin(request)
            if method != "GET":
                failed = self._save_after_change()
                if failed is not None:
                    return failed
            return response
        retry_after = self.meter.retry_after_s(self.rate_limit_per_s)
        if retry_after is not None:
            limited = error_response(
                -1003, "Too many requests; current limit of IP is exceeded.", 429
            )
            limited.headers["Retry-After"] = str(retry_after)
            return limited
        # Read the body first: a delayed request must still be processed after its client
        # gave up, as a real exchange does (the order goes live after the timeout).
        body = await request.text() if request.can_read_body else ""
        fault = self.faults.take(method, path) if self.faults else None
        if fault is not None:
            early = await self._fault_before(request, fault)
            if early is not None:
                return early
        response = self._process(request, method, path, body)
        # Every request that may have changed state is saved before anything is
        # answered, including the answer a "process then fail" fault throws away.
        if method != "GET":
            failed = self._save_after_change()
            if failed is not None:
                return failed
        if fault is not None and fault.action == "process_then_fail":
            if fault.status:
                return web.Response(text="Service Unavailable", status=fault.status)
            return self._drop(request)
        return response

    def _save_after_change(self) -> web.Response | None:
        """Save the state; a failed save answers 500 (outcome unknown to the client)."""
        if self.state_file is None:
            return None
        try:
            self.save_state()
        except SimulatorStateError as exc:
            # The change stays in memory and goes out with the next successful save;
            # the client must treat the request as ambiguous, which a 5xx makes it do.
            return error_response(-1000, f"Internal error; unable to process: {exc}", 500)
        return None

    async def _fault_before(self, request: web.Request, fault: FaultRule) -> web.Response | None:
        if fault.action == "delay":
            await asyncio.sleep(fault.delay_ms / 1000)
            return None
        if fault.action == "status":
            if fault.code:
                return error_response(fault.code, fault.message, fault.status or 503)
            return web.Response(text="Service Unavailable", status=fault.status or 503)
        if fault.action == "error_code":
            return error_response(fault.code or -1000, fault.message, fault.status or 400)
        if fault.action == "drop":
            return self._drop(request)
        return None

    @staticmethod
    def _drop(request: web.Request) -> web.Response:
        """Close the connection without an answer (the response below is never sent)."""
        transport = request.transport
        if transport is not None:
            transport.abort()
        return web.Response(status=500)

    def _process(
        self, request: web.Request, method: str, path: str, body: str
    ) -> web.Response:
        key = (method, path)
        public = self._public.get(key)
        if public is not None:
            try:
                payload = public(parse_params(request.query_string, ""))
            except SimulatorRejectionError as exc:
                return error_response(exc.code, str(exc), exc.http_status)
            return web.Response(body=payload, content_type=_JSON)
        handler = self._signed.get(key)
        if handler is None:
            return web.Response(status=404, text="Not Found")
        query = request.query_string
        now = self.now_ms()
        try:
            params = parse_params(query, body)
            self.auth.check_signed(
                request.headers.get("X-MBX-APIKEY"), query, body, params, now
            )
            result = handler(params, now)
        except SimulatorRejectionError as exc:
            return error_response(exc.code, str(exc), exc.http_status)
        return web.Response(body=msgspec.json.encode(result), content_type=_JSON)

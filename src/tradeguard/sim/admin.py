"""The simulator's admin API under ``/_sim/``: ground truth and levers for tests.

JSON in, JSON out, no signature. Errors come back as ``{"error": "..."}`` with HTTP 400.

- ``GET state``: balances, orders, trades, positions, prices, faults, skew.
- ``POST price`` {symbol, price, market?}: set a mark price (both venues unless
  ``market`` is given) and match resting orders.
- ``POST tick`` {steps?}: advance the seeded random walk.
- ``POST order`` {market, symbol, side, type, quantity, price?, timeInForce?,
  clientOrderId?, reduceOnly?}: an order from "another client" of the same account.
- ``POST trade`` {market, symbol, side, quantity, price?}: a fill by hand at ``price``.
- ``POST deposit`` / ``POST withdraw`` {asset, amount, market?}: change a wallet.
- ``POST clock_skew`` {ms}: shift the exchange clock.
- ``POST faults`` {path, method?, action, count?, delay_ms?, status?, code?, message?}
  arms a fault (see :class:`~tradeguard.sim.faults.FaultRule`); ``DELETE faults`` clears.
- ``POST rate_limit`` {per_second}: requests per second before 429 (0 = off).
- ``POST reset``: back to the initial state.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec
from aiohttp import web

from tradeguard.errors import SimulatorRejectionError
from tradeguard.sim.accounts import SimOrder, SimTrade
from tradeguard.sim.faults import FaultRule
from tradeguard.sim.markets import fmt
from tradeguard.sim.server import SimulatorServer

__all__ = ["AdminApi", "engine_state"]


class _AdminRequestError(Exception):
    """An admin request is malformed; answered with HTTP 400."""


def _order_row(order: SimOrder) -> dict[str, Any]:
    return {
        "market": order.venue,
        "symbol": order.symbol,
        "orderId": order.order_id,
        "clientOrderId": order.client_order_id,
        "side": order.side,
        "type": order.type,
        "timeInForce": order.time_in_force,
        "price": fmt(order.price),
        "origQty": fmt(order.orig_qty),
        "executedQty": fmt(order.executed_qty),
        "cumQuote": fmt(order.cum_quote),
        "status": order.status,
        "reduceOnly": order.reduce_only,
        "external": order.external,
        "time": order.time_ms,
        "updateTime": order.update_ms,
    }


def _trade_row(trade: SimTrade) -> dict[str, Any]:
    return {
        "market": trade.venue,
        "symbol": trade.symbol,
        "id": trade.trade_id,
        "orderId": trade.order_id,
        "side": trade.side,
        "price": fmt(trade.price),
        "qty": fmt(trade.qty),
        "quoteQty": fmt(trade.quote_qty),
        "commission": fmt(trade.commission),
        "commissionAsset": trade.commission_asset,
        "realizedPnl": fmt(trade.realized_pnl),
        "isMaker": trade.is_maker,
        "time": trade.time_ms,
    }


def engine_state(server: SimulatorServer) -> dict[str, Any]:
    """The whole ground truth of the simulator as plain JSON-able data."""
    engine = server.engine
    marks = engine.futures_marks()
    spot_balances = {
        asset: {"free": fmt(free), "locked": fmt(engine.spot.locked[asset])}
        for asset, free in sorted(engine.spot.free.items())
    }
    positions = [
        {
            "symbol": p.symbol,
            "positionAmt": fmt(p.amount),
            "entryPrice": fmt(p.entry_price),
            "realizedPnl": fmt(p.realized_pnl),
            "unrealizedPnl": fmt(p.unrealized(marks[p.symbol])),
            "leverage": p.leverage,
        }
        for p in engine.futures.positions.values()
    ]
    return {
        "time": server.now_ms(),
        "clock_skew_ms": server.clock_skew_ms,
        "prices": {key: fmt(price) for key, price in engine.prices.items()},
        "spot": {"balances": spot_balances},
        "usdm": {
            "wallet": {a: fmt(v) for a, v in engine.futures.wallet.items()},
            "order_margin": fmt(engine.futures.order_margin),
            "available": fmt(engine.futures.available(marks)),
            "positions": positions,
        },
        "orders": [_order_row(o) for venue in engine.orders.values() for o in venue.values()],
        "open_orders": [
            _order_row(o) for orders in engine.open_orders.values() for o in orders.values()
        ],
        "trades": [_trade_row(t) for trades in engine.trades.values() for t in trades],
        "faults": server.faults.describe(),
    }


def _decode_body(raw: bytes) -> dict[str, Any]:
    if not raw:
        return {}
    body = msgspec.json.decode(raw)
    if not isinstance(body, dict):
        raise _AdminRequestError("body must be a JSON object")
    return body


def _field(body: dict[str, Any], name: str) -> Any:
    if name not in body:
        raise _AdminRequestError(f"missing field {name!r}")
    return body[name]


def _dec(value: Any, name: str) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise _AdminRequestError(f"field {name!r} is not a number: {value!r}") from exc


def _venue(body: dict[str, Any]) -> str:
    venue = str(body.get("market", "spot"))
    if venue not in ("spot", "usdm"):
        raise _AdminRequestError("market must be 'spot' or 'usdm'")
    return venue


class AdminApi:
    """Handles ``/_sim/*`` for one :class:`SimulatorServer`."""

    def __init__(self, server: SimulatorServer) -> None:
        self.server = server

    async def __call__(self, request: web.Request) -> web.Response:
        """Dispatch one admin request."""
        action = request.path[len("/_sim/"):].strip("/")
        try:
            body = _decode_body(await request.read()) if request.can_read_body else {}
            result = self.dispatch(request.method, action, body)
        except (_AdminRequestError, msgspec.DecodeError, msgspec.ValidationError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        except SimulatorRejectionError as exc:
            return web.json_response({"error": str(exc), "code": exc.code}, status=400)
        return web.Response(body=msgspec.json.encode(result), content_type="application/json")

    def dispatch(self, method: str, action: str, body: dict[str, Any]) -> Any:
        """Run one admin action; returns its JSON-able answer."""
        server = self.server
        engine = server.engine
        now = server.now_ms()
        if method == "GET" and action == "state":
            return engine_state(server)
        if method == "DELETE" and action == "faults":
            server.faults.clear()
            return {"ok": True}
        if method != "POST":
            raise _AdminRequestError(f"unknown admin route {method} /_sim/{action}")
        if action == "price":
            return self._set_price(body, now)
        if action == "tick":
            for _ in range(int(body.get("steps", 1))):
                server.tick()
            return {"prices": {k: fmt(v) for k, v in server.engine.prices.items()}}
        if action == "order":
            order, trades = engine.place_order(
                _venue(body), str(_field(body, "symbol")),
                side=str(_field(body, "side")).upper(),
                order_type=str(body.get("type", "LIMIT")).upper(),
                quantity=_dec(_field(body, "quantity"), "quantity"),
                price=_dec(body["price"], "price") if body.get("price") is not None else None,
                time_in_force=body.get("timeInForce", "GTC"),
                client_order_id=body.get("clientOrderId"),
                reduce_only=bool(body.get("reduceOnly", False)),
                now_ms=now, external=True,
            )
            return {"order": _order_row(order), "trades": [_trade_row(t) for t in trades]}
        if action == "trade":
            return self._trade(body, now)
        if action in ("deposit", "withdraw"):
            amount = _dec(_field(body, "amount"), "amount")
            if amount <= 0:
                raise _AdminRequestError("amount must be positive")
            signed = amount if action == "deposit" else -amount
            engine.adjust_balance(_venue(body), str(_field(body, "asset")), signed, now)
            return {"ok": True}
        if action == "clock_skew":
            server.clock_skew_ms = int(_field(body, "ms"))
            return {"clock_skew_ms": server.clock_skew_ms}
        if action == "faults":
            rule = msgspec.convert(body, FaultRule)
            server.faults.add(rule)
            return {"faults": server.faults.describe()}
        if action == "rate_limit":
            server.rate_limit_per_s = int(_field(body, "per_second"))
            return {"rate_limit_per_s": server.rate_limit_per_s}
        if action == "reset":
            server.reset()
            return {"ok": True}
        raise _AdminRequestError(f"unknown admin route POST /_sim/{action}")

    def _set_price(self, body: dict[str, Any], now: int) -> Any:
        engine = self.server.engine
        symbol = str(_field(body, "symbol"))
        price = _dec(_field(body, "price"), "price")
        venues = [str(body["market"])] if "market" in body else ["spot", "usdm"]
        keys = [f"{v}:{symbol}" for v in venues if f"{v}:{symbol}" in engine.markets]
        if not keys:
            raise _AdminRequestError(f"unknown symbol {symbol!r}")
        trades: list[SimTrade] = []
        for key in keys:
            trades.extend(engine.set_price(key, price, now))
        return {"trades": [_trade_row(t) for t in trades]}

    def _trade(self, body: dict[str, Any], now: int) -> Any:
        """A fill at a chosen price, as if another client of the account traded."""
        engine = self.server.engine
        venue = _venue(body)
        market = engine.market(venue, str(_field(body, "symbol")))
        old = engine.prices[market.key]
        price = _dec(body["price"], "price") if body.get("price") is not None else old
        # Put the mark at the trade price for the moment of the fill, so a market order
        # fills there (the spread is applied to the mark, so compensate for it).
        engine.prices[market.key] = price
        saved_spread = engine.config
        try:
            engine.config = msgspec.structs.replace(saved_spread, spread=Decimal(0))
            order, trades = engine.place_order(
                venue, market.symbol, side=str(_field(body, "side")).upper(),
                order_type="MARKET", quantity=_dec(_field(body, "quantity"), "quantity"),
                price=None, time_in_force=None, client_order_id=body.get("clientOrderId"),
                now_ms=now, external=True,
            )
        finally:
            engine.config = saved_spread
            engine.prices[market.key] = old
        return {"order": _order_row(order), "trades": [_trade_row(t) for t in trades]}

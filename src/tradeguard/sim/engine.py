"""The simulator's matching engine: orders, fills, balances, positions, mark prices.

Pure code: no I/O, no clock of its own (every call takes ``now_ms``), randomness only
from per-market generators seeded by the config. Given the same config and the same
sequence of calls it produces the same orders, trades and balances.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, Decimal

from tradeguard.errors import SimulatorRejectionError
from tradeguard.sim.accounts import (
    FuturesAccount,
    Side,
    SimOrder,
    SimTrade,
    SpotAccount,
    q8,
)
from tradeguard.sim.config import SimulatorConfig
from tradeguard.sim.marketdata import MarkHistory
from tradeguard.sim.markets import (
    DEFAULT_MARKETS,
    Market,
    check_order_filters,
    max_notional_for_leverage,
)

__all__ = ["Engine", "round_to_step"]

_CLIENT_ID = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
_TIME_IN_FORCE = {"GTC", "IOC", "FOK", "GTX"}
MAX_LIMIT = 1000
DEFAULT_LIMIT = 500


def round_to_step(value: Decimal, step: Decimal, rounding: str) -> Decimal:
    """``value`` rounded to a multiple of ``step`` (a tick or lot size)."""
    return (value / step).to_integral_value(rounding=rounding) * step


def _order_not_found() -> SimulatorRejectionError:
    return SimulatorRejectionError(-2013, "Order does not exist.")


class Engine:
    """One account on a Binance-like exchange with spot and USD-M perpetual markets."""

    def __init__(
        self, config: SimulatorConfig, markets: tuple[Market, ...] = DEFAULT_MARKETS
    ) -> None:
        self.config = config
        self.markets: dict[str, Market] = {m.key: m for m in markets}
        self.prices: dict[str, Decimal] = {m.key: m.initial_price for m in markets}
        # One generator per market so moving one price never changes another's path.
        self._rngs = {
            m.key: random.Random(f"{config.seed}:{m.key}")
            for m in markets
        }
        self.spot = SpotAccount(config.spot_balances)
        self.futures = FuturesAccount(config.futures_balances, config.default_leverage)
        self.orders: dict[str, dict[int, SimOrder]] = {"spot": {}, "usdm": {}}
        self.open_orders: dict[str, dict[int, SimOrder]] = {k: {} for k in self.markets}
        self._by_client_id: dict[tuple[str, str], SimOrder] = {}
        self.trades: dict[str, list[SimTrade]] = {k: [] for k in self.markets}
        # Id counters per venue; saved with the state so a restarted simulator never
        # hands out an id twice.
        self.next_order_id = {"spot": 1000, "usdm": 5000}
        self.next_trade_id = {"spot": 100, "usdm": 700}
        # Per-minute mark history for candles and 24h statistics (not saved).
        self.history = MarkHistory()

    # --- lookups -------------------------------------------------------------------

    def market(self, venue: str, symbol: str) -> Market:
        """The market of ``symbol`` on ``venue``, or Binance's -1121 Invalid symbol."""
        found = self.markets.get(f"{venue}:{symbol}")
        if found is None:
            raise SimulatorRejectionError(-1121, "Invalid symbol.")
        return found

    def futures_marks(self) -> dict[str, Decimal]:
        """Mark price of every perpetual, by bare symbol."""
        return {m.symbol: self.prices[k] for k, m in self.markets.items() if m.venue == "usdm"}

    def get_order(
        self, venue: str, symbol: str, order_id: int | None, client_order_id: str | None
    ) -> SimOrder:
        """An order by exchange id or (latest with that) client id, else -2013."""
        market = self.market(venue, symbol)
        if order_id is not None:
            order = self.orders[venue].get(order_id)
            if order is None or order.symbol != symbol:
                raise _order_not_found()
            return order
        if client_order_id is not None:
            found = self._by_client_id.get((market.key, client_order_id))
            if found is None:
                raise _order_not_found()
            return found
        raise SimulatorRejectionError(
            -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty."
        )

    def list_open_orders(self, venue: str, symbol: str | None) -> list[SimOrder]:
        """Open orders of one symbol, or of every symbol of the venue."""
        if symbol is not None:
            return list(self.open_orders[self.market(venue, symbol).key].values())
        result: list[SimOrder] = []
        for key, orders in self.open_orders.items():
            if self.markets[key].venue == venue:
                result.extend(orders.values())
        return result

    def list_orders(
        self,
        venue: str,
        symbol: str,
        *,
        order_id: int | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
        limit: int | None = None,
    ) -> list[SimOrder]:
        """allOrders: ascending by id; without a cursor the most recent ``limit``."""
        market = self.market(venue, symbol)
        limit = min(limit or DEFAULT_LIMIT, MAX_LIMIT)
        rows = [o for o in self.orders[venue].values() if o.symbol == market.symbol]
        if order_id is not None:
            rows = [o for o in rows if o.order_id >= order_id]
            return rows[:limit]
        if start_ms is not None:
            rows = [o for o in rows if o.time_ms >= start_ms]
        if end_ms is not None:
            rows = [o for o in rows if o.time_ms <= end_ms]
        return rows[:limit] if start_ms is not None else rows[-limit:]

    def list_trades(
        self,
        venue: str,
        symbol: str,
        *,
        from_id: int | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
        order_id: int | None = None,
        limit: int | None = None,
    ) -> list[SimTrade]:
        """myTrades / userTrades: ascending by id; without a cursor the latest ``limit``."""
        rows = self.trades[self.market(venue, symbol).key]
        limit = min(limit or DEFAULT_LIMIT, MAX_LIMIT)
        if order_id is not None:
            rows = [t for t in rows if t.order_id == order_id]
        if from_id is not None:
            return [t for t in rows if t.trade_id >= from_id][:limit]
        if start_ms is not None:
            rows = [t for t in rows if t.time_ms >= start_ms]
        if end_ms is not None:
            rows = [t for t in rows if t.time_ms <= end_ms]
        return rows[:limit] if start_ms is not None else rows[-limit:]

    # --- orders --------------------------------------------------------------------

    def place_order(
        self,
        venue: str,
        symbol: str,
        *,
        side: str,
        order_type: str,
        quantity: Decimal,
        price: Decimal | None,
        time_in_force: str | None,
        client_order_id: str | None,
        now_ms: int,
        reduce_only: bool = False,
        external: bool = False,
    ) -> tuple[SimOrder, list[SimTrade]]:
        """Validate, reserve funds, record and match a new order.

        Returns the order and the fills it got at once. Raises
        :class:`SimulatorRejectionError` with Binance's code for every refusal; a
        refused order changes nothing.
        """
        market = self.market(venue, symbol)
        if side not in ("BUY", "SELL"):
            raise SimulatorRejectionError(-1117, "Invalid side.")
        allowed = ("LIMIT", "MARKET", "LIMIT_MAKER") if venue == "spot" else ("LIMIT", "MARKET")
        if order_type not in allowed:
            raise SimulatorRejectionError(-1116, "Invalid orderType.")
        if order_type == "MARKET":
            price, tif = None, ""
        else:
            if price is None:
                raise SimulatorRejectionError(
                    -1102, "Mandatory parameter 'price' was not sent, was empty/null, or "
                    "malformed."
                )
            tif = "GTC" if order_type == "LIMIT_MAKER" else (time_in_force or "")
            if tif not in _TIME_IN_FORCE or (venue == "spot" and tif == "GTX"):
                raise SimulatorRejectionError(
                    -1102, "Mandatory parameter 'timeInForce' was not sent, was empty/null, "
                    "or malformed."
                )
        if client_order_id is not None and not _CLIENT_ID.match(client_order_id):
            raise SimulatorRejectionError(
                -1100, "Illegal characters found in parameter 'newClientOrderId'; legal "
                "range is '^[\\.A-Z\\:/a-z0-9_-]{1,36}$'."
            )
        mark = self.prices[market.key]
        # Filters first, balance later (Binance's order): a reduce-only order is exempt
        # from the minimum notional only.
        check_order_filters(
            market, order_type, quantity, price, mark, reduce_only=reduce_only and venue == "usdm"
        )
        previous = (
            self._by_client_id.get((market.key, client_order_id)) if client_order_id else None
        )
        if previous is not None and previous.is_open:
            if venue == "spot":
                raise SimulatorRejectionError(-2010, "Duplicate order sent.")
            raise SimulatorRejectionError(-4116, "ClientOrderId is duplicated.")
        typed_side: Side = "BUY" if side == "BUY" else "SELL"
        order_id = self.next_order_id[venue]
        order = SimOrder(
            venue=venue,
            symbol=symbol,
            order_id=order_id,
            client_order_id=client_order_id or f"sim-{venue}-{order_id}",
            side=typed_side,
            type=order_type,
            time_in_force=tif,
            price=price if price is not None else Decimal(0),
            orig_qty=quantity,
            time_ms=now_ms,
            update_ms=now_ms,
            reduce_only=reduce_only,
            external=external,
        )
        if self._would_take(order, mark) and (order_type == "LIMIT_MAKER" or tif == "GTX"):
            if venue == "spot":
                raise SimulatorRejectionError(-2010, "Order would immediately match and take.")
            order.status = "EXPIRED"
            self._record(market, order)
            return order, []
        self._reserve(market, order, mark)
        self._record(market, order)
        trades = self._match(market, order, now_ms, taker=True)
        return order, trades

    def cancel_order(
        self,
        venue: str,
        symbol: str,
        order_id: int | None,
        client_order_id: str | None,
        now_ms: int,
    ) -> SimOrder:
        """Cancel an open order; -2011 if it is closed or unknown (as Binance does)."""
        try:
            order = self.get_order(venue, symbol, order_id, client_order_id)
        except SimulatorRejectionError as exc:
            if exc.code != -2013:
                raise
            raise SimulatorRejectionError(-2011, "Unknown order sent.") from exc
        if not order.is_open:
            raise SimulatorRejectionError(-2011, "Unknown order sent.")
        self._close(order, "CANCELED", now_ms)
        return order

    # --- prices --------------------------------------------------------------------

    def set_price(self, key: str, price: Decimal, now_ms: int) -> list[SimTrade]:
        """Move one market's mark price and match its resting orders."""
        market = self.markets[key]
        before = self.prices[key]
        after = max(price, market.tick_size)
        self.prices[key] = after
        self.history.record(key, before, after, now_ms)
        return self._match_resting(market, now_ms)

    def step_random_walk(self, now_ms: int) -> list[SimTrade]:
        """Advance every mark price one seeded random-walk step, then match."""
        trades: list[SimTrade] = []
        for key, market in self.markets.items():
            shock = Decimal(f"{self._rngs[key].gauss(0.0, 1.0):.9f}")
            moved = self.prices[key] * (1 + self.config.volatility * shock)
            rounded = round_to_step(moved, market.tick_size, ROUND_DOWN)
            trades.extend(self.set_price(key, rounded, now_ms))
        return trades

    # --- balances ------------------------------------------------------------------

    def adjust_balance(self, venue: str, asset: str, amount: Decimal, now_ms: int) -> None:
        """Deposit (amount > 0) or withdraw (amount < 0) on the spot or futures wallet."""
        if venue == "spot":
            self.spot.adjust(asset, amount)
            self.spot.update_ms = now_ms
        else:
            self.futures.adjust(asset, amount, self.futures_marks())
            self.futures.update_ms = now_ms

    # --- persistence (see sim/persistence.py) --------------------------------------

    def random_states(self) -> dict[str, tuple[object, ...]]:
        """The state of every market's random-walk generator (``random.getstate()``)."""
        return {key: rng.getstate() for key, rng in self._rngs.items()}

    def set_random_states(self, states: dict[str, tuple[object, ...]]) -> None:
        """Continue every market's random walk from a saved generator state."""
        for key, state in states.items():
            self._rngs[key].setstate(state)

    def load_orders(self, orders: Iterable[SimOrder]) -> None:
        """Replace every order and rebuild the open-order and client-id indexes.

        ``orders`` must come in ascending id order: the client-id index keeps the latest
        order of each id, and matching walks open orders in the order they were placed.
        """
        self.orders = {"spot": {}, "usdm": {}}
        self.open_orders = {k: {} for k in self.markets}
        self._by_client_id = {}
        for order in orders:
            key = f"{order.venue}:{order.symbol}"
            self.orders[order.venue][order.order_id] = order
            self._by_client_id[(key, order.client_order_id)] = order
            if order.is_open:
                self.open_orders[key][order.order_id] = order

    # --- internals -----------------------------------------------------------------

    def _record(self, market: Market, order: SimOrder) -> None:
        self.next_order_id[market.venue] += 1
        self.orders[market.venue][order.order_id] = order
        self._by_client_id[(market.key, order.client_order_id)] = order
        if order.is_open:
            self.open_orders[market.key][order.order_id] = order

    def taker_price(self, market: Market, side: str, mark: Decimal) -> Decimal:
        """Where a taker of ``side`` fills: the mark plus or minus the spread, on tick."""
        spread = self.config.spread
        if side == "BUY":
            return round_to_step(mark * (1 + spread), market.tick_size, ROUND_CEILING)
        return round_to_step(mark * (1 - spread), market.tick_size, ROUND_FLOOR)

    @staticmethod
    def _would_take(order: SimOrder, mark: Decimal) -> bool:
        if order.type == "MARKET":
            return True
        return order.price >= mark if order.side == "BUY" else order.price <= mark

    def _reserve(self, market: Market, order: SimOrder, mark: Decimal) -> None:
        """Lock funds for the whole order (spot, as Binance) or hold initial margin (futures)."""
        reference = order.price if order.type != "MARKET" else self.taker_price(
            market, order.side, mark
        )
        if market.venue == "spot":
            # Binance locks exactly price x remaining quote for a buy and the remaining
            # base for a sell: the fee comes out of what the fill brings in (base for a
            # buy, quote for a sell), so nothing is reserved for it.
            if order.side == "BUY":
                order.lock_asset = market.quote
                order.lock_per_unit = reference
            else:
                order.lock_asset = market.base
                order.lock_per_unit = Decimal(1)
            self.spot.lock(order.lock_asset, order.orig_qty * order.lock_per_unit)
            return
        pos = self.futures.position(market.symbol)
        if order.reduce_only:
            reducing = pos.amount < 0 if order.side == "BUY" else pos.amount > 0
            if not reducing:
                raise SimulatorRejectionError(-2022, "ReduceOnly Order is rejected.")
            return
        signed = order.orig_qty if order.side == "BUY" else -order.orig_qty
        # The leverage bracket's cap on the position (maxNotionalValue), before margin.
        if abs(pos.amount + signed) * reference > max_notional_for_leverage(pos.leverage):
            raise SimulatorRejectionError(
                -2027, "Exceeded the maximum allowable position at current leverage."
            )
        order.lock_asset = "USDT"
        order.lock_per_unit = reference / pos.leverage
        self.futures.reserve(order.orig_qty * order.lock_per_unit, self.futures_marks())

    def _match_resting(self, market: Market, now_ms: int) -> list[SimTrade]:
        trades: list[SimTrade] = []
        mark = self.prices[market.key]
        for order in list(self.open_orders[market.key].values()):
            if self._would_take(order, mark):
                trades.extend(self._match(market, order, now_ms, taker=False))
        return trades

    def _match(
        self, market: Market, order: SimOrder, now_ms: int, *, taker: bool
    ) -> list[SimTrade]:
        """One matching pass of one order against the current mark and depth."""
        mark = self.prices[market.key]
        if not self._would_take(order, mark):
            return []
        if order.type == "MARKET":
            price = self.taker_price(market, order.side, mark)
            qty = order.remaining
        else:
            price = order.price
            if taker:
                # A marketable limit takes the better of its limit and the touch.
                touch = self.taker_price(market, order.side, mark)
                price = min(price, touch) if order.side == "BUY" else max(price, touch)
            depth = round_to_step(
                self.config.depth_per_tick_quote / price, market.step_size, ROUND_DOWN
            )
            qty = min(order.remaining, depth)
        if order.reduce_only:
            qty = min(qty, abs(self.futures.position(market.symbol).amount))
        if order.time_in_force == "FOK" and qty < order.remaining:
            self._close(order, "EXPIRED", now_ms)
            return []
        trades: list[SimTrade] = []
        if qty > 0:
            trades.append(self._fill(market, order, qty, price, now_ms, maker=not taker))
        if order.remaining == 0:
            self._close(order, "FILLED", now_ms)
        elif (
            order.type == "MARKET"
            or order.time_in_force == "IOC"
            or (order.reduce_only and not self.futures.position(market.symbol).amount)
        ):
            self._close(order, "EXPIRED", now_ms)
        return trades

    def _fill(
        self, market: Market, order: SimOrder, qty: Decimal, price: Decimal, now_ms: int, *,
        maker: bool,
    ) -> SimTrade:
        cfg = self.config
        if market.venue == "spot":
            rate = cfg.spot_maker_fee if maker else cfg.spot_taker_fee
        else:
            rate = cfg.futures_maker_fee if maker else cfg.futures_taker_fee
        realized = Decimal(0)
        if market.venue == "spot":
            # Binance's spot commission is paid in the asset the fill brings in: the
            # buyer's in base, the seller's in quote (no BNB discount simulated).
            if order.side == "BUY":
                fee, fee_asset = q8(qty * rate), market.base
            else:
                fee, fee_asset = q8(qty * price * rate), market.quote
            self.spot.apply_fill(
                order, base=market.base, quote=market.quote, qty=qty, price=price, fee=fee
            )
            self.spot.update_ms = now_ms
        else:
            # USD-M pays every fee from the margin asset.
            fee, fee_asset = q8(qty * price * rate), market.quote
            realized = self.futures.apply_fill(order, qty, price, fee, now_ms)
        order.executed_qty += qty
        order.cum_quote += qty * price
        order.status = "PARTIALLY_FILLED"
        order.update_ms = now_ms
        trade_id = self.next_trade_id[market.venue]
        self.next_trade_id[market.venue] += 1
        trade = SimTrade(
            venue=market.venue,
            symbol=market.symbol,
            trade_id=trade_id,
            order_id=order.order_id,
            side=order.side,
            price=price,
            qty=qty,
            quote_qty=qty * price,
            commission=fee,
            commission_asset=fee_asset,
            time_ms=now_ms,
            is_maker=maker,
            realized_pnl=realized,
        )
        self.trades[market.key].append(trade)
        return trade

    def _close(self, order: SimOrder, status: str, now_ms: int) -> None:
        """Move an order to a final status and release what it still holds."""
        held = order.remaining * order.lock_per_unit
        if order.venue == "spot":
            self.spot.release(order.lock_asset, held)
        else:
            self.futures.release(held)
        order.status = status
        order.update_ms = now_ms
        self.open_orders[f"{order.venue}:{order.symbol}"].pop(order.order_id, None)

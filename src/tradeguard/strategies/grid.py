"""``Grid``: the sample strategy. A few limit orders on each side of the mid price.

Every tick it reads the ticker, computes ``levels`` buy prices below the mid and
``levels`` sell prices above it, ``spacing`` apart (a fraction of the mid), keeps the
orders already close to a wanted level, cancels the ones that drifted too far (the
price moved) and places the missing levels. Small sizes: it is a demo, not advice.

While any order of its symbol is UNKNOWN (or in flight) it places nothing new: the
unknown one may be working on the exchange, and a second order at the same level
would double the exposure. Not-placed orders are dropped after a restart
(``recovery_action``): the next tick re-quotes at the current price anyway.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING, Literal

from tradeguard.domain.enums import OrderStatus, OrderType, Side
from tradeguard.errors import OrderBlockedError, StoreError, TradeguardError
from tradeguard.logs import get_logger
from tradeguard.strategies.base import StrategyParameterError

if TYPE_CHECKING:
    from tradeguard.domain.orders import Order
    from tradeguard.session.session import Session

__all__ = ["Grid", "grid_prices"]

_log = get_logger("tradeguard.strategies.grid")


def _on_tick(price: Decimal, tick: Decimal, rounding: str) -> Decimal:
    return (price / tick).to_integral_value(rounding=rounding) * tick


def grid_prices(
    mid: Decimal, *, levels: int, spacing: Decimal, tick_size: Decimal
) -> tuple[list[Decimal], list[Decimal]]:
    """The wanted (buy, sell) prices: ``levels`` each, nearest first, on the tick grid.

    Buys are rounded down and sells up, so no level ever crosses the mid.
    """
    buys = [_on_tick(mid * (1 - spacing * k), tick_size, ROUND_FLOOR) for k in range(1, levels + 1)]
    sells = [
        _on_tick(mid * (1 + spacing * k), tick_size, ROUND_CEILING) for k in range(1, levels + 1)
    ]
    return buys, sells


def _decimal_param(name: str, value: object, *, upper: Decimal | None = None) -> Decimal:
    """A positive finite decimal from a str, int, float (as written) or Decimal."""
    if isinstance(value, bool) or not isinstance(value, Decimal | str | int | float):
        raise StrategyParameterError(name, f"must be a number, got {value!r}")
    try:
        # str() of a float is its shortest repr: 0.001 stays 0.001, not 0.00100000000000000002
        number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    except ArithmeticError as exc:
        raise StrategyParameterError(name, f"must be a number, got {value!r}") from exc
    if not number.is_finite() or number <= 0 or (upper is not None and number > upper):
        limit = f" and at most {upper}" if upper is not None else ""
        raise StrategyParameterError(name, f"must be greater than 0{limit}, got {value!r}")
    return number


class Grid:
    """Keeps ``levels`` limit orders of ``amount`` on each side of ``symbol``'s mid.

    ``spacing`` is the distance between levels as a fraction of the mid price; an
    order more than ``spacing / 2`` (relative) away from every wanted level is far and
    gets canceled.
    """

    def __init__(
        self,
        symbol: str = "BTC/USDT",
        *,
        levels: int = 3,
        spacing: Decimal | str | float = "0.001",
        amount: Decimal | str | float = "0.0005",
    ) -> None:
        # Parameters come from a TOML table too: check types, not only values.
        if not isinstance(symbol, str) or "/" not in symbol:
            raise StrategyParameterError(
                "symbol", f"must be a market like 'BTC/USDT', got {symbol!r}"
            )
        if isinstance(levels, bool) or not isinstance(levels, int) or not 1 <= levels <= 50:
            raise StrategyParameterError(
                "levels", f"must be an integer from 1 to 50, got {levels!r}"
            )
        self.symbol = symbol
        self.symbols = (symbol,)
        self.levels = levels
        self.spacing = _decimal_param("spacing", spacing, upper=Decimal("0.5"))
        self.amount = _decimal_param("amount", amount)
        self.placed = 0
        self._blocked_by: str | None = None  # why the last order was refused, if it was
        self.canceled = 0
        self.last_mid: Decimal | None = None

    async def on_start(self, session: Session) -> None:
        """Nothing to prepare: the first tick quotes the grid."""
        _log.info(
            "grid starting",
            symbol=self.symbol,
            levels=self.levels,
            spacing=str(self.spacing),
            amount=str(self.amount),
        )

    def recovery_action(self, order: Order) -> Literal["resubmit", "drop"]:
        """Drop: an old quote is worthless, the next tick places fresh ones."""
        return "drop"

    async def on_tick(self, session: Session) -> None:
        """Re-quote: cancel far orders, place missing levels."""
        ticker = await session.ticker(self.symbol)
        mid = ticker.mid
        if mid is None:
            return
        self.last_mid = mid
        market = session.market(self.symbol)
        buys, sells = grid_prices(
            mid, levels=self.levels, spacing=self.spacing, tick_size=market.tick_size
        )
        wanted: dict[Side, list[Decimal]] = {Side.BUY: buys, Side.SELL: sells}
        tolerance = mid * self.spacing / 2
        far: list[Order] = []
        for order in session.open_orders(self.symbol):
            levels = wanted[order.side]
            price = order.price
            near = next(
                (p for p in levels if price is not None and abs(price - p) <= tolerance), None
            )
            if near is None:
                far.append(order)
            else:
                levels.remove(near)  # this level is taken
        for order in far:
            try:
                await session.cancel_order(order.client_order_id)
                self.canceled += 1
            except StoreError:
                raise  # nothing can be journaled any more: this tick is over
            except TradeguardError as exc:
                _log.warning(
                    "grid cancel failed", client_order_id=order.client_order_id, error=str(exc)
                )
        if self._unsettled(session):
            return
        for side, prices in wanted.items():
            for price in prices:
                try:
                    await session.submit_order(
                        self.symbol, side, OrderType.LIMIT, self.amount, price
                    )
                except OrderBlockedError as exc:
                    # Once per cause, not every tick: a pause or a flag can last hours.
                    if str(exc) != self._blocked_by:
                        _log.warning("grid cannot place orders", reason=str(exc))
                        self._blocked_by = str(exc)
                    return
                if self._blocked_by is not None:
                    _log.info("grid places orders again")
                    self._blocked_by = None
                self.placed += 1

    def _unsettled(self, session: Session) -> bool:
        return any(
            o.status is OrderStatus.UNKNOWN or o.client_order_id in session.in_flight
            for o in session.state.orders_by_status(OrderStatus.UNKNOWN, OrderStatus.PENDING_SUBMIT)
            if o.symbol == self.symbol
        )

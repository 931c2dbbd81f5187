"""Local checks of an order before it is sent, and how it is named to ccxt: pure, no I/O.

Only what ccxt would otherwise *silently change* is checked here: ccxt truncates the
amount to the market's step and rounds the price to its tick without telling anyone,
so an order could be placed for less than was journaled. Limits the exchange enforces
itself (minimum quantity, minimum notional) are left to the exchange, whose answer is
the authority and whose rules may change.

Stop and take-profit orders are sent as ccxt's unified "market"/"limit" type with
``stopLossPrice`` or ``takeProfitPrice``; ccxt's Binance class turns them into
STOP_LOSS, STOP_LOSS_LIMIT, TAKE_PROFIT or TAKE_PROFIT_LIMIT on spot. On USD-M
perpetuals ccxt sends conditional orders to Binance's algo order API, whose orders are
not listed, fetched or canceled by the plain order calls this gateway makes, so an
algo order could not be found after a crash: those are refused before sending.
"""

from __future__ import annotations

from decimal import Decimal

from tradeguard.domain.enums import LIMIT_PRICE_TYPES, TRIGGER_TYPES, MarketKind, OrderType
from tradeguard.errors import InvalidOrderError
from tradeguard.exchange.reports import MarketInfo

__all__ = ["ccxt_order_type", "validate_order"]

_TAKE_PROFITS = frozenset({OrderType.TAKE_PROFIT_MARKET, OrderType.TAKE_PROFIT_LIMIT})


def _survives_float(value: Decimal) -> bool:
    # ccxt takes floats; the value must come back unchanged from one.
    return Decimal(str(float(value))) == value


def _price_problem(name: str, value: Decimal, market: MarketInfo) -> str | None:
    if not value.is_finite() or value <= 0:
        return f"{name} {value} must be > 0"
    if market.tick_size > 0 and value % market.tick_size != 0:
        return f"{name} {value} is not a multiple of the tick size {market.tick_size}"
    if not _survives_float(value):
        return f"{name} {value} has more digits than ccxt can carry"
    return None


def validate_order(
    market: MarketInfo,
    order_type: OrderType,
    amount: Decimal,
    price: Decimal | None,
    *,
    reduce_only: bool,
    context: str,
    trigger_price: Decimal | None = None,
) -> None:
    """Raise ``InvalidOrderError`` (prefixed with ``context``) if the order cannot be
    sent exactly as given."""
    problems: list[str] = []
    if not amount.is_finite() or amount <= 0:
        problems.append(f"amount {amount} must be > 0")
    elif market.step_size > 0 and amount % market.step_size != 0:
        problems.append(f"amount {amount} is not a multiple of the step size {market.step_size}")
    elif not _survives_float(amount):
        problems.append(f"amount {amount} has more digits than ccxt can carry")
    if order_type in LIMIT_PRICE_TYPES:
        if price is None:
            problems.append(f"a {order_type.value} order needs a price")
        elif (problem := _price_problem("price", price, market)) is not None:
            problems.append(problem)
    elif price is not None:
        problems.append(f"a {order_type.value} order takes no price")
    if order_type is OrderType.TRAILING_STOP_MARKET:
        problems.append("trailing stops are not supported for sending (they need a callback rate)")
    elif order_type in TRIGGER_TYPES:
        if trigger_price is None:
            problems.append(f"a {order_type.value} order needs a trigger price")
        elif (problem := _price_problem("trigger price", trigger_price, market)) is not None:
            problems.append(problem)
        if market.kind is MarketKind.PERPETUAL:
            problems.append(
                f"{order_type.value} orders on perpetuals are not supported for sending "
                "(ccxt places them through Binance's algo order API, which tradeguard "
                "cannot look up after a crash)"
            )
    elif trigger_price is not None:
        problems.append(f"a {order_type.value} order takes no trigger price")
    if reduce_only and market.kind is not MarketKind.PERPETUAL:
        problems.append("reduce_only is only for perpetuals")
    if problems:
        raise InvalidOrderError(f"{context}: not sent: {'; '.join(problems)}")


def ccxt_order_type(
    order_type: OrderType, trigger_price: Decimal | None
) -> tuple[str, dict[str, str]]:
    """ccxt's unified type for ``order_type`` and the params that carry its trigger.

    A stop is ``market``/``limit`` with ``stopLossPrice``; a take profit the same with
    ``takeProfitPrice`` (ccxt's unified names; the value is exact decimal text).
    """
    if order_type not in TRIGGER_TYPES:
        return order_type.value, {}
    if trigger_price is None:
        raise InvalidOrderError(f"a {order_type.value} order needs a trigger price")
    unified = "limit" if order_type in LIMIT_PRICE_TYPES else "market"
    key = "takeProfitPrice" if order_type in _TAKE_PROFITS else "stopLossPrice"
    return unified, {key: str(trigger_price)}

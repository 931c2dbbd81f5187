"""Local checks of an order before it is sent: pure, no I/O.

Only what ccxt would otherwise *silently change* is checked here: ccxt truncates the
amount to the market's step and rounds the price to its tick without telling anyone,
so an order could be placed for less than was journaled. Limits the exchange enforces
itself (minimum quantity, minimum notional) are left to the exchange, whose answer is
the authority and whose rules may change.
"""

from __future__ import annotations

from decimal import Decimal

from tradeguard.domain.enums import MarketKind, OrderType
from tradeguard.errors import InvalidOrderError
from tradeguard.exchange.reports import MarketInfo

__all__ = ["validate_order"]


def _survives_float(value: Decimal) -> bool:
    # ccxt takes floats; the value must come back unchanged from one.
    return Decimal(str(float(value))) == value


def validate_order(
    market: MarketInfo,
    order_type: OrderType,
    amount: Decimal,
    price: Decimal | None,
    *,
    reduce_only: bool,
    context: str,
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
    if order_type is OrderType.LIMIT:
        if price is None:
            problems.append("a limit order needs a price")
        elif not price.is_finite() or price <= 0:
            problems.append(f"price {price} must be > 0")
        elif market.tick_size > 0 and price % market.tick_size != 0:
            problems.append(f"price {price} is not a multiple of the tick size {market.tick_size}")
        elif not _survives_float(price):
            problems.append(f"price {price} has more digits than ccxt can carry")
    elif price is not None:
        problems.append("a market order takes no price")
    if reduce_only and market.kind is not MarketKind.PERPETUAL:
        problems.append("reduce_only is only for perpetuals")
    if problems:
        raise InvalidOrderError(f"{context}: not sent: {'; '.join(problems)}")

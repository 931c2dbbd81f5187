"""Enumerations of the domain: order status, side, order type, market kind, flags."""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "LIMIT_PRICE_TYPES",
    "TRIGGER_TYPES",
    "FlagSeverity",
    "FlagStatus",
    "MarketKind",
    "OrderStatus",
    "OrderType",
    "Side",
]


class OrderStatus(StrEnum):
    """Where an order is in its lifecycle (see DESIGN.md, "Order lifecycle")."""

    PENDING_SUBMIT = "pending_submit"  # journaled intent, request maybe in flight
    OPEN = "open"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    UNKNOWN = "unknown"  # outcome of a submit lost: only the exchange can settle it
    NOT_PLACED = "not_placed"  # provably absent on the exchange after the grace period
    REJECTED = "rejected"
    CANCELED = "canceled"
    EXPIRED = "expired"


class Side(StrEnum):
    """Order or trade side."""

    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    """Order type. The trigger types rest on the exchange until the market reaches
    their ``trigger_price`` (Binance's stop price), then act as a market or a limit
    order: a resting stop must never be mistaken for an ordinary order.

    Binance names: spot STOP_LOSS / STOP_LOSS_LIMIT / TAKE_PROFIT / TAKE_PROFIT_LIMIT;
    USD-M STOP_MARKET / STOP / TAKE_PROFIT_MARKET / TAKE_PROFIT / TRAILING_STOP_MARKET.
    """

    LIMIT = "limit"
    MARKET = "market"
    STOP_MARKET = "stop_market"
    STOP_LIMIT = "stop_limit"
    TAKE_PROFIT_MARKET = "take_profit_market"
    TAKE_PROFIT_LIMIT = "take_profit_limit"
    # Its trigger follows the price by a callback rate; ``trigger_price`` is the
    # activation price, which is optional.
    TRAILING_STOP_MARKET = "trailing_stop_market"


TRIGGER_TYPES: frozenset[OrderType] = frozenset(
    {
        OrderType.STOP_MARKET,
        OrderType.STOP_LIMIT,
        OrderType.TAKE_PROFIT_MARKET,
        OrderType.TAKE_PROFIT_LIMIT,
        OrderType.TRAILING_STOP_MARKET,
    }
)
"""Types that wait for a trigger price before they act."""

LIMIT_PRICE_TYPES: frozenset[OrderType] = frozenset(
    {OrderType.LIMIT, OrderType.STOP_LIMIT, OrderType.TAKE_PROFIT_LIMIT}
)
"""Types that carry a limit price (the others execute at market)."""


class MarketKind(StrEnum):
    """Spot market or (linear, USD-margined) perpetual swap."""

    SPOT = "spot"
    PERPETUAL = "perpetual"


class FlagSeverity(StrEnum):
    """A warning blocks its symbol; a critical flag blocks the whole session."""

    WARNING = "warning"
    CRITICAL = "critical"


class FlagStatus(StrEnum):
    """A manual-intervention flag is open until a person resolves it."""

    OPEN = "open"
    RESOLVED = "resolved"

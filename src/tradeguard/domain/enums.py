"""Enumerations of the domain: order status, side, order type, market kind, flags."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["FlagSeverity", "FlagStatus", "MarketKind", "OrderStatus", "OrderType", "Side"]


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
    """Order type."""

    LIMIT = "limit"
    MARKET = "market"


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

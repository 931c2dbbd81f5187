"""The exchange adapter: the gateway protocol, its ccxt implementation and reports.

``CcxtGateway`` imports ccxt (about 0.6 s); it is loaded lazily so that importing the
reports or the protocol stays cheap (the CLI's start-up time depends on it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tradeguard.exchange.config import ExchangeConfig
from tradeguard.exchange.gateway import ExchangeGateway
from tradeguard.exchange.reports import (
    BalanceReport,
    MarketInfo,
    OrderReport,
    OrdersPage,
    PageCursor,
    PositionReport,
    TickerReport,
    TradeReport,
    TradesPage,
)

if TYPE_CHECKING:
    from tradeguard.exchange.ccxt_gateway import CcxtGateway

__all__ = [
    "BalanceReport",
    "CcxtGateway",
    "ExchangeConfig",
    "ExchangeGateway",
    "MarketInfo",
    "OrderReport",
    "OrdersPage",
    "PageCursor",
    "PositionReport",
    "TickerReport",
    "TradeReport",
    "TradesPage",
]


def __getattr__(name: str) -> Any:
    if name == "CcxtGateway":
        from tradeguard.exchange.ccxt_gateway import CcxtGateway

        return CcxtGateway
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""The pure core: ids, events, orders, positions, balances, flags and session state.

Nothing here does I/O or imports another tradeguard package except ``tradeguard.errors``
(``tests/domain/test_purity.py`` enforces it).
"""

from __future__ import annotations

from tradeguard.domain.balances import Balance, make_balance
from tradeguard.domain.enums import (
    FlagSeverity,
    FlagStatus,
    MarketKind,
    OrderStatus,
    OrderType,
    Side,
)
from tradeguard.domain.events import (
    EVENT_TYPES,
    AnyEvent,
    BalanceUpdated,
    CancelRequested,
    Event,
    ExternalOrderAdopted,
    FillRecorded,
    FlagRaised,
    FlagResolved,
    InstrumentRegistered,
    OrderAcknowledged,
    OrderCanceled,
    OrderExpired,
    OrderIntended,
    OrderNotPlaced,
    OrderOutcomeUnknown,
    OrderRejected,
    OrderStateCorrected,
    OrderTermsCorrected,
    PositionCorrected,
    SessionStarted,
    SessionStopped,
    TradeCursorAdvanced,
)
from tradeguard.domain.flags import Flag
from tradeguard.domain.ids import (
    Asset,
    ClientOrderId,
    ExchangeOrderId,
    FlagId,
    Symbol,
    TradeId,
    make_client_order_id,
)
from tradeguard.domain.instruments import Instrument
from tradeguard.domain.orders import (
    OPEN_STATUSES,
    TERMINAL_STATUSES,
    TRANSITIONS,
    Order,
    is_open,
    is_terminal,
)
from tradeguard.domain.positions import DECIMAL_CONTEXT, Position
from tradeguard.domain.retention import (
    CLOSED_ORDERS_RETAINED,
    EXTERNAL_TRADES_RETAINED,
    RetentionPolicy,
)
from tradeguard.domain.state import SessionState, TradeKey

__all__ = [
    "CLOSED_ORDERS_RETAINED",
    "DECIMAL_CONTEXT",
    "EVENT_TYPES",
    "EXTERNAL_TRADES_RETAINED",
    "OPEN_STATUSES",
    "TERMINAL_STATUSES",
    "TRANSITIONS",
    "AnyEvent",
    "Asset",
    "Balance",
    "BalanceUpdated",
    "CancelRequested",
    "ClientOrderId",
    "Event",
    "ExchangeOrderId",
    "ExternalOrderAdopted",
    "FillRecorded",
    "Flag",
    "FlagId",
    "FlagRaised",
    "FlagResolved",
    "FlagSeverity",
    "FlagStatus",
    "Instrument",
    "InstrumentRegistered",
    "MarketKind",
    "Order",
    "OrderAcknowledged",
    "OrderCanceled",
    "OrderExpired",
    "OrderIntended",
    "OrderNotPlaced",
    "OrderOutcomeUnknown",
    "OrderRejected",
    "OrderStateCorrected",
    "OrderStatus",
    "OrderTermsCorrected",
    "OrderType",
    "Position",
    "PositionCorrected",
    "RetentionPolicy",
    "SessionStarted",
    "SessionState",
    "SessionStopped",
    "Side",
    "Symbol",
    "TradeCursorAdvanced",
    "TradeId",
    "TradeKey",
    "is_open",
    "is_terminal",
    "make_balance",
    "make_client_order_id",
]

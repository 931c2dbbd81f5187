"""What the exchange says, in tradeguard's terms: frozen report structs.

The gateway only *reports* (NautilusTrader's habit): these structs carry the venue's
view of markets, orders, trades, balances and positions, with ``Decimal`` for every
price, quantity and amount of money and integer nanoseconds for every timestamp. Pure
code (reconciliation) compares them with local state; nothing here does I/O.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from tradeguard.domain.enums import MarketKind, OrderStatus, OrderType, Side
from tradeguard.domain.ids import Asset, ClientOrderId, ExchangeOrderId, Symbol, TradeId

__all__ = [
    "BalanceReport",
    "MarketInfo",
    "OrderReport",
    "OrdersPage",
    "PageCursor",
    "PositionReport",
    "TickerReport",
    "TradeReport",
    "TradesPage",
]


class MarketInfo(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One tradable market and the filters an order must pass on it.

    ``tick_size`` and ``step_size`` are absolute increments (0.01, not "2 decimals"),
    whatever precision mode the exchange's ccxt class uses. ``contract_size`` is the
    base quantity of one contract (1 for spot and for Binance USD-M perpetuals).
    """

    symbol: Symbol
    kind: MarketKind
    base: Asset
    quote: Asset
    settle: Asset | None
    tick_size: Decimal
    step_size: Decimal
    min_amount: Decimal | None
    min_notional: Decimal | None
    contract: bool
    linear: bool | None
    inverse: bool | None
    contract_size: Decimal
    active: bool = True


class OrderReport(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The exchange's view of one order at ``updated_ns``.

    ``status`` is mapped from the exchange's status: an open order with a fill is
    PARTIALLY_FILLED; a canceled order keeps its ``filled`` quantity. ``price`` is None
    for market orders; ``average`` is None before the first fill. ``trigger_price``
    is the stop price of a stop or take-profit order (``type`` says which kind); None
    for ordinary orders and for a trailing stop without an activation price.
    """

    client_order_id: ClientOrderId | None
    exchange_order_id: ExchangeOrderId
    symbol: Symbol
    side: Side
    type: OrderType
    status: OrderStatus
    price: Decimal | None
    amount: Decimal
    filled: Decimal
    average: Decimal | None
    reduce_only: bool
    updated_ns: int
    trigger_price: Decimal | None = None

    @property
    def remaining(self) -> Decimal:
        """Quantity not filled yet (never negative)."""
        return max(self.amount - self.filled, Decimal(0))

    @property
    def is_open(self) -> bool:
        """True while the order can still fill."""
        return self.status in (OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED)


class TradeReport(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One fill of one of our orders. ``trade_id`` is unique per symbol on the exchange.

    ``fee`` is the amount charged in ``fee_asset`` (zero with ``fee_asset`` None when
    the exchange reports no fee). ``client_order_id`` is None when the exchange's trade
    list does not carry it (Binance's does not): join on ``exchange_order_id``.
    """

    trade_id: TradeId
    exchange_order_id: ExchangeOrderId
    client_order_id: ClientOrderId | None
    symbol: Symbol
    side: Side
    price: Decimal
    amount: Decimal
    fee: Decimal
    fee_asset: Asset | None
    is_maker: bool | None
    ts_ns: int


class BalanceReport(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One asset's balance in one account (``kind``: spot wallet or perpetual margin)."""

    asset: Asset
    free: Decimal
    used: Decimal
    total: Decimal
    kind: MarketKind = MarketKind.SPOT


class PositionReport(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Net position in one perpetual market; ``size`` is signed (negative = short).

    A flat position is reported with size 0 (the exchange usually omits those rows; the
    gateway fills them in for every requested symbol so "absent" never means "unknown").
    """

    symbol: Symbol
    size: Decimal
    entry_price: Decimal
    mark_price: Decimal | None
    unrealized_pnl: Decimal
    leverage: Decimal | None


class TickerReport(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Best bid, best ask and last price of one market at ``ts_ns``.

    ``bid``/``ask`` are None when the exchange's ticker does not carry them (then only
    ``last`` is known); ``mid`` falls back to ``last`` in that case.
    """

    symbol: Symbol
    bid: Decimal | None
    ask: Decimal | None
    last: Decimal | None
    ts_ns: int

    @property
    def mid(self) -> Decimal | None:
        """The mid price between bid and ask, else the last price, else None."""
        if self.bid is not None and self.ask is not None:
            return (self.bid + self.ask) / 2
        return self.last


class PageCursor(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Where the next incremental fetch of orders or trades starts.

    ``after_id`` is the last id already seen when the exchange pages by id (Binance:
    exact, ids grow per symbol). Otherwise ``since_ns`` is the timestamp of the newest
    item seen and ``seen_ids`` the ids at exactly that timestamp, so an item sharing the
    boundary timestamp is neither lost nor reported twice. The empty cursor starts at
    the beginning of the exchange's history.
    """

    after_id: str | None = None
    since_ns: int | None = None
    seen_ids: tuple[str, ...] = ()


class OrdersPage(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Orders created after a cursor (all pages fetched) and the cursor to continue."""

    orders: tuple[OrderReport, ...]
    cursor: PageCursor


class TradesPage(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Trades after a cursor (all pages fetched) and the cursor to continue."""

    trades: tuple[TradeReport, ...]
    cursor: PageCursor

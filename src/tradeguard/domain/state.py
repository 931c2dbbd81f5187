"""The session state and the one way to change it: ``SessionState.apply(event)``.

``apply`` is deterministic and validates before it mutates: every handler first builds
the new (frozen) order, position, balance or flag values, raising a ``DomainError`` if
the event does not fit, and only then stores them. A refused event leaves the state
exactly as it was. Dispatch is a dict lookup on the event's class; nothing is deep-copied
(the stored values are immutable, so replacing them is enough).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

import msgspec

from tradeguard.domain import orders as order_rules
from tradeguard.domain.balances import Balance, make_balance
from tradeguard.domain.enums import MarketKind, OrderStatus
from tradeguard.domain.events import (
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
    PositionCorrected,
    SessionStarted,
    SessionStopped,
    TradeCursorAdvanced,
)
from tradeguard.domain.flags import Flag, blocks, new_flag, resolve_flag
from tradeguard.domain.ids import Asset, ClientOrderId, ExchangeOrderId, FlagId, Symbol, TradeId
from tradeguard.domain.orders import Order
from tradeguard.domain.positions import Position, apply_fill, correct_position, flat_position
from tradeguard.errors import DomainError, InvalidTransitionError

__all__ = ["Instrument", "SessionState"]

_ZERO = Decimal(0)


class Instrument(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A market the session trades."""

    symbol: Symbol
    kind: MarketKind
    base: Asset
    quote: Asset
    settle: Asset | None = None


class SessionState:
    """Everything tradeguard knows about one session, rebuilt by replaying its events.

    The mappings hold frozen values; change them only through ``apply``. Equality is by
    value over everything ``apply`` sets, so a replayed state equals the live one.
    """

    __slots__ = (
        "_by_exchange_id",
        "balances",
        "flags",
        "instruments",
        "last_seq",
        "orders",
        "positions",
        "run_id",
        "running",
        "seen_trades",
        "session_id",
        "trade_cursors",
    )

    def __init__(self) -> None:
        self.session_id: str | None = None
        self.run_id: str | None = None
        self.running = False
        self.last_seq = 0
        self.instruments: dict[Symbol, Instrument] = {}
        self.orders: dict[ClientOrderId, Order] = {}
        self.positions: dict[Symbol, Position] = {}
        self.balances: dict[Asset, Balance] = {}
        self.flags: dict[FlagId, Flag] = {}
        self.trade_cursors: dict[Symbol, str] = {}
        # (symbol, trade id) of every fill counted: Binance trade ids are per symbol.
        self.seen_trades: set[tuple[Symbol, TradeId]] = set()
        # Derived index, rebuilt from ``orders``; not part of equality.
        self._by_exchange_id: dict[tuple[Symbol, ExchangeOrderId], ClientOrderId] = {}

    # --- applying events -------------------------------------------------------------

    def apply(self, event: Event, seq: int | None = None) -> None:
        """Apply one event; with ``seq`` (its journal sequence) also set ``last_seq``.

        Raises ``DomainError`` (``InvalidTransitionError`` for a forbidden lifecycle
        move) and changes nothing when the event does not fit the current state.
        """
        if seq is not None and seq <= self.last_seq:
            raise DomainError(
                f"event {type(event).__name__} has seq {seq}, not after last_seq {self.last_seq}"
            )
        handler = _HANDLERS.get(type(event))
        if handler is None:
            raise DomainError(f"no handler for event type {type(event).__name__}")
        handler(self, event)
        if seq is not None:
            self.last_seq = seq

    def apply_all(self, events: Iterable[tuple[int, Event]]) -> None:
        """Apply ``(seq, event)`` pairs in order (replay)."""
        handlers = _HANDLERS
        for seq, event in events:
            if seq <= self.last_seq:
                raise DomainError(
                    f"event {type(event).__name__} has seq {seq}, not after last_seq "
                    f"{self.last_seq}"
                )
            handlers[type(event)](self, event)
            self.last_seq = seq

    # --- queries ---------------------------------------------------------------------

    def order(self, client_order_id: str) -> Order | None:
        """The order with this client id, or None."""
        return self.orders.get(ClientOrderId(client_order_id))

    def order_by_exchange_id(self, symbol: str, exchange_order_id: str) -> Order | None:
        """The order the exchange knows as ``exchange_order_id`` on ``symbol``, or None."""
        cid = self._by_exchange_id.get((Symbol(symbol), ExchangeOrderId(exchange_order_id)))
        return None if cid is None else self.orders[cid]

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        """Orders PENDING_SUBMIT, OPEN or PARTIALLY_FILLED (optionally of one symbol)."""
        return [
            o
            for o in self.orders.values()
            if o.status in order_rules.OPEN_STATUSES and (symbol is None or o.symbol == symbol)
        ]

    def orders_by_status(self, *statuses: OrderStatus) -> list[Order]:
        """Orders in any of ``statuses``, in the order they were first seen."""
        wanted = frozenset(statuses)
        return [o for o in self.orders.values() if o.status in wanted]

    def unresolved_orders(self) -> list[Order]:
        """Orders whose fate only the exchange can settle: PENDING_SUBMIT and UNKNOWN."""
        return self.orders_by_status(OrderStatus.PENDING_SUBMIT, OrderStatus.UNKNOWN)

    def position(self, symbol: str) -> Position:
        """The position of ``symbol`` (flat if it never traded)."""
        found = self.positions.get(Symbol(symbol))
        return flat_position(Symbol(symbol)) if found is None else found

    def open_flags(self) -> list[Flag]:
        """Flags not yet resolved."""
        return [f for f in self.flags.values() if f.is_open]

    def is_blocked(self, symbol: str) -> bool:
        """True if an open flag stops new risk on ``symbol`` (critical: on everything)."""
        sym = Symbol(symbol)
        return any(blocks(f, sym) for f in self.flags.values())

    def has_trade(self, symbol: str, trade_id: str) -> bool:
        """Whether a fill with this trade id was already counted (callers dedupe)."""
        return (Symbol(symbol), TradeId(trade_id)) in self.seen_trades

    # --- value semantics -------------------------------------------------------------

    def copy(self) -> SessionState:
        """An independent copy (cheap: the stored values are immutable)."""
        other = SessionState()
        other.session_id = self.session_id
        other.run_id = self.run_id
        other.running = self.running
        other.last_seq = self.last_seq
        other.instruments = dict(self.instruments)
        other.orders = dict(self.orders)
        other.positions = dict(self.positions)
        other.balances = dict(self.balances)
        other.flags = dict(self.flags)
        other.trade_cursors = dict(self.trade_cursors)
        other.seen_trades = set(self.seen_trades)
        other._by_exchange_id = dict(self._by_exchange_id)
        return other

    def rebuild_indexes(self) -> None:
        """Recompute derived indexes after the mappings were filled directly (snapshots)."""
        self._by_exchange_id = {
            (o.symbol, o.exchange_order_id): cid
            for cid, o in self.orders.items()
            if o.exchange_order_id is not None
        }

    def _key(self) -> tuple[Any, ...]:
        return (
            self.session_id,
            self.run_id,
            self.running,
            self.last_seq,
            self.instruments,
            self.orders,
            self.positions,
            self.balances,
            self.flags,
            self.trade_cursors,
            self.seen_trades,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SessionState):
            return NotImplemented
        return self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]  # mutable container

    def __repr__(self) -> str:
        return (
            f"SessionState(session_id={self.session_id!r}, last_seq={self.last_seq}, "
            f"orders={len(self.orders)}, positions={len(self.positions)}, "
            f"balances={len(self.balances)}, flags={len(self.flags)})"
        )

    # --- helpers for handlers ----------------------------------------------------------

    def _existing_order(self, client_order_id: ClientOrderId, event_type: str) -> Order:
        found = self.orders.get(client_order_id)
        if found is None:
            raise DomainError(f"order {client_order_id!r} is not known; {event_type} refused")
        return found

    def _check_exchange_id_free(self, order: Order, event_type: str) -> None:
        if order.exchange_order_id is None:
            return
        owner = self._by_exchange_id.get((order.symbol, order.exchange_order_id))
        if owner is not None and owner != order.client_order_id:
            raise DomainError(
                f"order {order.client_order_id!r}: {event_type} gives exchange id "
                f"{order.exchange_order_id!r} on {order.symbol}, already used by order {owner!r}"
            )

    def _store_order(self, order: Order) -> None:
        previous = self.orders.get(order.client_order_id)
        if (
            previous is not None
            and previous.exchange_order_id is not None
            and previous.exchange_order_id != order.exchange_order_id
        ):
            del self._by_exchange_id[(previous.symbol, previous.exchange_order_id)]
        self.orders[order.client_order_id] = order
        if order.exchange_order_id is not None:
            self._by_exchange_id[(order.symbol, order.exchange_order_id)] = order.client_order_id


# --- handlers: validate into new values first, then store them -----------------------


def _session_started(state: SessionState, e: SessionStarted) -> None:
    if state.session_id is not None and state.session_id != e.session_id:
        raise DomainError(
            f"session_started for session {e.session_id!r} in session {state.session_id!r}"
        )
    state.session_id = e.session_id
    state.run_id = e.run_id
    state.running = True


def _session_stopped(state: SessionState, e: SessionStopped) -> None:
    if not state.running or state.run_id != e.run_id:
        raise InvalidTransitionError(
            f"session_stopped for run {e.run_id!r}, but the running run is "
            f"{state.run_id if state.running else None!r}"
        )
    state.running = False


def _instrument_registered(state: SessionState, e: InstrumentRegistered) -> None:
    state.instruments[e.symbol] = Instrument(
        symbol=e.symbol, kind=e.kind, base=e.base, quote=e.quote, settle=e.settle
    )


def _order_intended(state: SessionState, e: OrderIntended) -> None:
    if e.client_order_id in state.orders:
        existing = state.orders[e.client_order_id]
        raise DomainError(
            f"order {e.client_order_id!r} already exists ({existing.status.value}); "
            "order_intended needs a new client order id"
        )
    state.orders[e.client_order_id] = order_rules.new_order(e)


def _order_acknowledged(state: SessionState, e: OrderAcknowledged) -> None:
    order = order_rules.acknowledge(
        state._existing_order(e.client_order_id, "order_acknowledged"), e
    )
    state._check_exchange_id_free(order, "order_acknowledged")
    state._store_order(order)


def _order_rejected(state: SessionState, e: OrderRejected) -> None:
    order = state._existing_order(e.client_order_id, "order_rejected")
    state.orders[e.client_order_id] = order_rules.reject(order, e)


def _order_outcome_unknown(state: SessionState, e: OrderOutcomeUnknown) -> None:
    order = state._existing_order(e.client_order_id, "order_outcome_unknown")
    state.orders[e.client_order_id] = order_rules.mark_unknown(order, e)


def _order_not_placed(state: SessionState, e: OrderNotPlaced) -> None:
    order = state._existing_order(e.client_order_id, "order_not_placed")
    state.orders[e.client_order_id] = order_rules.mark_not_placed(order, e)


def _cancel_requested(state: SessionState, e: CancelRequested) -> None:
    order = state._existing_order(e.client_order_id, "cancel_requested")
    state.orders[e.client_order_id] = order_rules.request_cancel(order, e)


def _order_canceled(state: SessionState, e: OrderCanceled) -> None:
    order = state._existing_order(e.client_order_id, "order_canceled")
    state.orders[e.client_order_id] = order_rules.cancel(order, e)


def _order_expired(state: SessionState, e: OrderExpired) -> None:
    order = state._existing_order(e.client_order_id, "order_expired")
    state.orders[e.client_order_id] = order_rules.expire(order, e)


def _fill_recorded(state: SessionState, e: FillRecorded) -> None:
    key = (e.symbol, e.trade_id)
    if key in state.seen_trades:
        raise DomainError(
            f"trade {e.trade_id!r} on {e.symbol} (order {e.client_order_id!r}) is already "
            "recorded; fill_recorded refused (callers dedupe by trade id)"
        )
    if not (e.price.is_finite() and e.amount.is_finite() and e.fee.is_finite()):
        raise DomainError(f"trade {e.trade_id!r}: price, amount and fee must be finite")
    if e.price <= _ZERO or e.amount <= _ZERO:
        raise DomainError(
            f"trade {e.trade_id!r} (order {e.client_order_id!r}): price {e.price} and amount "
            f"{e.amount} must be > 0"
        )
    order = None
    if e.client_order_id is not None:
        current = state._existing_order(e.client_order_id, "fill_recorded")
        order = order_rules.record_fill(current, e)
    position = apply_fill(
        state.positions.get(e.symbol) or flat_position(e.symbol),
        side=e.side,
        price=e.price,
        amount=e.amount,
        fee=e.fee,
        fee_asset=e.fee_asset,
        ts_ns=e.ts_ns,
    )
    if order is not None:
        state.orders[order.client_order_id] = order
    state.positions[e.symbol] = position
    state.seen_trades.add(key)


def _order_state_corrected(state: SessionState, e: OrderStateCorrected) -> None:
    order = order_rules.correct(
        state._existing_order(e.client_order_id, "order_state_corrected"), e
    )
    state._check_exchange_id_free(order, "order_state_corrected")
    state._store_order(order)


def _external_order_adopted(state: SessionState, e: ExternalOrderAdopted) -> None:
    if e.client_order_id in state.orders:
        raise DomainError(
            f"order {e.client_order_id!r} already exists; external_order_adopted refused"
        )
    order = order_rules.adopt_external(e)
    state._check_exchange_id_free(order, "external_order_adopted")
    state._store_order(order)


def _balance_updated(state: SessionState, e: BalanceUpdated) -> None:
    state.balances[e.asset] = make_balance(e.asset, free=e.free, used=e.used, ts_ns=e.ts_ns)


def _position_corrected(state: SessionState, e: PositionCorrected) -> None:
    current = state.positions.get(e.symbol) or flat_position(e.symbol)
    state.positions[e.symbol] = correct_position(
        current, size=e.size, entry_price=e.entry_price, ts_ns=e.ts_ns
    )


def _trade_cursor_advanced(state: SessionState, e: TradeCursorAdvanced) -> None:
    state.trade_cursors[e.symbol] = e.cursor


def _flag_raised(state: SessionState, e: FlagRaised) -> None:
    if e.flag_id in state.flags:
        raise DomainError(f"flag {e.flag_id!r} already exists; flag_raised needs a new id")
    state.flags[e.flag_id] = new_flag(e)


def _flag_resolved(state: SessionState, e: FlagResolved) -> None:
    flag = state.flags.get(e.flag_id)
    if flag is None:
        raise DomainError(f"flag {e.flag_id!r} is not known; flag_resolved refused")
    state.flags[e.flag_id] = resolve_flag(flag, e)


_HANDLERS: dict[type[Event], Callable[[SessionState, Any], None]] = {
    SessionStarted: _session_started,
    SessionStopped: _session_stopped,
    InstrumentRegistered: _instrument_registered,
    OrderIntended: _order_intended,
    OrderAcknowledged: _order_acknowledged,
    OrderRejected: _order_rejected,
    OrderOutcomeUnknown: _order_outcome_unknown,
    OrderNotPlaced: _order_not_placed,
    CancelRequested: _cancel_requested,
    OrderCanceled: _order_canceled,
    OrderExpired: _order_expired,
    FillRecorded: _fill_recorded,
    OrderStateCorrected: _order_state_corrected,
    ExternalOrderAdopted: _external_order_adopted,
    BalanceUpdated: _balance_updated,
    PositionCorrected: _position_corrected,
    TradeCursorAdvanced: _trade_cursor_advanced,
    FlagRaised: _flag_raised,
    FlagResolved: _flag_resolved,
}

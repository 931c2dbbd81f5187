"""Orders and their lifecycle, as a transition table plus the functions that apply it.

Every function here is pure: it takes the current (frozen) ``Order`` and an event and
returns the next ``Order``, or raises ``InvalidTransitionError`` naming the order, its
status and the event. Nothing is mutated, so a refused event changes nothing.

Lifecycle (DESIGN.md): PENDING_SUBMIT -ack-> OPEN -fill-> PARTIALLY_FILLED -> FILLED;
a submit without a definite answer makes the order UNKNOWN (never REJECTED); only the
exchange's evidence settles it. REJECTED, CANCELED, EXPIRED and NOT_PLACED are terminal
for the ordinary events, but ``OrderStateCorrected`` (exchange evidence from
reconciliation) may move any state to the one the exchange reports, and a fill is
accepted on any order that can still take it (late evidence).
"""

from __future__ import annotations

from decimal import Decimal, localcontext
from typing import Final

import msgspec

from tradeguard.domain.enums import (
    LIMIT_PRICE_TYPES,
    TRIGGER_TYPES,
    MarketKind,
    OrderStatus,
    OrderType,
    Side,
)
from tradeguard.domain.events import (
    CancelRequested,
    ExternalOrderAdopted,
    FillRecorded,
    OrderAcknowledged,
    OrderCanceled,
    OrderExpired,
    OrderIntended,
    OrderNotPlaced,
    OrderOutcomeUnknown,
    OrderRejected,
    OrderStateCorrected,
    OrderTermsCorrected,
)
from tradeguard.domain.ids import ClientOrderId, ExchangeOrderId, Symbol
from tradeguard.domain.positions import DECIMAL_CONTEXT
from tradeguard.errors import DomainError, InvalidTransitionError

__all__ = [
    "FILL_PARTIAL_STATUS",
    "OPEN_STATUSES",
    "TERMINAL_STATUSES",
    "TRANSITIONS",
    "Order",
    "acknowledge",
    "adopt_external",
    "cancel",
    "correct",
    "correct_terms",
    "expire",
    "is_open",
    "is_terminal",
    "mark_not_placed",
    "mark_unknown",
    "new_order",
    "order_shape_problem",
    "record_fill",
    "record_fill_in_context",
    "reject",
    "request_cancel",
]

_PS = OrderStatus.PENDING_SUBMIT
_OPEN = OrderStatus.OPEN
_PF = OrderStatus.PARTIALLY_FILLED
_FILLED = OrderStatus.FILLED
_UNK = OrderStatus.UNKNOWN
_NP = OrderStatus.NOT_PLACED
_REJ = OrderStatus.REJECTED
_CAN = OrderStatus.CANCELED
_EXP = OrderStatus.EXPIRED
_LIMIT = OrderType.LIMIT  # enum member lookups cost ~100 ns each on Python 3.11
_MARKET = OrderType.MARKET
_TRAILING = OrderType.TRAILING_STOP_MARKET
_ZERO = Decimal(0)

OPEN_STATUSES: Final = frozenset({_PS, _OPEN, _PF})
"""Known to be ours and not finished: the order is (or is about to be) working."""

TERMINAL_STATUSES: Final = frozenset({_FILLED, _REJ, _CAN, _EXP, _NP})
"""Finished for the ordinary lifecycle; only exchange evidence moves them further."""

TRANSITIONS: Final[dict[str, dict[OrderStatus, OrderStatus]]] = {
    "order_acknowledged": {
        _PS: _OPEN,
        _UNK: _OPEN,
        _OPEN: _OPEN,  # a repeated ack (same exchange id) is harmless
        # The ack may arrive after fills or the cancel it raced with: keep their status.
        _PF: _PF,
        _FILLED: _FILLED,
        _CAN: _CAN,
        _EXP: _EXP,
    },
    "order_rejected": {_PS: _REJ, _UNK: _REJ},
    # OPEN/PARTIALLY_FILLED -> UNKNOWN only while a cancel is pending (guard in code).
    "order_outcome_unknown": {_PS: _UNK, _OPEN: _UNK, _PF: _UNK},
    # Guard in code: never for an order the exchange acknowledged or filled.
    "order_not_placed": {_UNK: _NP},
    "cancel_requested": {_PS: _PS, _OPEN: _OPEN, _PF: _PF, _UNK: _UNK},
    "order_canceled": {_PS: _CAN, _OPEN: _CAN, _PF: _CAN, _UNK: _CAN},
    "order_expired": {_PS: _EXP, _OPEN: _EXP, _PF: _EXP, _UNK: _EXP},
}
"""Event tag -> {status before: status after} for the ordinary lifecycle events.

A status missing from an event's row is a forbidden transition. Fills and corrections
are not in this table: see ``FILL_PARTIAL_STATUS`` and ``correct``.
"""

FILL_PARTIAL_STATUS: Final[dict[OrderStatus, OrderStatus]] = {
    _PS: _PF,  # a fill proves the order exists even before its ack was recorded
    _OPEN: _PF,
    _PF: _PF,
    _UNK: _PF,
    _NP: _PF,  # the exchange's evidence beats our "provably absent"
    # A partial fill that happened before the cancel/expiry/rejection: status stays.
    _REJ: _REJ,
    _CAN: _CAN,
    _EXP: _EXP,
}
"""Status after a fill that leaves the order partially filled. A fill that completes the
order always gives FILLED. FILLED is absent: any further fill would overfill."""


def is_open(status: OrderStatus) -> bool:
    """True for PENDING_SUBMIT, OPEN and PARTIALLY_FILLED."""
    return status in OPEN_STATUSES


def is_terminal(status: OrderStatus) -> bool:
    """True for FILLED, REJECTED, CANCELED, EXPIRED and NOT_PLACED."""
    return status in TERMINAL_STATUSES


class Order(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One order as tradeguard knows it.

    The trade ids of its fills live in the session state (``SessionState.trade_ids``),
    not here: a tuple on a frozen order would be copied whole at every fill.
    """

    client_order_id: ClientOrderId
    exchange_order_id: ExchangeOrderId | None = None
    symbol: Symbol
    kind: MarketKind
    side: Side
    order_type: OrderType
    amount: Decimal
    price: Decimal | None = None
    reduce_only: bool = False
    trigger_price: Decimal | None = None
    status: OrderStatus
    filled: Decimal = _ZERO
    average_fill_price: Decimal | None = None
    cancel_requested: bool = False
    created_ns: int
    updated_ns: int
    external: bool = False
    last_reason: str = ""

    @property
    def is_open(self) -> bool:
        """True while the order is (or is about to be) working on the exchange."""
        return self.status in OPEN_STATUSES

    @property
    def is_terminal(self) -> bool:
        """True once the ordinary lifecycle is over."""
        return self.status in TERMINAL_STATUSES

    @property
    def remaining(self) -> Decimal:
        """Amount not yet filled."""
        return self.amount - self.filled

    @property
    def is_trigger(self) -> bool:
        """True for stop-loss, take-profit and trailing-stop orders."""
        return self.order_type in TRIGGER_TYPES


def _refuse(order: Order, event_type: str, why: str = "") -> InvalidTransitionError:
    detail = f": {why}" if why else ""
    return InvalidTransitionError(
        f"order {order.client_order_id!r} is {order.status.value}; "
        f"{event_type} cannot be applied{detail}"
    )


def order_shape_problem(
    order_type: OrderType,
    amount: Decimal,
    price: Decimal | None,
    trigger_price: Decimal | None,
) -> str | None:
    """Why an order of these terms cannot exist, or None when it can.

    A limit-priced type (limit, stop limit, take-profit limit) needs a price; a
    trigger type needs a trigger price (a trailing stop's activation price is
    optional); an ordinary limit or market order has no trigger price.
    """
    if not amount.is_finite() or amount <= _ZERO:
        return f"amount must be > 0, got {amount}"
    if price is not None and (not price.is_finite() or price <= _ZERO):
        return f"price must be > 0, got {price}"
    if trigger_price is not None and (not trigger_price.is_finite() or trigger_price <= _ZERO):
        return f"trigger price must be > 0, got {trigger_price}"
    # Identity tests first: plain limit and market orders are the replay hot path,
    # and a frozenset lookup of an enum member costs a Python-level __hash__ call.
    if order_type is _MARKET or order_type is _LIMIT:
        if price is None and order_type is _LIMIT:
            return "a limit order needs a price"
        if trigger_price is not None:
            return f"a {order_type.value} order takes no trigger price"
        return None
    if price is None and order_type in LIMIT_PRICE_TYPES:
        return f"a {order_type.value} order needs a price"
    if trigger_price is None and order_type is not _TRAILING:
        return f"a {order_type.value} order needs a trigger price"
    return None


def _check_shape(
    client_order_id: str,
    amount: Decimal,
    price: Decimal | None,
    order_type: OrderType,
    trigger_price: Decimal | None = None,
) -> None:
    problem = order_shape_problem(order_type, amount, price, trigger_price)
    if problem is not None:
        raise DomainError(f"order {client_order_id!r}: {problem}")


def new_order(event: OrderIntended) -> Order:
    """The PENDING_SUBMIT order an intent creates (the caller checks the id is new)."""
    _check_shape(
        event.client_order_id, event.amount, event.price, event.order_type, event.trigger_price
    )
    return Order(
        client_order_id=event.client_order_id,
        symbol=event.symbol,
        kind=event.kind,
        side=event.side,
        order_type=event.order_type,
        amount=event.amount,
        price=event.price,
        reduce_only=event.reduce_only,
        trigger_price=event.trigger_price,
        status=_PS,
        created_ns=event.ts_ns,
        updated_ns=event.ts_ns,
    )


def adopt_external(event: ExternalOrderAdopted) -> Order:
    """An order found on the exchange, tracked from now on (the caller checks the id)."""
    _check_shape(
        event.client_order_id, event.amount, event.price, event.order_type, event.trigger_price
    )
    if event.filled < _ZERO or event.filled > event.amount:
        raise DomainError(
            f"order {event.client_order_id!r}: adopted filled {event.filled} is outside "
            f"0..{event.amount}"
        )
    return Order(
        client_order_id=event.client_order_id,
        exchange_order_id=event.exchange_order_id,
        symbol=event.symbol,
        kind=event.kind,
        side=event.side,
        order_type=event.order_type,
        amount=event.amount,
        price=event.price,
        trigger_price=event.trigger_price,
        status=event.status,
        filled=event.filled,
        created_ns=event.ts_ns,
        updated_ns=event.ts_ns,
        external=True,
        last_reason=event.cause,
    )


# One row per event, looked up once: these functions run once per replayed event.
_ACK = TRANSITIONS["order_acknowledged"]
_REJECT = TRANSITIONS["order_rejected"]
_MARK_UNKNOWN = TRANSITIONS["order_outcome_unknown"]
_NOT_PLACED = TRANSITIONS["order_not_placed"]
_REQUEST_CANCEL = TRANSITIONS["cancel_requested"]
_CANCEL = TRANSITIONS["order_canceled"]
_EXPIRE = TRANSITIONS["order_expired"]
_replace = msgspec.structs.replace


def _next_status(order: Order, row: dict[OrderStatus, OrderStatus], event_type: str) -> OrderStatus:
    after = row.get(order.status)
    if after is None:
        raise _refuse(order, event_type)
    return after


def acknowledge(order: Order, event: OrderAcknowledged) -> Order:
    """Record the exchange's id; PENDING_SUBMIT/UNKNOWN become OPEN."""
    status = _next_status(order, _ACK, "order_acknowledged")
    known = order.exchange_order_id
    if known is not None and known != event.exchange_order_id:
        raise _refuse(
            order,
            "order_acknowledged",
            f"exchange id {event.exchange_order_id!r} differs from known {known!r}",
        )
    return _replace(
        order, status=status, exchange_order_id=event.exchange_order_id, updated_ns=event.ts_ns
    )


def reject(order: Order, event: OrderRejected) -> Order:
    """A definite rejection of a submit that was pending or unknown."""
    status = _next_status(order, _REJECT, "order_rejected")
    if order.filled > _ZERO:
        raise _refuse(order, "order_rejected", f"it already has {order.filled} filled")
    return _replace(order, status=status, updated_ns=event.ts_ns, last_reason=event.reason)


def mark_unknown(order: Order, event: OrderOutcomeUnknown) -> Order:
    """The submit (or a pending cancel) got no definite answer."""
    status = _next_status(order, _MARK_UNKNOWN, "order_outcome_unknown")
    if order.status is not _PS and not order.cancel_requested:
        raise _refuse(order, "order_outcome_unknown", "only a pending submit or cancel")
    return _replace(order, status=status, updated_ns=event.ts_ns, last_reason=event.reason)


def mark_not_placed(order: Order, event: OrderNotPlaced) -> Order:
    """An UNKNOWN order is provably absent on the exchange."""
    status = _next_status(order, _NOT_PLACED, "order_not_placed")
    if order.exchange_order_id is not None or order.filled > _ZERO:
        raise _refuse(
            order, "order_not_placed", "the exchange acknowledged or filled it, so it was placed"
        )
    return _replace(order, status=status, updated_ns=event.ts_ns, last_reason=event.reason)


def request_cancel(order: Order, event: CancelRequested) -> Order:
    """Write-ahead record of a cancel request; the status does not change yet."""
    status = _next_status(order, _REQUEST_CANCEL, "cancel_requested")
    return _replace(order, status=status, cancel_requested=True, updated_ns=event.ts_ns)


def cancel(order: Order, event: OrderCanceled) -> Order:
    """The exchange confirmed the cancel."""
    status = _next_status(order, _CANCEL, "order_canceled")
    return _replace(order, status=status, updated_ns=event.ts_ns, last_reason=event.reason)


def expire(order: Order, event: OrderExpired) -> Order:
    """The exchange expired the order."""
    status = _next_status(order, _EXPIRE, "order_expired")
    return _replace(order, status=status, updated_ns=event.ts_ns)


def record_fill(order: Order, event: FillRecorded) -> Order:
    """Add one execution: filled, average price and status move; overfill is refused.

    The caller has already checked that the trade id is new and that the fill's
    amounts are finite and positive.
    """
    with localcontext(DECIMAL_CONTEXT):
        return record_fill_in_context(order, event)


def record_fill_in_context(order: Order, event: FillRecorded) -> Order:
    """``record_fill`` for callers that already run inside ``DECIMAL_CONTEXT``.

    ``SessionState.apply`` sets the context once per event (once per replay in
    ``apply_all``), so the arithmetic here uses plain operators: a third of the cost
    of ``Context`` method calls on the replay hot path, with the same digits.
    """
    if order.symbol != event.symbol or order.side is not event.side:
        raise _refuse(
            order,
            "fill_recorded",
            f"trade {event.trade_id!r} is {event.side.value} {event.symbol}, the order is "
            f"{order.side.value} {order.symbol}",
        )
    amount = event.amount
    before = order.filled
    filled = before + amount
    if filled > order.amount:
        raise DomainError(
            f"order {order.client_order_id!r} ({order.status.value}): trade {event.trade_id!r} "
            f"of {amount} would overfill it ({filled} > amount {order.amount})"
        )
    if filled == order.amount:
        status = _FILLED
    else:
        partial = FILL_PARTIAL_STATUS.get(order.status)
        if partial is None:  # pragma: no cover - FILLED always overfills above
            raise _refuse(order, "fill_recorded")
        status = partial
    previous = order.average_fill_price
    if previous is None or not before:
        average = event.price
    else:
        average = (previous * before + event.price * amount) / filled
    return _replace(
        order,
        status=status,
        filled=filled,
        average_fill_price=average,
        updated_ns=event.ts_ns,
    )


def correct(order: Order, event: OrderStateCorrected) -> Order:
    """Adopt the exchange's view of the order, from any state (evidence wins).

    Positions are not touched: reconciliation journals missing fills first.
    """
    if event.filled < _ZERO or event.filled > order.amount:
        raise DomainError(
            f"order {order.client_order_id!r} ({order.status.value}): order_state_corrected "
            f"filled {event.filled} is outside 0..{order.amount}"
        )
    exchange_id = event.exchange_order_id or order.exchange_order_id
    average = event.average_fill_price
    if average is None and event.filled == order.filled:
        average = order.average_fill_price
    return _replace(
        order,
        status=event.status,
        filled=event.filled,
        exchange_order_id=exchange_id,
        average_fill_price=average,
        updated_ns=event.ts_ns,
        last_reason=event.cause,
    )


def correct_terms(order: Order, event: OrderTermsCorrected) -> Order:
    """Adopt the exchange's type, limit price and trigger price (evidence wins).

    The corrected terms must still describe a possible order; status and fills stay.
    """
    problem = order_shape_problem(event.order_type, order.amount, event.price, event.trigger_price)
    if problem is not None:
        raise _refuse(order, "order_terms_corrected", problem)
    return _replace(
        order,
        order_type=event.order_type,
        price=event.price,
        trigger_price=event.trigger_price,
        updated_ns=event.ts_ns,
        last_reason=event.cause,
    )

"""Trade recovery after a restart: which orders to cancel or resubmit, in what order.

Pure. After local recovery, reconciliation and UNKNOWN resolution, what is left to do
is: cancels whose request was journaled but never confirmed (send them again), and
orders found NOT_PLACED that the strategy still wants (its ``recovery_action`` hook
says ``resubmit`` or ``drop``). The actions are ordered risk-reducing first, then by
notional at risk, by the configurable criteria of :func:`prioritise`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Final, Literal

import msgspec

from tradeguard.domain.enums import TRIGGER_TYPES, OrderStatus, OrderType, Side
from tradeguard.domain.orders import Order
from tradeguard.domain.state import SessionState
from tradeguard.session.config import DEFAULT_PRIORITY, PriorityCriterion

__all__ = [
    "RecoveryAction",
    "RecoveryActionResult",
    "RecoveryDecision",
    "build_recovery_actions",
    "prioritise",
    "priority_key",
]

RecoveryDecision = Literal["resubmit", "drop"]
"""What the strategy wants done with an order that was never placed."""

_WORKING: Final = frozenset({OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED})


class RecoveryAction(msgspec.Struct, frozen=True, kw_only=True):
    """One trade-recovery step: re-send a cancel, or resubmit a not-placed order.

    ``closing``: the order reduces the current position of its symbol. ``notional``:
    amount times limit price (else the trigger price of a stop, else the reference
    price for a market order; 0 unknown). ``trigger_price`` keeps a resubmitted stop
    or take profit a resting trigger order instead of an order that executes at once.
    """

    kind: Literal["cancel", "resubmit"]
    client_order_id: str
    symbol: str
    side: Side
    order_type: OrderType
    amount: Decimal
    price: Decimal | None
    reduce_only: bool
    closing: bool
    notional: Decimal
    trigger_price: Decimal | None = None

    @property
    def risk_reducing(self) -> bool:
        """Cancels, reduce-only orders and orders closing a position (protective stops
        and take profits among them)."""
        return self.kind == "cancel" or self.reduce_only or self.closing

    @property
    def protective(self) -> bool:
        """A stop or take profit that closes or reduces the position: a resubmit that
        puts protection back."""
        return self.order_type in TRIGGER_TYPES and (self.reduce_only or self.closing)


class RecoveryActionResult(msgspec.Struct, frozen=True, kw_only=True):
    """One recovery action as it ran: ``done`` or ``failed`` (``error``), and when.

    ``started_ns``/``finished_ns`` are wall-clock nanoseconds; ``duration_ms`` is
    measured on the monotonic clock.
    """

    action: RecoveryAction
    outcome: Literal["done", "failed"]
    error: str | None
    started_ns: int
    finished_ns: int
    duration_ms: float


def _closes_position(order: Order, state: SessionState) -> bool:
    size = state.position(order.symbol).size
    if size > 0:
        return order.side is Side.SELL and order.remaining <= size
    if size < 0:
        return order.side is Side.BUY and order.remaining <= -size
    return False


def _action(
    kind: Literal["cancel", "resubmit"],
    order: Order,
    state: SessionState,
    reference_prices: Mapping[str, Decimal],
) -> RecoveryAction:
    price = order.price
    if price is None:
        price = order.trigger_price  # a stop executes around its trigger
    if price is None:
        price = reference_prices.get(order.symbol)
    return RecoveryAction(
        kind=kind,
        client_order_id=order.client_order_id,
        symbol=order.symbol,
        side=order.side,
        order_type=order.order_type,
        amount=order.remaining,
        price=order.price,
        reduce_only=order.reduce_only,
        trigger_price=order.trigger_price,
        closing=_closes_position(order, state),
        notional=Decimal(0) if price is None else abs(order.remaining * price),
    )


def build_recovery_actions(
    state: SessionState,
    not_placed: Iterable[str],
    decide: Callable[[Order], RecoveryDecision],
    *,
    reference_prices: Mapping[str, Decimal] | None = None,
) -> list[RecoveryAction]:
    """The unordered recovery actions: pending cancels and wanted resubmits.

    ``not_placed`` are the client ids found NOT_PLACED during this recovery; ``decide``
    is the strategy's hook (called once per such order).
    """
    prices = reference_prices or {}
    actions = [
        _action("cancel", order, state, prices)
        for order in state.orders.values()
        if order.cancel_requested and order.status in _WORKING
    ]
    for cid in not_placed:
        order = state.order(cid)
        if order is None or order.status is not OrderStatus.NOT_PLACED:
            continue
        if decide(order) == "resubmit":
            actions.append(_action("resubmit", order, state, prices))
    return actions


def priority_key(
    action: RecoveryAction, criteria: Sequence[PriorityCriterion] = DEFAULT_PRIORITY
) -> tuple[Decimal | int, ...]:
    """Sort key of one action: smaller first, one component per criterion."""
    key: list[Decimal | int] = []
    for criterion in criteria:
        if criterion == "cancel":
            key.append(0 if action.kind == "cancel" else 1)
        elif criterion == "reduce_only":
            key.append(0 if action.reduce_only else 1)
        elif criterion == "closing":
            key.append(0 if action.closing else 1)
        elif criterion == "notional":
            key.append(-action.notional)
        else:
            raise ValueError(f"unknown recovery priority criterion {criterion!r}")
    return tuple(key)


def prioritise(
    actions: Iterable[RecoveryAction],
    criteria: Sequence[PriorityCriterion] = DEFAULT_PRIORITY,
) -> list[RecoveryAction]:
    """``actions`` in execution order: by ``criteria`` in turn, ties in input order.

    The default puts cancels first, then reduce-only orders, then orders closing a
    position, then the largest notional at risk.
    """
    return sorted(actions, key=lambda action: priority_key(action, criteria))

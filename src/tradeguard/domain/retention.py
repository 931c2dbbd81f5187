"""What the hot session state keeps, and what it retires: a deterministic rule.

A live trading system must not carry every order it ever placed. The state keeps

- every order that is not closed (PENDING_SUBMIT, OPEN, PARTIALLY_FILLED, UNKNOWN), and
- the ``closed_orders`` most recently closed orders (FILLED, REJECTED, CANCELED, EXPIRED,
  NOT_PLACED), retiring the oldest first in the order they closed;
- the trade ids of the fills of the orders it keeps (the dedupe set), and the
  ``external_trades`` most recent trade ids of fills that belong to no order.

"Closed" is entered when an order first reaches a terminal status. Later events that
keep it terminal (a late ack, a partial fill that happened before the cancel) do not
move it in the queue; exchange evidence that reopens it (``OrderStateCorrected`` to a
working status) takes it out of the queue, and if it closes again it queues anew.
The rule depends only on the event sequence, so live apply, full replay and snapshot +
tail all retire the same orders at the same events. The journal keeps everything.

Late evidence about a retired order is refused with a clear ``DomainError`` at apply
time, before the caller journals it (callers apply, then write): a ``FillRecorded``,
``OrderStateCorrected``, ``OrderCanceled`` ... naming a retired client order id finds no
order, exactly as for an id never seen. Replay never meets such an event, because
nothing that was refused live was ever journaled. Reconciliation (a later issue) treats
an exchange report about an order the state does not hold as external evidence: it
looks the client order id up in the journal, and records a fill of it as a fill of no
order (``client_order_id=None``, which moves the position) or raises a flag. Trade
cursors (``trade_cursors``) are never retired, so trades before a symbol's cursor are
not fetched again; a fill whose trade id was retired from the dedupe set would only be
counted twice if the exchange reported it again behind the cursor, and then only as a
fill of no order.

The limits are part of the state (a snapshot carries them), so a snapshot restored by a
build with other defaults keeps retiring exactly as the run that wrote it.
"""

from __future__ import annotations

from typing import Final

import msgspec

from tradeguard.errors import DomainError

__all__ = ["CLOSED_ORDERS_RETAINED", "EXTERNAL_TRADES_RETAINED", "RetentionPolicy"]

CLOSED_ORDERS_RETAINED: Final = 10_000
"""Closed orders the state keeps (most recently closed); older ones are retired."""

EXTERNAL_TRADES_RETAINED: Final = 10_000
"""Trade ids of fills of no order kept for dedupe (most recent); older ones are dropped."""


class RetentionPolicy(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How many closed orders and external trade ids the session state keeps."""

    closed_orders: int = CLOSED_ORDERS_RETAINED
    external_trades: int = EXTERNAL_TRADES_RETAINED

    def __post_init__(self) -> None:
        # A negative limit has no meaning; zero keeps nothing closed (late fills after a
        # cancel are then refused), which is legal but rarely wise.
        if self.closed_orders < 0 or self.external_trades < 0:
            raise DomainError(
                f"retention limits must be >= 0, got closed_orders={self.closed_orders}, "
                f"external_trades={self.external_trades}"
            )

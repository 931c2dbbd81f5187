"""Typed discrepancies between the journal and the exchange, and the outcome of a diff.

One struct per row of DESIGN.md's reconciliation table. Each carries the facts on both
sides and ``action``: what the diff did about it (one of the ``ACTION_*`` strings).
They are frozen, tagged msgspec structs, so a report encodes them to JSON as they are.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

import msgspec

from tradeguard.domain.enums import FlagSeverity, OrderStatus, OrderType, Side
from tradeguard.domain.events import AnyEvent, FlagRaised
from tradeguard.domain.ids import FlagId, Symbol
from tradeguard.domain.state import SessionState

__all__ = [
    "ACTION_ADOPTED",
    "ACTION_ALREADY_FLAGGED",
    "ACTION_APPLIED",
    "ACTION_CORRECTED",
    "ACTION_CORRECTED_AND_FLAGGED",
    "ACTION_EXPLAINED",
    "ACTION_FLAGGED",
    "ACTION_NOT_PLACED",
    "ACTION_WAITING",
    "BalanceMismatch",
    "Discrepancy",
    "ExternalOrder",
    "Flagger",
    "MissingFill",
    "PositionMismatch",
    "ReconcileOutcome",
    "StateMismatch",
    "TermsMismatch",
    "Unchecked",
    "UnknownResolved",
    "VanishedOrder",
    "decimal_text",
    "flag_base",
    "flag_id",
]

ACTION_APPLIED: Final = "applied"
"""Missing fill journaled."""
ACTION_CORRECTED: Final = "corrected"
"""The exchange's figures were adopted (order state, position entry, balance)."""
ACTION_ADOPTED: Final = "adopted"
"""An order (unknown or external) is now tracked with the exchange's state."""
ACTION_NOT_PLACED: Final = "not_placed"
"""An unknown order is provably absent after the grace period."""
ACTION_WAITING: Final = "waiting"
"""An unknown order is absent but still within its grace period: decided later."""
ACTION_FLAGGED: Final = "flagged"
"""A manual-intervention flag was raised."""
ACTION_CORRECTED_AND_FLAGGED: Final = "corrected_and_flagged"
"""Corrected, and flagged because the change is too large to pass silently."""
ACTION_EXPLAINED: Final = "explained_by_fills"
"""The difference disappears once this run's missing fills are journaled."""
ACTION_ALREADY_FLAGGED: Final = "already_flagged"
"""A flag for this discrepancy exists already (open, or resolved by a person)."""


class _Discrepancy(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind"):
    """Base of the discrepancy types; ``action`` is what the diff did about it."""

    symbol: str | None
    action: str


class MissingFill(_Discrepancy, frozen=True, kw_only=True, tag="missing_fill"):
    """A trade on the exchange the journal never recorded (``client_order_id`` None: the
    trade is not of an order we track, or the order's filled already counts it)."""

    trade_id: str
    exchange_order_id: str
    client_order_id: str | None
    side: Side
    price: Decimal
    amount: Decimal


class StateMismatch(_Discrepancy, frozen=True, kw_only=True, tag="state_mismatch"):
    """A known order whose status or filled quantity differs from the exchange's."""

    client_order_id: str
    exchange_order_id: str | None
    local_status: OrderStatus
    exchange_status: OrderStatus
    local_filled: Decimal
    exchange_filled: Decimal


class TermsMismatch(_Discrepancy, frozen=True, kw_only=True, tag="terms_mismatch"):
    """A known order whose type or trigger price differs from the exchange's: a stop we
    journaled that the exchange holds as an ordinary order, or a trigger that moved.
    The exchange's terms are adopted and a person is told (``flag_id``)."""

    client_order_id: str
    exchange_order_id: str | None
    local_type: OrderType
    exchange_type: OrderType
    local_trigger: Decimal | None
    exchange_trigger: Decimal | None
    local_price: Decimal | None
    exchange_price: Decimal | None
    flag_id: str | None = None


class UnknownResolved(_Discrepancy, frozen=True, kw_only=True, tag="unknown_resolved"):
    """A PENDING_SUBMIT/UNKNOWN order settled: found (adopted) or absent (not placed)."""

    client_order_id: str
    local_status: OrderStatus
    found: bool
    exchange_order_id: str | None = None
    exchange_status: OrderStatus | None = None


class ExternalOrder(_Discrepancy, frozen=True, kw_only=True, tag="external_order"):
    """An order open on the exchange that we did not place."""

    exchange_order_id: str
    client_order_id: str | None
    side: Side
    amount: Decimal
    price: Decimal | None
    status: OrderStatus
    filled: Decimal
    flag_id: str | None = None
    order_type: OrderType | None = None
    trigger_price: Decimal | None = None


class VanishedOrder(_Discrepancy, frozen=True, kw_only=True, tag="vanished_order"):
    """A local order the exchange acknowledged (or that is open) but no longer knows."""

    client_order_id: str
    exchange_order_id: str | None
    local_status: OrderStatus
    flag_id: str | None = None


class PositionMismatch(_Discrepancy, frozen=True, kw_only=True, tag="position_mismatch"):
    """A perpetual position that differs from the exchange's before this run's fills.

    ``explained``: the missing fills bring the size within tolerance (then only the
    entry price is corrected, if it differs); otherwise it is flagged.
    """

    local_size: Decimal
    local_entry: Decimal
    size_after_fills: Decimal
    exchange_size: Decimal
    exchange_entry: Decimal
    explained: bool
    flag_id: str | None = None


class BalanceMismatch(_Discrepancy, frozen=True, kw_only=True, tag="balance_mismatch"):
    """An account balance that differs from the last one journaled (or was never seen).

    ``account`` is the key the balance is journaled under (see ``balance_key``);
    ``unexplained_change`` is the change of the total not accounted for by this run's
    fills; ``large`` means it is beyond the policy's ratio.
    """

    account: str
    local_total: Decimal | None
    exchange_free: Decimal
    exchange_used: Decimal
    exchange_total: Decimal
    unexplained_change: Decimal
    large: bool
    flag_id: str | None = None


Discrepancy = (
    MissingFill
    | StateMismatch
    | TermsMismatch
    | UnknownResolved
    | ExternalOrder
    | VanishedOrder
    | PositionMismatch
    | BalanceMismatch
)
"""Any discrepancy (a tagged union msgspec can encode and decode)."""


class Unchecked(msgspec.Struct, frozen=True, kw_only=True):
    """Something the diff could not compare: reported as not done, never as "equal"."""

    what: str
    symbol: str | None = None
    client_order_id: str | None = None
    reason: str


class ReconcileOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """What the diff found and the events that correct it, in journal order.

    ``events`` apply cleanly to the state the diff was given, in this order. ``checked``
    names every comparison that was made; ``complete`` is False when anything was left
    unchecked (a failed fetch, an event that did not fit).
    """

    discrepancies: tuple[Discrepancy, ...]
    events: tuple[AnyEvent, ...]
    checked: tuple[str, ...]
    unchecked: tuple[Unchecked, ...]
    waiting: tuple[str, ...]
    complete: bool


def decimal_text(value: Decimal) -> str:
    """A decimal as plain text without trailing zeros (``-0.020`` -> ``-0.02``), for ids."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def flag_base(kind: str, subject: str) -> str:
    """The stable part of a reconciliation flag id: ``kind:subject``."""
    return f"{kind}:{subject}"


def flag_id(kind: str, subject: str, detail: str = "") -> str:
    """A deterministic flag id: ``kind:subject`` or ``kind:subject@detail``.

    No sequence number in it, so reconciling twice finds the flag of the first run.
    ``detail`` distinguishes a new fact about the same subject (another position size)
    from the one a person has already seen.
    """
    base = flag_base(kind, subject)
    return f"{base}@{detail}" if detail else base


class Flagger:
    """Raises flags with deterministic ids, once per subject while one is open."""

    def __init__(self, state: SessionState, ts_ns: int) -> None:
        self._ts_ns = ts_ns
        self._ids: set[str] = set(state.flags)
        self._open_bases = {_base_of(f.flag_id) for f in state.flags.values() if f.is_open}
        self.events: list[FlagRaised] = []

    def raise_flag(
        self,
        *,
        kind: str,
        subject: str,
        detail: str = "",
        severity: FlagSeverity,
        symbol: str | None,
        message: str,
        actions: tuple[str, ...],
    ) -> tuple[str, bool]:
        """Flag a discrepancy unless already flagged; returns (flag id, raised now)."""
        fid = flag_id(kind, subject, detail)
        base = flag_base(kind, subject)
        if fid in self._ids or base in self._open_bases:
            return fid, False
        self._ids.add(fid)
        self._open_bases.add(base)
        self.events.append(
            FlagRaised(
                ts_ns=self._ts_ns,
                flag_id=FlagId(fid),
                severity=severity,
                kind=kind,
                symbol=None if symbol is None else Symbol(symbol),
                message=message,
                actions=actions,
            )
        )
        return fid, True


def _base_of(fid: str) -> str:
    return fid.partition("@")[0]

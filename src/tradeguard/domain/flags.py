"""Manual-intervention flags: discrepancies that stop new risk until a person decides.

A critical flag blocks the whole session; a warning flag blocks its symbol. A warning
without a symbol blocks the whole session too: when we cannot tell what it touches we
fail closed (DESIGN.md principle 4).
"""

from __future__ import annotations

from typing import Final

import msgspec

from tradeguard.domain.enums import FlagSeverity, FlagStatus
from tradeguard.domain.events import FlagRaised, FlagResolved
from tradeguard.domain.ids import FlagId, Symbol
from tradeguard.errors import DomainError, InvalidTransitionError

__all__ = ["FLAG_ACTIONS", "Flag", "blocks", "new_flag", "resolve_flag"]

FLAG_ACTIONS: Final[dict[str, tuple[str, ...]]] = {
    "external_order": ("adopt", "cancel_on_exchange", "ignore"),
    "vanished_order": ("mark_canceled", "investigate"),
    "order_terms_mismatch": ("acknowledge", "investigate"),
    "large_balance_change": ("acknowledge", "investigate"),
    "position_mismatch": ("accept_exchange_position", "investigate"),
}
"""The actions each kind of reconciliation flag offers: the one list. Every one of them
is carried out by ``tradeguard.session.flag_actions`` (an action that cannot be carried
out is not offered)."""


class Flag(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A raised flag and, once resolved, the action a person chose, their note and who
    they were (``resolved_by``: empty when a v1 record did not say)."""

    flag_id: FlagId
    severity: FlagSeverity
    kind: str
    symbol: Symbol | None = None
    message: str
    actions: tuple[str, ...]
    status: FlagStatus = FlagStatus.OPEN
    raised_ns: int
    resolved_ns: int | None = None
    resolution_action: str | None = None
    resolution_note: str | None = None
    resolved_by: str | None = None

    @property
    def is_open(self) -> bool:
        """True until a person resolves the flag."""
        return self.status is FlagStatus.OPEN


def new_flag(event: FlagRaised) -> Flag:
    """The open flag an event raises (the caller checks the id is new)."""
    if not event.actions:
        raise DomainError(f"flag {event.flag_id!r}: a flag needs at least one allowed action")
    if len(set(event.actions)) != len(event.actions):
        raise DomainError(f"flag {event.flag_id!r}: duplicate actions in {event.actions!r}")
    return Flag(
        flag_id=event.flag_id,
        severity=event.severity,
        kind=event.kind,
        symbol=event.symbol,
        message=event.message,
        actions=event.actions,
        raised_ns=event.ts_ns,
    )


def resolve_flag(flag: Flag, event: FlagResolved) -> Flag:
    """The flag resolved with ``event.action``, which must be one of its actions."""
    if flag.status is not FlagStatus.OPEN:
        raise InvalidTransitionError(
            f"flag {flag.flag_id!r} is {flag.status.value}; flag_resolved cannot be applied"
        )
    if event.action not in flag.actions:
        raise InvalidTransitionError(
            f"flag {flag.flag_id!r} is {flag.status.value}; flag_resolved action "
            f"{event.action!r} is not one of {flag.actions!r}"
        )
    return msgspec.structs.replace(
        flag,
        status=FlagStatus.RESOLVED,
        resolved_ns=event.ts_ns,
        resolution_action=event.action,
        resolution_note=event.note,
        resolved_by=event.by,
    )


def blocks(flag: Flag, symbol: Symbol) -> bool:
    """Whether this flag stops new risk on ``symbol``."""
    if flag.status is not FlagStatus.OPEN:
        return False
    if flag.severity is FlagSeverity.CRITICAL or flag.symbol is None:
        return True
    return flag.symbol == symbol

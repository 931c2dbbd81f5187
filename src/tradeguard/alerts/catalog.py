"""The alerts tradeguard sends, built from plain values (pure: no I/O, no clock).

Each builder fixes the alert's key (what cool-down and de-duplication group by), its
severity and its wording. Check alerts take a ``name, status, detail`` triple so they
do not depend on the health package; recovery figures are read from any object with
a recovery report's attributes.
"""

from __future__ import annotations

from typing import Protocol

from tradeguard.alerts.policy import Alert
from tradeguard.domain.enums import FlagSeverity
from tradeguard.domain.events import FlagRaised, ReconciliationReported

__all__ = [
    "RecoveryFigures",
    "alert_test_message",
    "check_critical",
    "check_recovered",
    "flag_raised",
    "reconciliation_incomplete",
    "recovery_finished",
    "store_fenced",
    "store_poisoned",
    "unclean_shutdown",
]


class RecoveryFigures(Protocol):
    """What a recovery alert reports (``recovery.manager.RecoveryReport`` has these)."""

    @property
    def replayed_events(self) -> int: ...
    @property
    def last_seq(self) -> int: ...
    @property
    def snapshot_seq(self) -> int | None: ...
    @property
    def quarantined_records(self) -> int: ...
    @property
    def accepted_loss(self) -> bool: ...
    @property
    def duration_ms(self) -> float: ...


def check_critical(session_id: str, name: str, status: str, detail: str, ts_ns: int) -> Alert:
    """A health check turned critical."""
    return Alert(
        key=f"{session_id}:check:{name}:critical",
        severity="critical",
        title=f"tradeguard {session_id}: check {name} is {status}",
        body=f"Health check {name} turned {status}: {detail}",
        ts_ns=ts_ns,
    )


def check_recovered(session_id: str, name: str, status: str, detail: str, ts_ns: int) -> Alert:
    """A check that was critical is healthy again (its own key: never hidden by the
    critical alert's cool-down)."""
    return Alert(
        key=f"{session_id}:check:{name}:recovered",
        severity="warning",
        title=f"tradeguard {session_id}: check {name} recovered ({status})",
        body=f"Health check {name} is {status} again: {detail}",
        ts_ns=ts_ns,
    )


def flag_raised(session_id: str, event: FlagRaised) -> Alert:
    """A manual-intervention flag: trading on its symbol (or the session) is blocked."""
    scope = f"symbol {event.symbol}" if event.symbol else "the whole session"
    blocked = event.symbol if event.severity is FlagSeverity.WARNING else "the whole session"
    return Alert(
        key=f"{session_id}:flag:{event.flag_id}",
        severity="critical" if event.severity is FlagSeverity.CRITICAL else "warning",
        title=f"tradeguard {session_id}: manual intervention needed ({event.kind})",
        body=(
            f"Flag {event.flag_id} ({event.severity.value}, {scope}): {event.message}\n"
            f"New orders are blocked on {blocked or scope} until it is resolved.\n"
            f"Allowed actions: {', '.join(event.actions) or 'none'} "
            f"(tradeguard resolve {event.flag_id} --action ...)."
        ),
        ts_ns=event.ts_ns,
    )


def unclean_shutdown(session_id: str, previous_run: str, ts_ns: int) -> Alert:
    """The previous run did not stop cleanly (found at start)."""
    return Alert(
        key=f"{session_id}:unclean_shutdown",
        severity="warning",
        title=f"tradeguard {session_id}: unclean shutdown found at start",
        body=(
            f"Run {previous_run or '(unknown)'} did not stop cleanly; recovery and "
            "reconciliation run before trading resumes."
        ),
        ts_ns=ts_ns,
    )


def recovery_finished(session_id: str, figures: RecoveryFigures, ts_ns: int) -> Alert:
    """Recovery at start finished; the figures say what was replayed and lost."""
    snapshot = "none" if figures.snapshot_seq is None else f"seq {figures.snapshot_seq}"
    lossy = figures.quarantined_records > 0 or figures.accepted_loss
    return Alert(
        key=f"{session_id}:recovery_finished",
        severity="warning" if lossy else "info",
        title=f"tradeguard {session_id}: recovery finished",
        body=(
            f"Snapshot: {snapshot}; replayed {figures.replayed_events} events up to seq "
            f"{figures.last_seq}; quarantined records: {figures.quarantined_records}; "
            f"accepted loss: {'yes' if figures.accepted_loss else 'no'}; "
            f"took {figures.duration_ms:.0f} ms."
        ),
        ts_ns=ts_ns,
    )


def reconciliation_incomplete(session_id: str, event: ReconciliationReported) -> Alert:
    """A reconciliation run could not check everything (nothing is claimed about it)."""
    unchecked = ", ".join(event.unchecked) or "-"
    failures = "; ".join(event.failures) or "-"
    return Alert(
        key=f"{session_id}:reconciliation_incomplete",
        severity="warning",
        title=f"tradeguard {session_id}: reconciliation incomplete",
        body=f"Not checked: {unchecked}. Failures: {failures}.",
        ts_ns=event.ts_ns,
    )


def store_poisoned(session_id: str, detail: str, ts_ns: int) -> Alert:
    """The store refused a write and is poisoned: the session stopped trading."""
    return Alert(
        key=f"{session_id}:store_poisoned",
        severity="critical",
        title=f"tradeguard {session_id}: store poisoned, trading stopped",
        body=f"The journal could not be written and the store was closed: {detail}",
        ts_ns=ts_ns,
    )


def store_fenced(session_id: str, detail: str, ts_ns: int) -> Alert:
    """Another writer took the session over; this instance stopped (fenced)."""
    return Alert(
        key=f"{session_id}:store_fenced",
        severity="critical",
        title=f"tradeguard {session_id}: fenced by another writer, stopped",
        body=f"A newer writer holds the session; this instance stopped: {detail}",
        ts_ns=ts_ns,
    )


def alert_test_message(ts_ns: int, host: str = "") -> Alert:
    """The alert ``tradeguard alert-test`` sends to every channel."""
    where = f" from {host}" if host else ""
    return Alert(
        key=f"alert_test:{ts_ns}",
        severity="info",
        title="tradeguard test alert",
        body=f"This is a test alert{where}: delivery through this channel works.",
        ts_ns=ts_ns,
    )

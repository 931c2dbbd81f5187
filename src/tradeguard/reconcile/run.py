"""One reconciliation run: fetch, diff, journal the corrections, log, report.

``reconcile_once(service, gateway, policy)`` is what the session calls at startup and
every ``reconcile.interval_seconds``; ``reconcile_state`` is the same run on any state
with any ``append`` (or none: a dry run), for read-only tools.

The diff and the append happen in one synchronous step (no ``await`` between them), so
no other writer of the same session can slip an event in between: the corrections are
decided on exactly the state they are applied to.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Protocol

from tradeguard.domain.events import AnyEvent, ReconciliationReported
from tradeguard.domain.state import SessionState
from tradeguard.exchange.gateway import ExchangeGateway
from tradeguard.logs import get_logger
from tradeguard.reconcile.diff import diff
from tradeguard.reconcile.discrepancies import (
    ACTION_ALREADY_FLAGGED,
    ACTION_CORRECTED_AND_FLAGGED,
    ACTION_FLAGGED,
    ACTION_WAITING,
    Unchecked,
    VanishedOrder,
)
from tradeguard.reconcile.fetch import fetch_snapshot
from tradeguard.reconcile.policy import ReconcilePolicy
from tradeguard.reconcile.report import ReconcileReport, build_report

__all__ = [
    "AppendFn",
    "AppendedSeqs",
    "ReconcileJournal",
    "persist_report",
    "reconcile_once",
    "reconcile_state",
]

_log = get_logger("tradeguard.reconcile")



class AppendedSeqs(Protocol):
    """What a durable append answers: the inclusive range of seqs it was given."""

    @property
    def first_seq(self) -> int:
        """Seq of the first event appended."""

    @property
    def last_seq(self) -> int:
        """Seq of the last event appended."""


AppendFn = Callable[[list[AnyEvent]], Awaitable[AppendedSeqs]]
"""Durable append of a batch of events (the running service's ``append``)."""


class ReconcileJournal(Protocol):
    """The part of the running service a reconciliation writes through (a port).

    Reconciliation never sees the store: the app's service satisfies this structurally.
    """

    @property
    def state(self) -> SessionState:
        """The live state ``append`` updates."""

    @property
    def run_id(self) -> str:
        """The running service's run id (named in the log)."""

    async def append(self, events: list[AnyEvent]) -> AppendedSeqs:
        """Journal ``events`` durably and apply them to the state."""


async def reconcile_state(
    state: SessionState,
    gateway: ExchangeGateway,
    policy: ReconcilePolicy,
    *,
    append: AppendFn | None,
    symbols: Iterable[str] = (),
    clock_ns: Callable[[], int] = time.time_ns,
) -> ReconcileReport:
    """Reconcile ``state`` (the live object ``append`` updates) against the exchange.

    With ``append`` None nothing is journaled (dry run); the report says what would be.
    """
    started_ns = clock_ns()
    started = time.perf_counter()
    snapshot = await fetch_snapshot(gateway, state, symbols, ts_now=started_ns)
    outcome = diff(state, snapshot, policy, ts_now=clock_ns())
    orders_compared = len(state.orders)
    journaled: tuple[int, int] | None = None
    if append is not None and outcome.events:
        result = await append(list(outcome.events))
        journaled = (result.first_seq, result.last_seq)
    report = build_report(
        snapshot=snapshot,
        outcome=outcome,
        started_ns=started_ns,
        finished_ns=clock_ns(),
        duration_ms=(time.perf_counter() - started) * 1000,
        dry_run=append is None,
        orders_compared=orders_compared,
        journaled=journaled,
    )
    log_report(report)
    return report


async def reconcile_once(
    service: ReconcileJournal,
    gateway: ExchangeGateway,
    policy: ReconcilePolicy,
    *,
    dry_run: bool = False,
    symbols: Iterable[str] = (),
) -> ReconcileReport:
    """One run against the service's live state; corrections journaled in one append."""
    report = await reconcile_state(
        service.state,
        gateway,
        policy,
        append=None if dry_run else service.append,
        symbols=symbols,
    )
    if not dry_run:
        await persist_report(service, report)
    return report


async def persist_report(service: ReconcileJournal, report: ReconcileReport) -> None:
    """The one place a run's report is persisted: journaled as ``ReconciliationReported``
    (after the corrective events it describes), and summarised in the log."""
    event = ReconciliationReported(
        ts_ns=report.finished_ns,
        complete=report.complete,
        duration_us=round(report.duration_ms * 1000),
        symbols=tuple(report.symbols),
        checked=tuple(report.checked),
        unchecked=tuple(_describe_unchecked(u) for u in report.unchecked),
        failures=tuple(f"{f.what}:{f.symbol or '-'}: {f.error}" for f in report.failures),
        found=tuple(f"{kind}={count}" for kind, count in sorted(report.found.items())),
        events_journaled=report.events_journaled,
        first_seq=report.first_seq,
        last_seq=report.last_seq,
        flags_raised=tuple(report.flags_raised),
    )
    await service.append([event])
    _log.info(
        "reconcile report",
        run_id=service.run_id,
        complete=report.complete,
        duration_ms=report.duration_ms,
        found=report.found,
        events_journaled=report.events_journaled,
        first_seq=report.first_seq,
        last_seq=report.last_seq,
        flags_raised=list(report.flags_raised),
        unchecked=len(report.unchecked),
        failures=list(event.failures),
    )


def _describe_unchecked(item: Unchecked) -> str:
    where = " ".join(p for p in (item.symbol, item.client_order_id) if p)
    return f"{item.what}{' ' + where if where else ''}: {item.reason}"


def log_report(report: ReconcileReport) -> None:
    """One log line per action taken (flags as warnings, vanished orders as errors)."""
    for item in report.discrepancies:
        fields = {
            name: str(value) if value is not None and not isinstance(value, (bool, int)) else value
            for name, value in _fields(item)
        }
        kind = type(item).__struct_config__.tag
        if isinstance(item, VanishedOrder):
            _log.error(f"reconcile: {kind}", **fields)
        elif item.action in (ACTION_FLAGGED, ACTION_CORRECTED_AND_FLAGGED, ACTION_ALREADY_FLAGGED):
            _log.warning(f"reconcile: {kind}", **fields)
        elif item.action != ACTION_WAITING:
            _log.info(f"reconcile: {kind}", **fields)
    for missed in report.unchecked:
        _log.warning(
            "reconcile: not checked",
            what=missed.what,
            symbol=missed.symbol,
            client_order_id=missed.client_order_id,
            reason=missed.reason,
        )
    done = _log.info if report.complete else _log.warning
    done(
        "reconcile finished" if report.complete else "reconcile INCOMPLETE",
        complete=report.complete,
        dry_run=report.dry_run,
        duration_ms=report.duration_ms,
        found=report.found,
        events=report.events_planned,
        unchecked=len(report.unchecked),
    )


def _fields(item: object) -> Sequence[tuple[str, object]]:
    names: tuple[str, ...] = getattr(item, "__struct_fields__", ())
    return [(name, getattr(item, name)) for name in names]

"""The report every reconciliation run leaves: what was checked, found, done, and how long.

A frozen msgspec struct, so ``--json`` output and (once the domain has the event) the
journal get the same fields. ``complete`` False means something was not checked;
the run then claims nothing about it.
"""

from __future__ import annotations

from collections import Counter

import msgspec

from tradeguard.domain.enums import FlagSeverity
from tradeguard.domain.events import AnyEvent, FlagRaised
from tradeguard.reconcile.discrepancies import Discrepancy, ReconcileOutcome, Unchecked
from tradeguard.reconcile.snapshot import ExchangeSnapshot, FetchFailure

__all__ = ["ReconcileReport", "build_report"]


class ReconcileReport(msgspec.Struct, frozen=True, kw_only=True):
    """One reconciliation run.

    - ``checked``: the comparisons made (``open_orders:SYMBOL``, ``trades:SYMBOL``,
      ``position:SYMBOL``, ``balances``), plus ``orders_compared`` local orders;
    - ``unchecked`` and ``failures``: what could not be compared, and why;
    - ``discrepancies`` with the action taken on each, counted in ``found``;
    - ``events_planned`` and ``events_journaled`` (0 for a dry run), and the journal
      sequence range they got; ``flags_raised`` (``critical_flags`` among them block
      the whole session); ``waiting``: unknown orders still
      within their grace period.
    """

    started_ns: int
    finished_ns: int
    duration_ms: float
    dry_run: bool
    complete: bool
    symbols: tuple[str, ...]
    checked: tuple[str, ...]
    orders_compared: int
    unchecked: tuple[Unchecked, ...]
    failures: tuple[FetchFailure, ...]
    discrepancies: tuple[Discrepancy, ...]
    found: dict[str, int]
    events_planned: int
    events_journaled: int
    event_types: dict[str, int]
    first_seq: int | None = None
    last_seq: int | None = None
    flags_raised: tuple[str, ...]
    critical_flags: tuple[str, ...]
    waiting: tuple[str, ...]


def _tag(obj: msgspec.Struct) -> str:
    tag = type(obj).__struct_config__.tag
    return tag if isinstance(tag, str) else type(obj).__name__


def build_report(
    *,
    snapshot: ExchangeSnapshot,
    outcome: ReconcileOutcome,
    started_ns: int,
    finished_ns: int,
    duration_ms: float,
    dry_run: bool,
    orders_compared: int,
    journaled: tuple[int, int] | None,
) -> ReconcileReport:
    """Assemble the report of one run; ``journaled`` is the (first, last) seq written."""
    events: tuple[AnyEvent, ...] = outcome.events
    return ReconcileReport(
        started_ns=started_ns,
        finished_ns=finished_ns,
        duration_ms=round(duration_ms, 3),
        dry_run=dry_run,
        complete=outcome.complete and snapshot.complete,
        symbols=tuple(sorted(snapshot.symbols)),
        checked=outcome.checked,
        orders_compared=orders_compared,
        unchecked=outcome.unchecked,
        failures=snapshot.failures,
        discrepancies=outcome.discrepancies,
        found=dict(Counter(_tag(d) for d in outcome.discrepancies)),
        events_planned=len(events),
        events_journaled=0 if journaled is None else len(events),
        event_types=dict(Counter(_tag(e) for e in events)),
        first_seq=None if journaled is None else journaled[0],
        last_seq=None if journaled is None else journaled[1],
        flags_raised=tuple(e.flag_id for e in events if isinstance(e, FlagRaised)),
        critical_flags=tuple(
            e.flag_id
            for e in events
            if isinstance(e, FlagRaised) and e.severity is FlagSeverity.CRITICAL
        ),
        waiting=outcome.waiting,
    )

"""The session's use of reconciliation: run ``reconcile_once`` and keep a status line.

Reconciliation itself lives in ``tradeguard.reconcile`` (fetch, pure diff, corrective
events and flags). The session runs it at startup and every
``reconcile.interval_seconds``; this module turns each run into a small
``ReconcileStatus`` for displays, and never reports a failed run as "no differences".
"""

from __future__ import annotations

import time

import msgspec

from tradeguard.config import Config
from tradeguard.errors import TradeguardError
from tradeguard.exchange.gateway import ExchangeGateway
from tradeguard.logs import get_logger
from tradeguard.reconcile import ReconcilePolicy, ReconcileReport, reconcile_once
from tradeguard.session.ports import SessionJournalPort

__all__ = ["ReconcileStatus", "run_reconcile"]

_log = get_logger("tradeguard.session.reconcile")


class ReconcileStatus(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of one reconciliation run, for the session's displays.

    ``complete`` False: some fetch failed, so the run proves nothing about what it could
    not see; ``report`` is reconciliation's full report (None when the run failed).
    """

    at_ns: int
    complete: bool
    discrepancies: int
    flags_raised: int
    events_journaled: int
    duration_ms: float
    error: str | None = None
    report: ReconcileReport | None = None


async def run_reconcile(
    service: SessionJournalPort,
    gateway: ExchangeGateway,
    config: Config,
    *,
    unknown_grace_ns: int | None = None,
) -> ReconcileStatus:
    """Run one reconciliation now; its errors become an incomplete status, logged."""
    started = time.perf_counter()
    now = time.time_ns()
    overrides: dict[str, object] = {}
    if unknown_grace_ns is not None:
        overrides["unknown_grace_ns"] = unknown_grace_ns
    policy = ReconcilePolicy.from_settings(config.reconcile, **overrides)
    try:
        report = await reconcile_once(service, gateway, policy)
    except TradeguardError as exc:
        _log.error("reconciliation failed", error=str(exc), error_type=type(exc).__name__)
        return ReconcileStatus(
            at_ns=now,
            complete=False,
            discrepancies=0,
            flags_raised=0,
            events_journaled=0,
            duration_ms=(time.perf_counter() - started) * 1000,
            error=f"{type(exc).__name__}: {exc}",
        )
    failures = "; ".join(f"{f.what} {f.symbol or ''}: {f.error}" for f in report.failures)
    return ReconcileStatus(
        at_ns=now,
        complete=report.complete,
        discrepancies=len(report.discrepancies),
        flags_raised=len(report.flags_raised),
        events_journaled=report.events_journaled,
        duration_ms=(time.perf_counter() - started) * 1000,
        error=None if report.complete else f"incomplete: {failures or 'some checks not done'}",
        report=report,
    )

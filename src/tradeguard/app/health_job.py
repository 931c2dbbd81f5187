"""The running service's health job: one round every ``health.interval_seconds``.

Each round gathers the readings of this process (psutil vitals), the data directory's
disk, the live session state, the store (snapshots, backups and their verification,
the last reconciliation, poisoned or fenced), the exchange (through the session's
gateway: reachability, round trip, clock skew) and the event loop's lag, then judges
them with the pure checks (``health.monitor.report_of``). Every check whose status
changed since the previous round is logged and journaled as ``HealthChanged`` (the
first round journals the checks that are not ok) and handed to ``on_change`` (the
alerts job). The latest report is kept in :attr:`HealthJob.report`.

``journal_append_p99_seconds`` is the p99 of the appends of the last minute, from
the call until durable (``LocalService.append_latency``); a round with no append in
that minute leaves the check out rather than judging nothing.

The last reconciliation is known without reading the store: the session's own last
report (``last_reconcile``, the start-up run) and then every ``ReconciliationReported``
the journal appends (heard through its listener). Only while neither exists (the
start-up reconciliation failed and none has reported since) does a round look back
through the journal for an earlier run's report. ``on_report`` hears every round's
report (the metrics).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tradeguard.app.service import LocalService
from tradeguard.domain.events import AnyEvent, HealthChanged, ReconciliationReported
from tradeguard.exchange.gateway import ExchangeGateway
from tradeguard.health.checks import Check, HealthConfig
from tradeguard.health.monitor import HealthReport, report_of
from tradeguard.health.readings import (
    BackupVerifier,
    ProcessVitals,
    merge,
    read_disk,
    read_exchange,
    read_session,
    read_store,
)
from tradeguard.health.sensors import EventLoopLagProbe
from tradeguard.logs import get_logger
from tradeguard.session.reconciling import ReconcileStatus

__all__ = ["ChangeHook", "HealthJob", "ReportHook", "changes_between"]

_log = get_logger("tradeguard.health")

ChangeHook = Callable[[HealthChanged], None]
"""Told of every journaled ``HealthChanged`` (must not block or raise)."""
ReportHook = Callable[[HealthReport], None]
"""Told of every round's report (must not block or raise)."""

def changes_between(
    previous: dict[str, str] | None, checks: tuple[Check, ...], ts_ns: int
) -> list[HealthChanged]:
    """The ``HealthChanged`` events from ``previous`` statuses (by check name) to
    ``checks``; with no previous round, one per check that is not ok."""
    changed: list[HealthChanged] = []
    for check in checks:
        before = None if previous is None else previous.get(check.name)
        if before == check.status or (before is None and check.status == "ok"):
            continue
        changed.append(HealthChanged(
            ts_ns=ts_ns, check=check.name, status=check.status, previous=before or "",
            value=json.dumps(check.value), detail=check.detail,
        ))
    return changed


class HealthJob:
    """Gathers, judges, journals the changes. ``start`` the lag probe, ``run`` each
    round (the runtime supervises it as job ``health``), ``stop`` at shutdown."""

    def __init__(
        self,
        *,
        service: LocalService,
        gateway: ExchangeGateway,
        thresholds: HealthConfig,
        data_dir: Path | None,
        on_change: ChangeHook | None = None,
        on_report: ReportHook | None = None,
        last_reconcile: ReconcileStatus | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self._service = service
        self._gateway = gateway
        self._thresholds = thresholds
        self._data_dir = data_dir
        self._on_change = on_change
        self._on_report = on_report
        self._clock_ns = clock_ns
        self._reconcile: dict[str, Any] | None = None
        report = None if last_reconcile is None else last_reconcile.report
        if report is not None:
            self._reconcile = _reconcile_readings(
                report.finished_ns, report.complete, len(report.flags_raised)
            )
        self._verifier = BackupVerifier()
        self._vitals: ProcessVitals | None = None
        # Wakes several times per round, so a round always has a fresh worst lag.
        self._probe = EventLoopLagProbe(
            interval_seconds=min(0.5, thresholds.interval_seconds / 4)
        )
        self._probe_task: asyncio.Task[None] | None = None
        self._statuses: dict[str, str] | None = None
        self.report: HealthReport | None = None
        """The latest round's report (None before the first round)."""

    async def start(self) -> None:
        """Start the event-loop lag probe and listen for reconciliation reports."""
        if self._probe_task is None:
            self._service.journal.add_listener(self._appended)
            self._probe_task = asyncio.create_task(self._probe.run(), name="health-lag-probe")

    async def stop(self) -> None:
        """Stop the probe and the listening."""
        self._service.journal.remove_listener(self._appended)
        if self._probe_task is not None:
            self._probe_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe_task
            self._probe_task = None

    async def run(self) -> HealthReport:
        """One round: read, judge, log and journal the changes; returns the report."""
        parts: list[dict[str, Any]] = []
        service = self._service
        p99 = service.append_latency.p99_seconds()
        # No append in the window is no latency to judge (an idle session), not a fault.
        skip = {"journal_append_p99_seconds"} if p99 is None else set()
        if p99 is not None:
            parts.append({"journal_append_p99_seconds": round(p99, 6)})
        parts.append(await asyncio.to_thread(self._sample_vitals))
        if self._data_dir is None:
            skip |= {"disk_free_bytes", "disk_free_percent"}
        else:
            parts.append(await asyncio.to_thread(read_disk, self._data_dir))
        parts.append(read_session(service.state))
        parts.append(await asyncio.to_thread(
            read_store, service.store, service.backup_dir, verifier=self._verifier,
            writer_epoch=service.journal.epoch, last_reconcile=self._reconcile,
        ))
        parts.append(await read_exchange(self._gateway, clock_ns=self._clock_ns))
        lag = self._probe.take()
        if lag is None:
            parts.append({"unread": {"event_loop_lag_seconds": "the lag probe has not run yet"}})
        else:
            parts.append({"event_loop_lag_seconds": round(lag, 6)})
        ts_ns = self._clock_ns()
        report = report_of(merge(*parts, not_applicable=frozenset(skip)), self._thresholds, ts_ns)
        changes = changes_between(self._statuses, report.checks, ts_ns)
        self._statuses = {c.name: c.status for c in report.checks}
        self.report = report
        if self._on_report is not None:
            self._on_report(report)
        for change in changes:
            log = _log.warning if change.status != "ok" else _log.info
            log("health check changed", check=change.check, status=change.status,
                previous=change.previous or None, detail=change.detail)
            if self._on_change is not None:
                self._on_change(change)
        # A failed store cannot take the record; the change was logged (and alerted).
        if changes and service.failure is None:
            records: list[AnyEvent] = list(changes)
            await service.append(records)
        return report

    def _appended(self, first_seq: int, events: Sequence[AnyEvent]) -> None:
        del first_seq
        for event in events:
            if isinstance(event, ReconciliationReported):
                self._reconcile = _reconcile_readings(
                    event.ts_ns, event.complete, len(event.flags_raised)
                )

    def _sample_vitals(self) -> dict[str, Any]:
        if self._vitals is None:
            self._vitals = ProcessVitals()
        return self._vitals.sample()


def _reconcile_readings(at_ns: int, complete: bool, flagged: int) -> dict[str, Any]:
    # As read_store reads them from a ReconciliationReported record.
    return {
        "last_reconcile_ns": at_ns,
        "last_reconcile_complete": complete,
        # Corrected discrepancies are settled; the flagged ones wait for a person.
        "last_reconcile_discrepancies": flagged,
    }

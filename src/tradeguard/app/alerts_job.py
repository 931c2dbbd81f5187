"""The running service's alerts: what is notified, and the journal of what was sent.

:class:`AlertsJob` is built from ``[alerts]`` when the runtime starts, before any
exchange or order (a bad URL or an unset ``urls_env`` variable raises ``ConfigError``
there). Once the durable core is open it reads the journal's ``AlertSent`` records back
(an alert already sent by an earlier run is not sent again, and cool-downs go on),
journals every delivery outcome (``AlertSent``/``AlertFailed``) and notifies on:

- start: an unclean shutdown of the previous run, recovery finished (its figures),
  and every open flag not alerted yet;
- each pass (job ``alerts``): the records appended since the last pass, mapping
  ``FlagRaised`` and ``ReconciliationReported(complete=False)`` to alerts;
- a health check turning critical, and recovering from critical (``on_health_change``);
- the store poisoned or the session fenced (``store_failed``).

Every alert's ``ts_ns`` is the causing event's, so a replay of the same cause is a
duplicate. Delivery never blocks or raises into trading (``AlertDispatcher``).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping
from typing import Any

from tradeguard.alerts import catalog
from tradeguard.alerts.delivery import AlertDispatcher
from tradeguard.alerts.policy import Alert
from tradeguard.app.service import LocalService
from tradeguard.config import Config
from tradeguard.domain.events import (
    AlertFailed,
    AlertSent,
    AnyEvent,
    FlagRaised,
    HealthChanged,
    ReconciliationReported,
)
from tradeguard.errors import StaleEpochError
from tradeguard.logs import get_logger
from tradeguard.session.ports import describe_store_failure
from tradeguard.storage.base import Store

__all__ = ["AlertsJob"]

_log = get_logger("tradeguard.alerts")

_PAGE = 1_000
_WATCHED = frozenset({"flag_raised", "reconciliation_reported"})


def _sent_in(store: Store) -> list[tuple[str, int, int]]:
    """``(key, alert_ts_ns, sent_ns)`` of every journaled ``AlertSent``."""
    from tradeguard.storage.codec import decode_records

    found: list[tuple[str, int, int]] = []
    after = 0
    while True:
        page = list(store.read(after_seq=after, limit=_PAGE * 10))
        if not page:
            return found
        after = page[-1].seq
        for _, event in decode_records(r for r in page if r.type == "alert_sent"):
            assert isinstance(event, AlertSent)
            found.append((event.key, event.alert_ts_ns, event.ts_ns))


def _watched_since(store: Store, after_seq: int) -> tuple[int, list[AnyEvent]]:
    """The flag and reconciliation events after ``after_seq``, and the last seq read."""
    from tradeguard.storage.codec import decode_records

    events: list[AnyEvent] = []
    while True:
        page = list(store.read(after_seq=after_seq, limit=_PAGE))
        if not page:
            return after_seq, events
        after_seq = page[-1].seq
        events += [e for _, e in decode_records(r for r in page if r.type in _WATCHED)]


class AlertsJob:
    """Turns the service's events into alerts and journals their delivery."""

    def __init__(self, config: Config, environ: Mapping[str, str] | None = None) -> None:
        self._session_id = config.storage.session_id
        self._sent: set[tuple[str, int]] = set()
        self._service: LocalService | None = None
        self._after_seq = 0
        self.dispatcher = AlertDispatcher.from_config(
            config.alerts, os.environ if environ is None else environ,
            on_result=self._journal, already_sent=self._already_sent,
        )

    @property
    def enabled(self) -> bool:
        """At least one channel is configured."""
        return bool(self.dispatcher.targets)

    async def attach(self, service: LocalService, startup: Any | None) -> None:
        """Read back what was sent, start delivering, and notify what the start found.

        ``startup`` is the session's ``StartupReport`` (None: no session figures).
        """
        self._service = service
        self._after_seq = service.recovery.last_seq  # this run's records come after
        if not self.enabled:
            return
        sent = await asyncio.to_thread(_sent_in, service.store)
        self._sent = {(key, ts) for key, ts, _ in sent}
        self.dispatcher.policy.restore((key, sent_ns) for key, _, sent_ns in sent)
        await self.dispatcher.start()
        rec = service.recovery
        if rec.unclean_shutdown:
            previous = rec.previous_run
            self.notify(catalog.unclean_shutdown(
                self._session_id, previous.run_id if previous else "",
                previous.started_ns if previous else time.time_ns(),
            ))
        if startup is not None:
            # This run's start is the cause: a restart is a new recovery, a replay is not.
            run = await asyncio.to_thread(service.store.last_run)
            ts = run.started_ns if run is not None else time.time_ns()
            self.notify(catalog.recovery_finished(self._session_id, rec, ts))
        for flag in service.state.open_flags():
            self.notify(catalog.flag_raised(self._session_id, FlagRaised(
                ts_ns=flag.raised_ns, flag_id=flag.flag_id, severity=flag.severity,
                kind=flag.kind, symbol=flag.symbol, message=flag.message, actions=flag.actions,
            )))

    async def run(self) -> None:
        """One pass: alert on the flags and incomplete reconciliations journaled since
        the last pass."""
        if self._service is None or not self.enabled:
            return
        self._after_seq, events = await asyncio.to_thread(
            _watched_since, self._service.store, self._after_seq
        )
        for event in events:
            if isinstance(event, FlagRaised):
                self.notify(catalog.flag_raised(self._session_id, event))
            elif isinstance(event, ReconciliationReported) and not event.complete:
                self.notify(catalog.reconciliation_incomplete(self._session_id, event))

    def on_health_change(self, change: HealthChanged) -> None:
        """A check turned critical, or recovered from critical."""
        if change.status == "critical":
            self.notify(catalog.check_critical(
                self._session_id, change.check, change.status, change.detail, change.ts_ns
            ))
        elif change.previous == "critical":
            self.notify(catalog.check_recovered(
                self._session_id, change.check, change.status, change.detail, change.ts_ns
            ))

    def store_failed(self, failure: BaseException, ts_ns: int) -> None:
        """The session stopped for good: fenced, or its store poisoned."""
        detail = describe_store_failure(failure)
        if isinstance(failure, StaleEpochError):
            self.notify(catalog.store_fenced(self._session_id, detail, ts_ns))
        else:
            self.notify(catalog.store_poisoned(self._session_id, detail, ts_ns))

    def notify(self, alert: Alert) -> None:
        """Hand ``alert`` to the dispatcher (never blocks, never raises)."""
        self.dispatcher.notify(alert)

    async def stop(self) -> None:
        """Deliver what is queued (bounded), then stop the worker."""
        await self.dispatcher.stop()

    # --- the dispatcher's hooks ------------------------------------------------------

    def _already_sent(self, key: str, ts_ns: int) -> bool:
        return (key, ts_ns) in self._sent

    async def _journal(self, alert: Alert, ok: bool, error: str) -> None:
        if ok:
            self._sent.add((alert.key, alert.ts_ns))
        service = self._service
        if service is None or service.failure is not None:
            return  # nothing can be journaled any more; the outcome was logged
        common: dict[str, Any] = {
            "ts_ns": time.time_ns(), "key": alert.key, "severity": alert.severity,
            "title": alert.title, "alert_ts_ns": alert.ts_ns,
        }
        event: AnyEvent = (
            AlertSent(channels=len(self.dispatcher.targets), **common) if ok
            else AlertFailed(error=error, **common)
        )
        await service.append([event])

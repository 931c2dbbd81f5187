"""Feeding the runtime's Prometheus metrics from the running service.

The runtime makes one :class:`~tradeguard.metrics.registry.TradeguardMetrics` and wires
it here, in three steps, each from what the service already observes (no polling, no
test-only branches):

- :func:`attach_metrics`, right after ``LocalService.start``: every durable append is
  fed to ``metrics.feed.from_event`` through the journal's listener (events appended,
  submits by outcome, reconciliations and discrepancies, alerts); each append's latency
  from the call until durable (``LocalService.append_observers``, the same figure the
  health check judges) goes to the append histogram; each group commit's size comes
  from the store's writer thread (``GroupCommitter.on_commit``).
- :func:`attach_session_metrics`, once the session is open: the latency of every
  exchange request by endpoint (``ExchangeStatus.add_request_observer``, timed by the
  session's ``TrackedGateway``).
- :class:`ServiceReading`, the state provider asked at every scrape: orders by status,
  UNKNOWN orders and open flags from the live state, the newest snapshot's and
  backup's times, and whether this process still holds the writer's epoch.

The health rounds' statuses are fed by the health job's ``on_report`` (the runtime
passes ``metrics.observe_health``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from tradeguard.domain.events import AnyEvent
from tradeguard.health.readings import backup_time_ns
from tradeguard.metrics.feed import from_event
from tradeguard.metrics.registry import StateReading, TradeguardMetrics, reading_of
from tradeguard.storage.backup import list_backups
from tradeguard.storage.writerstore import WriterStore

if TYPE_CHECKING:
    from tradeguard.app.service import LocalService
    from tradeguard.session import Session

__all__ = ["ServiceReading", "attach_metrics", "attach_session_metrics"]

def attach_metrics(metrics: TradeguardMetrics, service: LocalService) -> ServiceReading:
    """From now on, feed ``metrics`` from ``service``'s appends and commits; returns
    the state provider of its scrapes (see :class:`ServiceReading`)."""

    def appended(first_seq: int, events: Sequence[AnyEvent]) -> None:
        del first_seq
        for event in events:
            from_event(metrics, event)

    service.journal.add_listener(appended)
    service.append_observers.append(metrics.observe_journal_append)
    store = service.store
    if isinstance(store, WriterStore):
        # Called in the writer thread; prometheus-client's metrics are thread-safe.
        store.writer.on_commit = metrics.observe_group_commit
    return ServiceReading(service)


def attach_session_metrics(metrics: TradeguardMetrics, session: Session) -> None:
    """From now on, time every exchange request of ``session`` by endpoint."""
    session.exchange_status.add_request_observer(metrics.observe_exchange_request)


class ServiceReading:
    """The state provider of a running service's metrics (call it at each scrape).

    The snapshot and backup times come from the store and the backup directory, but
    are read again only when the service took a new one (``JournalStats.snapshots_taken``,
    ``LocalService.backups_taken``), so a scrape costs one pass over the orders.
    """

    def __init__(self, service: LocalService) -> None:
        self.service = service
        self._snapshots_seen: int | None = None
        self._snapshot_ns: int | None = None
        self._backups_seen: int | None = None
        self._backup_ns: int | None = None

    def __call__(self) -> StateReading:
        service = self.service
        return reading_of(
            service.state,
            last_snapshot_ns=self._last_snapshot_ns(),
            last_backup_ns=self._last_backup_ns(),
            lease_held=service.failure is None,
            epoch=service.journal.epoch,
        )

    def _last_snapshot_ns(self) -> int | None:
        taken = self.service.journal.stats().snapshots_taken
        if taken != self._snapshots_seen:
            snapshots = self.service.store.snapshots()
            self._snapshot_ns = max((s.ts_ns for s in snapshots), default=None)
            self._snapshots_seen = taken
        return self._snapshot_ns

    def _last_backup_ns(self) -> int | None:
        service = self.service
        taken = service.backups_taken
        if taken != self._backups_seen:
            newest = service.last_backup
            if newest is None:  # none this run yet: an earlier run's, if any
                prefix = f"tradeguard-{service.store.session_id}-"
                mine = [p for p in list_backups(service.backup_dir)
                        if p.name.startswith(prefix)]
                newest = mine[0] if mine else None
            self._backup_ns = None if newest is None else backup_time_ns(newest)
            self._backups_seen = taken
        return self._backup_ns

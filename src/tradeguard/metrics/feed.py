"""Journaled events -> metric updates: the adapter the runtime feeds from its append path.

The journal is the one record of what the session did, so the event counters are
derived from it rather than from calls sprinkled through the session: the runtime hands
every event it appends (once it is durable) to :func:`from_event`, or a batch of
``(seq, event)`` records to :func:`observe_journal_records`. Replayed events of an
earlier run are not fed (counters count what this process did; Prometheus' ``rate()``
handles the reset at restart).

Mapping:

- every event: ``tradeguard_events_appended_total``;
- ``OrderAcknowledged`` / ``OrderRejected`` / ``OrderOutcomeUnknown``, when it is the
  first answer to an ``OrderIntended`` fed before it: ``tradeguard_submits_total``
  with ``outcome`` acked / rejected / ambiguous. The same events also follow a cancel
  or a resolution (an UNKNOWN order adopted by the resolver is acknowledged later);
  those are not submits and are not counted as such;
- ``ReconciliationReported``: ``tradeguard_reconciliations_total{result}``,
  ``tradeguard_reconciliation_seconds`` and ``tradeguard_discrepancies_total{type}``
  from its ``found`` (``kind=count`` entries);
- ``AlertSent`` / ``AlertFailed``: ``tradeguard_alerts_sent_total`` /
  ``tradeguard_alerts_failed_total`` by severity.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from tradeguard.domain.events import (
    AlertFailed,
    AlertSent,
    Event,
    OrderAcknowledged,
    OrderIntended,
    OrderOutcomeUnknown,
    OrderRejected,
    ReconciliationReported,
)
from tradeguard.metrics.registry import TradeguardMetrics

__all__ = ["from_event", "observe_journal_records", "parse_found"]

_OUTCOMES: dict[type[Event], str] = {
    OrderAcknowledged: "acked",
    OrderRejected: "rejected",
    OrderOutcomeUnknown: "ambiguous",
}


def parse_found(found: Iterable[str]) -> Mapping[str, int]:
    """``("order_missing=2", ...)`` -> ``{"order_missing": 2}``; a malformed entry counts
    once under its whole text (a report is never dropped for its format)."""
    counts: dict[str, int] = {}
    for entry in found:
        kind, sep, count = entry.rpartition("=")
        if sep and kind and count.isdigit():
            counts[kind] = counts.get(kind, 0) + int(count)
        else:
            counts[entry] = counts.get(entry, 0) + 1
    return counts


def from_event(metrics: TradeguardMetrics, event: Event) -> None:
    """Update ``metrics`` for one event just appended to the journal (see module doc)."""
    metrics.events_appended.inc()
    if isinstance(event, OrderIntended):
        metrics.submits_in_flight.add(event.client_order_id)
        return
    if isinstance(event, OrderAcknowledged | OrderRejected | OrderOutcomeUnknown):
        cid = event.client_order_id
        if cid in metrics.submits_in_flight:
            metrics.submits_in_flight.discard(cid)
            metrics.submits.labels(outcome=_OUTCOMES[type(event)]).inc()
        return
    if isinstance(event, ReconciliationReported):
        metrics.observe_reconciliation(
            complete=event.complete,
            seconds=event.duration_us / 1e6,
            found=parse_found(event.found),
        )
    elif isinstance(event, AlertSent | AlertFailed):
        metrics.observe_alert(severity=event.severity, sent=isinstance(event, AlertSent))


def observe_journal_records(
    metrics: TradeguardMetrics, records: Iterable[tuple[int, Event]]
) -> int:
    """Feed ``(seq, event)`` records (as ``storage.codec.decode_records`` yields them or
    an append returns them) to :func:`from_event`, in order; returns how many."""
    count = 0
    for _seq, event in records:
        from_event(metrics, event)
        count += 1
    return count

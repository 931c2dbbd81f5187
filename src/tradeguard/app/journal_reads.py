"""Reads of the journal for the API, run in a worker thread (never on the event loop).

The store is thread-safe and each reading thread has its own connection (SQLite's WAL
lets it read beside the writer), so a page of the journal or a scan for reconciliation
reports never holds up an append. Only durable records are read.
"""

from __future__ import annotations

from typing import Any

from tradeguard.app.web_live import event_json, iso_utc
from tradeguard.domain.events import ReconciliationReported
from tradeguard.errors import CorruptRecordError, UnsupportedVersionError
from tradeguard.storage.base import Store
from tradeguard.storage.codec import decode_event
from tradeguard.storage.records import StoredRecord
from tradeguard.web.source import Json

__all__ = [
    "MAX_CORRECTIVE_EVENTS",
    "RECONCILE_SCAN_MAX",
    "journal_page",
    "recent_reconciliations",
    "record_json",
]

RECONCILE_SCAN_MAX = 200_000
"""Records scanned back from the end at most when looking for reconciliation reports."""

MAX_CORRECTIVE_EVENTS = 500
"""Corrective events listed per report at most (``corrective_events_truncated``)."""

_PAGE = 2_000


def record_json(record: StoredRecord) -> Json:
    """A stored record as the API shows it (a record that cannot be decoded keeps its
    seq, type and time, with ``fields: {"error": ...}``)."""
    try:
        event = decode_event(record.type, record.version, record.payload)
    except (CorruptRecordError, UnsupportedVersionError) as exc:
        return {"seq": record.seq, "type": record.type, "ts_ns": record.ts_ns,
                "ts_iso": iso_utc(record.ts_ns), "epoch": record.epoch,
                "fields": {"error": str(exc)}}
    return event_json(record.seq, event, epoch=record.epoch)


def journal_page(store: Store, *, after: int, limit: int) -> Json:
    """Records with seq > ``after`` (at most ``limit``, oldest first); ``after`` 0: the
    newest ``limit``. ``more``: records after the last one returned exist."""
    last = store.last_seq()
    if after > 0:
        records = list(store.read(after_seq=after, limit=limit))
    else:
        lower = max(0, last - limit)
        records = list(store.read(after_seq=lower, limit=last - lower))
    rows = [record_json(r) for r in records]
    upto = rows[-1]["seq"] if rows else max(after, 0)
    return {"records": rows, "last_seq": last, "after": after, "limit": limit,
            "more": upto < last}


def recent_reconciliations(store: Store, *, limit: int) -> list[Json]:
    """The newest ``limit`` ``ReconciliationReported`` records, newest first, each with
    the corrective events it journaled (seqs ``first_seq``..``last_seq``)."""
    found: list[tuple[StoredRecord, ReconciliationReported]] = []
    last = upper = store.last_seq()
    while upper > 0 and len(found) < limit and last - upper < RECONCILE_SCAN_MAX:
        lower = max(0, upper - _PAGE)
        page = list(store.read(after_seq=lower, limit=upper - lower))
        for record in reversed(page):
            if record.type != "reconciliation_reported":
                continue
            try:
                event = decode_event(record.type, record.version, record.payload)
            except (CorruptRecordError, UnsupportedVersionError):
                continue
            if isinstance(event, ReconciliationReported):
                found.append((record, event))
                if len(found) >= limit:
                    break
        upper = lower
    return [_report_json(store, record, event) for record, event in found]


def _found_counts(found: tuple[str, ...]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in found:
        kind, _, count = item.partition("=")
        counts[kind] = int(count) if count.isdigit() else 0
    return counts


def _report_json(store: Store, record: StoredRecord, event: ReconciliationReported) -> Json:
    counts = _found_counts(event.found)
    corrective: list[Json] = []
    truncated = False
    if event.first_seq is not None and event.last_seq is not None:
        wanted = event.last_seq - event.first_seq + 1
        truncated = wanted > MAX_CORRECTIVE_EVENTS
        corrective = [
            record_json(r)
            for r in store.read(after_seq=event.first_seq - 1,
                                limit=min(wanted, MAX_CORRECTIVE_EVENTS))
        ]
    doc: dict[str, Any] = {
        "seq": record.seq,
        "ts_ns": record.ts_ns,
        "ts_iso": iso_utc(record.ts_ns),
        "complete": event.complete,
        "duration_ms": event.duration_us / 1000,
        "symbols": list(event.symbols),
        "checked": list(event.checked),
        "unchecked": list(event.unchecked),
        "failures": list(event.failures),
        "found": counts,
        "discrepancies": [{"kind": kind, "count": n} for kind, n in counts.items()],
        "events_journaled": event.events_journaled,
        "first_seq": event.first_seq,
        "last_seq": event.last_seq,
        "flags_raised": list(event.flags_raised),
        "corrective_events": corrective,
        "corrective_events_truncated": truncated,
    }
    return doc

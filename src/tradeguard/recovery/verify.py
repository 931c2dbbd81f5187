"""Read-only integrity check of a store: the database file, every record, every snapshot.

The same rules as recovery, from the same code: the database file's own integrity
(``file_integrity_problems``, which recovery refuses to write on), each record's shape
and chained crc from the first record on (``ChainChecker``), sequence gaps, that every
payload decodes, and every snapshot (``check_snapshot``, which recovery uses to choose
one). Changes nothing: the store is opened read-only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import msgspec

from tradeguard.errors import (
    CorruptRecordError,
    CorruptSnapshotError,
    StoreError,
    UnsupportedVersionError,
)
from tradeguard.recovery.integrity import file_integrity_problems
from tradeguard.recovery.restore import check_snapshot
from tradeguard.recovery.scan import ChainChecker
from tradeguard.storage.base import Store
from tradeguard.storage.codec import decode_event
from tradeguard.storage.records import GENESIS_CRC, QuarantinedRecord, SnapshotInfo

__all__ = ["Problem", "VerifyReport", "verify_store"]


class Problem(msgspec.Struct, frozen=True):
    """One thing wrong, with where it is."""

    where: str  # "record 17", "snapshot 1000", "database file"
    what: str


class VerifyReport(msgspec.Struct, frozen=True):
    """Result of ``verify``: ``ok`` only when nothing at all is wrong."""

    ok: bool
    last_seq: int
    records_checked: int
    corrupt_records: list[int]
    missing_records: list[int]
    corrupt_snapshots: list[int]
    snapshots_checked: int
    quarantined_records: int
    problems: list[Problem]
    duration_ms: float
    file_problems: list[str] = msgspec.field(default_factory=list)


def verify_store(
    store: Store, *, progress: Callable[[int, int], None] | None = None
) -> VerifyReport:
    """Check everything in ``store`` without changing it."""
    started = time.perf_counter()
    file_problems = file_integrity_problems(store)
    problems = [Problem("database file", p) for p in file_problems]
    last = _or_problem(problems, "journal", store.last_seq, None)
    checker = ChainChecker(after_seq=0, prev_crc=GENESIS_CRC)
    undecodable: list[int] = []
    try:
        for record in store.read(after_seq=0):
            reported = len(checker.malformed)
            if not checker.check(record):
                if len(checker.malformed) > reported:
                    seq, why = checker.malformed[-1]
                    problems.append(Problem(f"record {seq if seq is not None else '?'}", why))
                elif record.seq in checker.corrupt:
                    problems.append(
                        Problem(f"record {record.seq}", "checksum or sequence mismatch")
                    )
                continue
            try:
                decode_event(record.type, record.version, record.payload)
            except (CorruptRecordError, UnsupportedVersionError) as exc:
                undecodable.append(record.seq)
                problems.append(Problem(f"record {record.seq}", str(exc)))
            if progress is not None and checker.checked % 10_000 == 0:
                progress(checker.checked, last or checker.checked)
    except StoreError as exc:
        # SQLite stops at a damaged page: what lies beyond it cannot be read at all.
        problems.append(
            Problem("journal", f"unreadable after record {checker.last_seq}: {exc}")
        )
    summary = checker.summary()
    if last is None:
        last = summary.last_seq  # what the scan reached, when MAX(seq) was unreadable
    problems.extend(Problem(f"record {seq}", "missing from the journal") for seq in summary.missing)
    corrupt_snapshots: list[int] = []
    no_snapshots: list[SnapshotInfo] = []
    snapshots = _or_problem(problems, "snapshots", store.snapshots, no_snapshots)
    for info in snapshots:
        try:
            check_snapshot(store, info, journal_last_seq=last)
        except (CorruptSnapshotError, UnsupportedVersionError, StoreError) as exc:
            seq = info.seq if isinstance(info.seq, int) else -1
            corrupt_snapshots.append(seq)
            problems.append(Problem(f"snapshot {info.seq!r}", str(exc)))
    corrupt = sorted({*summary.corrupt, *undecodable})
    none_yet: list[QuarantinedRecord] = []
    if progress is not None:
        progress(checker.checked, checker.checked)
    return VerifyReport(
        ok=not problems,
        last_seq=last,
        records_checked=summary.checked,
        corrupt_records=corrupt,
        missing_records=summary.missing,
        corrupt_snapshots=corrupt_snapshots,
        snapshots_checked=len(snapshots),
        quarantined_records=len(_or_problem(problems, "quarantine", store.quarantined, none_yet)),
        problems=problems,
        duration_ms=(time.perf_counter() - started) * 1000,
        file_problems=file_problems,
    )


T = TypeVar("T")


def _or_problem(problems: list[Problem], where: str, read: Callable[[], T], default: T) -> T:
    """``read()``, or ``default`` with the store's error noted as a problem."""
    try:
        return read()
    except StoreError as exc:
        problems.append(Problem(where, f"unreadable: {exc}"))
        return default

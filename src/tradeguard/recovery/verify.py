"""Read-only integrity check of a store: every record, every snapshot.

Checks each record's chained crc from the first record on, sequence gaps, that every
payload decodes, and every snapshot's checksum and decoding. Changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import msgspec

from tradeguard.errors import CorruptRecordError, CorruptSnapshotError, UnsupportedVersionError
from tradeguard.recovery.scan import ChainChecker
from tradeguard.storage.base import Store
from tradeguard.storage.codec import decode_event, decode_state
from tradeguard.storage.records import GENESIS_CRC, snapshot_crc

__all__ = ["Problem", "VerifyReport", "verify_store"]


class Problem(msgspec.Struct, frozen=True):
    """One thing wrong, with where it is."""

    where: str  # "record 17", "snapshot 1000"
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


def verify_store(
    store: Store, *, progress: Callable[[int, int], None] | None = None
) -> VerifyReport:
    """Check everything in ``store`` without changing it."""
    started = time.perf_counter()
    problems: list[Problem] = []
    last = store.last_seq()
    checker = ChainChecker(after_seq=0, prev_crc=GENESIS_CRC)
    undecodable: list[int] = []
    for record in store.read(after_seq=0):
        if not checker.check(record):
            if record.seq in checker.corrupt:
                problems.append(Problem(f"record {record.seq}", "checksum or sequence mismatch"))
            continue
        try:
            decode_event(record.type, record.version, record.payload)
        except (CorruptRecordError, UnsupportedVersionError) as exc:
            undecodable.append(record.seq)
            problems.append(Problem(f"record {record.seq}", str(exc)))
        if progress is not None and checker.checked % 10_000 == 0:
            progress(checker.checked, last)
    summary = checker.summary()
    problems.extend(Problem(f"record {seq}", "missing from the journal") for seq in summary.missing)
    corrupt_snapshots: list[int] = []
    snapshots = store.snapshots()
    for info in snapshots:
        try:
            snap = store.load_snapshot(info.seq)
            if snap.crc != snapshot_crc(
                seq=snap.seq, version=snap.version, ts_ns=snap.ts_ns, payload=snap.payload
            ):
                raise CorruptSnapshotError("checksum mismatch", seq=snap.seq)
            decoded = decode_state(snap.version, snap.payload)
            if decoded.last_seq != snap.seq:
                raise CorruptSnapshotError(
                    f"state inside claims seq {decoded.last_seq}", seq=snap.seq
                )
            if snap.seq > last:
                raise CorruptSnapshotError(f"beyond the journal's end ({last})", seq=snap.seq)
        except (CorruptSnapshotError, UnsupportedVersionError) as exc:
            corrupt_snapshots.append(info.seq)
            problems.append(Problem(f"snapshot {info.seq}", str(exc)))
    corrupt = sorted({*summary.corrupt, *undecodable})
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
        quarantined_records=len(store.quarantined()),
        problems=problems,
        duration_ms=(time.perf_counter() - started) * 1000,
    )

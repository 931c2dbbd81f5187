"""Checking the journal's hash chain and classifying damage (pure over records).

Each record's crc chains over the previous record's stored crc. Checking every record
against its predecessor's *stored* crc lets the scan resynchronise after a bad record,
so it can tell a damaged tail (nothing valid after the damage: quarantine and go on)
from damage in the middle (valid records follow: stop, unless the user accepts loss).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import msgspec

from tradeguard.storage.records import StoredRecord, chain_crc

__all__ = ["ChainChecker", "ScanSummary", "record_is_valid"]


def record_is_valid(record: StoredRecord, *, prev_crc: int, expected_seq: int) -> bool:
    """True when ``record`` has the expected seq and its crc chains from ``prev_crc``."""
    if record.seq != expected_seq:
        return False
    return record.crc == chain_crc(
        prev_crc,
        seq=record.seq,
        type=record.type,
        version=record.version,
        ts_ns=record.ts_ns,
        epoch=record.epoch,
        payload=record.payload,
    )


class ScanSummary(msgspec.Struct, frozen=True):
    """The outcome of checking a run of records.

    ``corrupt`` lists records that fail their check; ``missing`` lists sequence numbers
    absent from the journal. ``first_bad`` is the lowest of both (None when all is well);
    ``tail_only`` is True when no valid record follows ``first_bad``.
    """

    checked: int
    last_seq: int
    corrupt: list[int]
    missing: list[int]
    first_bad: int | None
    tail_only: bool

    @property
    def ok(self) -> bool:
        """No damage found."""
        return self.first_bad is None


class ChainChecker:
    """Checks records one by one, in the order they are stored."""

    def __init__(self, *, after_seq: int, prev_crc: int) -> None:
        self._expected = after_seq + 1
        self._prev_crc = prev_crc
        self.checked = 0
        self.last_seq = after_seq
        self.corrupt: list[int] = []
        self.missing: list[int] = []
        self._valid_after_bad = False

    @property
    def first_bad(self) -> int | None:
        """Lowest damaged or missing sequence number so far."""
        candidates = self.corrupt[:1] + self.missing[:1]
        return min(candidates) if candidates else None

    def check(self, record: StoredRecord) -> bool:
        """Check one record; True when it is valid and everything before it was too."""
        self.checked += 1
        valid = record_is_valid(record, prev_crc=self._prev_crc, expected_seq=self._expected)
        if record.seq > self._expected:
            self.missing.extend(range(self._expected, record.seq))
            # A record after a gap cannot chain to a predecessor we never saw.
            valid = False
        if not valid:
            self.corrupt.append(record.seq)
        elif self.first_bad is not None:
            self._valid_after_bad = True
        self._prev_crc = record.crc
        self._expected = max(self._expected, record.seq + 1)
        self.last_seq = max(self.last_seq, record.seq)
        return valid and self.first_bad is None

    def check_all(self, records: Iterable[StoredRecord]) -> Iterator[StoredRecord]:
        """Yield the records of the valid prefix; keep checking the rest silently."""
        for record in records:
            if self.check(record):
                yield record

    def summary(self) -> ScanSummary:
        """What the scan found."""
        return ScanSummary(
            checked=self.checked,
            last_seq=self.last_seq,
            corrupt=list(self.corrupt),
            missing=list(self.missing),
            first_bad=self.first_bad,
            tail_only=self.first_bad is not None and not self._valid_after_bad,
        )

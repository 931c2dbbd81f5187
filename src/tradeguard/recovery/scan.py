"""Checking the journal's hash chain and classifying damage (pure over records).

Each record's crc chains over the previous record's stored crc. Checking every record
against its predecessor's *stored* crc lets the scan resynchronise after a bad record,
so it can tell a damaged tail (nothing valid after the damage: quarantine and go on)
from damage in the middle (valid records follow: stop, unless the user accepts loss).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Iterator

import msgspec

from tradeguard.storage.records import RECORD_HEADER, StoredRecord, encoded_type

__all__ = ["ChainChecker", "ScanSummary", "record_is_valid", "record_shape_problem"]

_pack_header = RECORD_HEADER.pack
_crc32 = zlib.crc32
_FIELD_TYPES: tuple[tuple[str, type], ...] = (
    ("seq", int),
    ("type", str),
    ("version", int),
    ("ts_ns", int),
    ("epoch", int),
    ("payload", bytes),
    ("crc", int),
)


def record_shape_problem(record: StoredRecord) -> str | None:
    """Why ``record`` cannot even be checksummed, or None.

    A flipped bit in a row's header can make a column read back with another type (the
    tables are STRICT, but SQLite checks types on write, not on read): such a record is
    damaged like one that fails its checksum, never a crash.
    """
    for name, kind in _FIELD_TYPES:
        value = getattr(record, name)
        if not isinstance(value, kind) or isinstance(value, bool):
            return (
                f"column {name} reads back as {type(value).__name__} {value!r:.40}, "
                f"not {kind.__name__}"
            )
    return None


def _crc_of(record: StoredRecord, prev_crc: int) -> int:
    # records.chain_crc, inlined over a StoredRecord: the replay hot path.
    header = _pack_header(record.seq, record.ts_ns, record.epoch, record.version)
    crc = _crc32(encoded_type(record.type), _crc32(header, prev_crc))
    return _crc32(record.payload, crc)


def record_is_valid(record: StoredRecord, *, prev_crc: int, expected_seq: int) -> bool:
    """True when ``record`` has the expected seq and its crc chains from ``prev_crc``."""
    if record_shape_problem(record) is not None:
        return False
    return record.seq == expected_seq and record.crc == _crc_of(record, prev_crc)


class ScanSummary(msgspec.Struct, frozen=True):
    """The outcome of checking a run of records.

    ``corrupt`` lists records that fail their check; ``missing`` lists sequence numbers
    absent from the journal. ``first_bad`` is the lowest of both (None when all is well);
    ``tail_only`` is True when no valid record follows ``first_bad``. ``malformed`` says
    why records could not be checksummed at all (``(seq or None, reason)``).
    """

    checked: int
    last_seq: int
    corrupt: list[int]
    missing: list[int]
    first_bad: int | None
    tail_only: bool
    malformed: list[tuple[int | None, str]] = msgspec.field(default_factory=list)

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
        self.malformed: list[tuple[int | None, str]] = []
        self._unplaced_at: int | None = None  # where a record with an unreadable seq sat
        self._damaged = False  # == (first_bad is not None), kept as a flag for speed
        self._valid_after_bad = False

    @property
    def first_bad(self) -> int | None:
        """Lowest damaged or missing sequence number so far."""
        candidates = self.corrupt[:1] + self.missing[:1]
        if self._unplaced_at is not None:
            candidates.append(self._unplaced_at)
        return min(candidates) if candidates else None

    def check(self, record: StoredRecord) -> bool:
        """Check one record; True when it is valid and everything before it was too."""
        self.checked += 1
        problem = record_shape_problem(record)
        if problem is not None:
            return self._malformed(record, problem)
        seq = record.seq
        expected = self._expected
        valid = seq == expected and record.crc == _crc_of(record, self._prev_crc)
        if seq > expected:
            self.missing.extend(range(expected, seq))
            self._damaged = True
            # A record after a gap cannot chain to a predecessor we never saw.
            valid = False
        if not valid:
            self.corrupt.append(seq)
            self._damaged = True
        elif self._damaged:
            self._valid_after_bad = True
        self._prev_crc = record.crc
        self._expected = max(expected, seq + 1)
        self.last_seq = max(self.last_seq, seq)
        return valid and not self._damaged

    def _malformed(self, record: StoredRecord, problem: str) -> bool:
        self._damaged = True
        if isinstance(record.crc, int) and not isinstance(record.crc, bool):
            self._prev_crc = record.crc  # resynchronise, as after a checksum mismatch
        seq = record.seq
        if isinstance(seq, int) and not isinstance(seq, bool):
            self.malformed.append((seq, problem))
            if seq > self._expected:
                self.missing.extend(range(self._expected, seq))
            self.corrupt.append(seq)
            self._expected = max(self._expected, seq + 1)
            self.last_seq = max(self.last_seq, seq)
        else:
            # Its position is unknown (SQLite sorts a non-integer seq after every integer):
            # the gap it left names it if records follow; else it was the next one.
            self.malformed.append((None, problem))
            if self._unplaced_at is None:
                self._unplaced_at = self._expected
        return False

    def check_all(self, records: Iterable[StoredRecord]) -> Iterator[StoredRecord]:
        """Yield the records of the valid prefix; keep checking the rest silently.

        The counters and lists are current once the iteration has ended (or the
        iterator was closed); while the prefix is intact they are kept in locals.
        """
        expected = self._expected
        prev = self._prev_crc
        checked = self.checked
        # _crc_of, inlined with local names: this loop runs once per replayed record.
        pack, crc32 = _pack_header, _crc32
        type_bytes: dict[str, bytes] = {}  # a journal has a handful of record types
        try:
            for record in records:
                # The type tests keep this path to exactly what check() accepts: a
                # float seq or crc compares equal to an int, a memoryview checksums.
                if (
                    not self._damaged
                    and record.seq == expected
                    and type(record.seq) is int
                    and type(record.crc) is int
                    and type(record.payload) is bytes
                ):
                    rtype = record.type
                    try:
                        crc = crc32(
                            record.payload,
                            crc32(
                                type_bytes.get(rtype)
                                or type_bytes.setdefault(rtype, encoded_type(rtype)),
                                crc32(
                                    pack(expected, record.ts_ns, record.epoch, record.version),
                                    prev,
                                ),
                            ),
                        )
                    except (struct.error, TypeError, AttributeError):
                        crc = None  # a column of the wrong type: check() says which
                    if crc is not None and record.crc == crc:
                        prev = crc
                        expected += 1
                        checked += 1
                        yield record
                        continue
                self._sync(expected, prev, checked)
                valid = self.check(record)
                expected, prev, checked = self._expected, self._prev_crc, self.checked
                if valid:
                    yield record
        finally:
            self._sync(expected, prev, checked)

    def _sync(self, expected: int, prev_crc: int, checked: int) -> None:
        self._expected = expected
        self._prev_crc = prev_crc
        self.checked = checked
        self.last_seq = max(self.last_seq, expected - 1)

    def summary(self) -> ScanSummary:
        """What the scan found."""
        return ScanSummary(
            checked=self.checked,
            last_seq=self.last_seq,
            corrupt=list(self.corrupt),
            missing=list(self.missing),
            first_bad=self.first_bad,
            tail_only=self.first_bad is not None and not self._valid_after_bad,
            malformed=list(self.malformed),
        )

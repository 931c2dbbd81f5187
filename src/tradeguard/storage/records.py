"""Stored record types and the hash chain that protects them.

The storage layer never sees domain events: it stores opaque, typed, versioned payloads.
The codec (``tradeguard.storage.codec``) maps events to and from these records.
"""

from __future__ import annotations

import struct
import zlib

import msgspec

__all__ = [
    "GENESIS_CRC",
    "RECORD_HEADER",
    "AppendResult",
    "NewRecord",
    "QuarantinedRecord",
    "RunInfo",
    "SnapshotInfo",
    "SnapshotRecord",
    "StoredRecord",
    "chain_crc",
    "encoded_type",
    "snapshot_crc",
]

GENESIS_CRC = 0
"""The chain value "before" the first record of a session."""

RECORD_HEADER = struct.Struct("<qqqI")
"""The packed record header the crc covers first: seq, ts_ns, epoch, version."""

_HEADER = RECORD_HEADER
_TYPE_BYTES: dict[str, bytes] = {}


# gc=False: records hold only str, int and bytes (no cycles possible), and replay
# creates millions of them; untracked objects cost the cyclic collector nothing.


class NewRecord(msgspec.Struct, frozen=True, gc=False):
    """A record handed to ``Store.append``: the store assigns seq, epoch and crc."""

    type: str
    version: int
    ts_ns: int
    payload: bytes


class StoredRecord(msgspec.Struct, frozen=True, gc=False):
    """A journal record as stored. ``crc`` chains over the previous record's crc."""

    seq: int
    type: str
    version: int
    ts_ns: int
    epoch: int
    payload: bytes
    crc: int


class AppendResult(msgspec.Struct, frozen=True):
    """Sequence numbers of a durable append (inclusive range)."""

    first_seq: int
    last_seq: int


class SnapshotInfo(msgspec.Struct, frozen=True):
    """Metadata of a stored snapshot (without its payload)."""

    seq: int
    version: int
    ts_ns: int
    size: int


class SnapshotRecord(msgspec.Struct, frozen=True):
    """A stored snapshot: the whole session state as of journal sequence ``seq``."""

    seq: int
    version: int
    ts_ns: int
    payload: bytes
    crc: int


class QuarantinedRecord(msgspec.Struct, frozen=True):
    """A record moved out of the journal because it failed validation."""

    seq: int
    reason: str
    quarantined_ns: int
    raw: bytes


class RunInfo(msgspec.Struct, frozen=True):
    """One run of a session: its marker is written at start and closed at clean stop."""

    run_id: str
    started_ns: int
    stopped_ns: int | None
    pid: int
    hostname: str

    @property
    def clean(self) -> bool:
        """True when the run closed its marker (a clean shutdown)."""
        return self.stopped_ns is not None


def chain_crc(
    prev_crc: int,
    *,
    seq: int,
    type: str,
    version: int,
    ts_ns: int,
    epoch: int,
    payload: bytes,
) -> int:
    """CRC32 of a record's header and payload, seeded with the previous record's crc.

    Because each crc covers its predecessor, a changed, dropped or reordered record
    breaks every crc after it, and the first break names the damaged record.
    """
    crc = zlib.crc32(_HEADER.pack(seq, ts_ns, epoch, version), prev_crc)
    crc = zlib.crc32(_TYPE_BYTES.get(type) or encoded_type(type), crc)
    return zlib.crc32(payload, crc)


def encoded_type(type_: str) -> bytes:
    """The UTF-8 bytes of a record type, as the crc covers them (cached: a journal has
    a handful of types and millions of records)."""
    found = _TYPE_BYTES.get(type_)
    if found is None:
        found = type_.encode()
        if len(_TYPE_BYTES) < 1024:  # bound the cache against junk types in damaged rows
            _TYPE_BYTES[type_] = found
    return found


def snapshot_crc(*, seq: int, version: int, ts_ns: int, payload: bytes) -> int:
    """CRC32 over a snapshot's header and payload."""
    return zlib.crc32(payload, zlib.crc32(_HEADER.pack(seq, ts_ns, 0, version)))

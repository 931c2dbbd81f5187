"""Reading SQLite's write-ahead log ourselves, before SQLite does.

SQLite replays ``<db>-wal`` frame by frame and stops, without an error, at the first
frame whose salts or cumulative checksum do not match; every commit after it is dropped
as if it never happened. Since our commits are synced (``synchronous=FULL``) before they
are acknowledged, only the frames of the last, unacknowledged transaction may be torn:
a frame of the *current* WAL generation (same salts as the header) that is a commit
frame and lies past the first bad frame means committed data would be lost.
:func:`scan_wal` finds exactly that, with SQLite's own rules (https://sqlite.org/fileformat2.html#walformat):

- header (32 bytes): magic 0x377f0682 (checksums over little-endian words) or
  0x377f0683 (big-endian), version 3007000, page size, checkpoint seq, salt-1, salt-2,
  checksum-1/2 over the first 24 bytes;
- frames: 24-byte header (page number, database size after commit or 0, salt-1,
  salt-2, cumulative checksum-1/2 over the frame header's first 8 bytes and the page),
  then the page.

This module only reads; it never opens the database.
"""

from __future__ import annotations

import struct
from array import array
from dataclasses import dataclass
from pathlib import Path

__all__ = ["WAL_HEADER_BYTES", "WalScan", "scan_wal", "wal_checksum"]

WAL_HEADER_BYTES = 32
FRAME_HEADER_BYTES = 24
_MAGIC_LE = 0x377F0682
_MAGIC_BE = 0x377F0683
_VERSION = 3007000
_M32 = 0xFFFFFFFF
_NATIVE_LITTLE = array("I", b"\x01\x00\x00\x00")[0] == 1


@dataclass(frozen=True)
class WalScan:
    """What a WAL file holds, as SQLite will read it, and what it would drop."""

    path: Path
    size: int
    page_size: int
    header_ok: bool
    frames: int
    """Whole frames in the file (any generation)."""
    valid_frames: int
    """Frames SQLite replays: up to and including the last valid commit frame."""
    valid_commits: int
    first_bad: int | None
    """Index (0-based) of the first frame SQLite rejects, None if it rejects none."""
    bad_reason: str
    stray_frames: int
    """Frames from ``first_bad`` on that carry the current salts."""
    stray_commits: int
    """Of those, commit frames: committed transactions SQLite would drop."""
    stray_bytes: int
    """Bytes from the first bad frame to the end of the last stray commit frame."""

    @property
    def drops_commits(self) -> bool:
        """True when opening the WAL would silently drop committed transactions."""
        return self.stray_commits > 0

    def describe(self) -> str:
        """One line: where the damage is and what lies past it."""
        return (
            f"{self.path} frame {self.first_bad} ({self.bad_reason}) is damaged; "
            f"{self.stray_commits} committed transaction(s) in {self.stray_frames} "
            f"frame(s), about {self.stray_bytes:,} bytes, lie past it and SQLite would drop "
            "them silently"
        )


def _words(data: bytes | memoryview, big_endian: bool) -> array[int]:
    out = array("I")
    out.frombytes(data)
    if big_endian == _NATIVE_LITTLE:
        out.byteswap()
    return out


def wal_checksum(s0: int, s1: int, words: array[int]) -> tuple[int, int]:
    """SQLite's WAL checksum continued over ``words`` (an even count of u32 words)."""
    m = _M32
    n = len(words) - len(words) % 4
    it = iter(words[:n])
    # Four words per step, masked once: addition commutes with the modulus.
    for a, b, c, d in zip(it, it, it, it, strict=True):
        s0 = s0 + a + s1
        s1 = s1 + b + s0
        s0 = (s0 + c + s1) & m
        s1 = (s1 + d + s0) & m
    if n < len(words):
        s0 = (s0 + words[n] + s1) & m
        s1 = (s1 + words[n + 1] + s0) & m
    return s0, s1


def _valid_page_size(size: int) -> bool:
    return 512 <= size <= 65536 and size & (size - 1) == 0


def scan_wal(path: Path, *, fallback_page_size: int = 4096) -> WalScan:
    """Walk the WAL at ``path`` the way SQLite's recovery does (see the module doc).

    ``fallback_page_size`` (the database header's) is used to find frames when the WAL
    header itself is damaged. A missing or short file is an empty WAL.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        data = b""
    size = len(data)
    if size < WAL_HEADER_BYTES:
        return WalScan(path, size, 0, False, 0, 0, 0, None, "", 0, 0, 0)
    magic, version, page_size, _ckpt, salt1, salt2, ck1, ck2 = struct.unpack_from(">8I", data)
    big = bool(magic & 1)
    header_ok = magic in (_MAGIC_LE, _MAGIC_BE) and version == _VERSION
    header_ok = header_ok and _valid_page_size(page_size)
    if header_ok:
        header_ok = wal_checksum(0, 0, _words(data[:24], big)) == (ck1, ck2)
    if not _valid_page_size(page_size):
        # A single flipped bit never turns one valid page size into another.
        page_size = fallback_page_size
    frame_size = FRAME_HEADER_BYTES + page_size
    frames = (size - WAL_HEADER_BYTES) // frame_size
    salts = {(salt1, salt2)}
    if not header_ok and frames:
        # The header (and maybe its salts) is damaged; frame 0 is always written with
        # the generation's salts right after the header, so its salts are current too.
        salts.add(struct.unpack_from(">II", data, WAL_HEADER_BYTES + 8))
    valid = commits = 0
    first_bad: int | None = None
    reason = ""
    s0, s1 = ck1, ck2
    view = memoryview(data)
    for i in range(frames):
        off = WAL_HEADER_BYTES + i * frame_size
        pgno, db_size, f1, f2, fc1, fc2 = struct.unpack_from(">6I", data, off)
        if not header_ok:
            first_bad, reason = i, "the WAL header is damaged"
            break
        if (f1, f2) != (salt1, salt2):
            first_bad, reason = i, "salt mismatch"
            break
        if pgno == 0:
            first_bad, reason = i, "page number 0"
            break
        s0, s1 = wal_checksum(s0, s1, _words(view[off : off + 8], big))
        s0, s1 = wal_checksum(s0, s1, _words(view[off + 24 : off + frame_size], big))
        if (s0, s1) != (fc1, fc2):
            first_bad, reason = i, "checksum mismatch"
            break
        if db_size:
            valid, commits = i + 1, commits + 1
    stray_frames = stray_commits = 0
    last_stray_end = 0
    if first_bad is not None:
        for i in range(first_bad, frames):
            off = WAL_HEADER_BYTES + i * frame_size
            pgno, db_size, f1, f2 = struct.unpack_from(">4I", data, off)
            if (f1, f2) not in salts:
                continue
            stray_frames += 1
            if db_size and pgno:
                stray_commits += 1
                last_stray_end = off + frame_size
    first_bad_off = WAL_HEADER_BYTES + (first_bad or 0) * frame_size
    stray_bytes = max(0, last_stray_end - first_bad_off) if stray_commits else 0
    return WalScan(
        path,
        size,
        page_size,
        header_ok,
        frames,
        valid,
        commits,
        first_bad,
        reason,
        stray_frames,
        stray_commits,
        stray_bytes,
    )

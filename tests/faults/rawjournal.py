"""A minimal hash-chained journal in raw SQL, used to prove the fault harnesses.

Before (and besides) the real ``SqliteStore``, the harnesses run against this: one
INSERT per record plus COMMIT in WAL mode, each record's crc chained over the previous
one with ``tradeguard.storage.records.chain_crc``. If a harness finds no loss here with
synchronous=FULL and finds loss with synchronous=NORMAL, the harness itself works.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Sequence
from typing import Any

from tradeguard.storage.records import GENESIS_CRC, chain_crc

__all__ = ["RAW_DB_NAME", "RawJournal", "read_verified"]

RAW_DB_NAME = "raw-journal.sqlite"
_TYPE = "test.Blob"


class RawJournal:
    """Append-only chained journal over any sqlite3-shaped connection."""

    def __init__(self, conn: Any, *, synchronous: str = "FULL") -> None:
        self.conn = conn
        # One PRAGMA per call: apsw stops at the first statement that returns a row.
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise RuntimeError(f"journal_mode is {mode}, not wal")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        level = conn.execute("PRAGMA synchronous").fetchone()[0]
        expected = {"OFF": 0, "NORMAL": 1, "FULL": 2, "EXTRA": 3}[synchronous]
        if level != expected:
            raise RuntimeError(f"synchronous is {level}, not {expected}")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS journal (seq INTEGER PRIMARY KEY, ts_ns INTEGER,"
            " payload BLOB NOT NULL, crc INTEGER NOT NULL)"
        )

    def append(self, payloads: Sequence[bytes], ts_ns: int = 0) -> tuple[int, int]:
        """Append payloads in one transaction; return (first_seq, last_seq)."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            row = self.conn.execute(
                "SELECT seq, crc FROM journal ORDER BY seq DESC LIMIT 1"
            ).fetchone()
            seq, crc = (0, GENESIS_CRC) if row is None else (row[0], row[1])
            first = seq + 1
            for payload in payloads:
                seq += 1
                crc = chain_crc(
                    crc, seq=seq, type=_TYPE, version=1, ts_ns=ts_ns, epoch=0, payload=payload
                )
                self.conn.execute(
                    "INSERT INTO journal (seq, ts_ns, payload, crc) VALUES (?, ?, ?, ?)",
                    (seq, ts_ns, payload, crc),
                )
            self.conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute("ROLLBACK")
            raise
        return first, seq


def read_verified(path: str) -> dict[int, bytes]:
    """Every record of the raw journal at ``path`` (stdlib sqlite3), chain verified.

    Raises AssertionError naming the first record whose crc or sequence is wrong.
    """
    conn = sqlite3.connect(path)
    try:
        check = conn.execute("PRAGMA integrity_check").fetchall()
        assert check == [("ok",)], f"integrity_check: {check}"
        exists = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'journal'"
        ).fetchone()
        if exists is None:
            # Creating the table was itself lost (possible when commits are not synced).
            return {}
        rows = conn.execute("SELECT seq, ts_ns, payload, crc FROM journal ORDER BY seq").fetchall()
    finally:
        conn.close()
    crc = GENESIS_CRC
    out: dict[int, bytes] = {}
    for expected_seq, (seq, ts_ns, payload, stored) in enumerate(rows, start=1):
        assert seq == expected_seq, f"sequence gap: expected {expected_seq}, found {seq}"
        crc = chain_crc(crc, seq=seq, type=_TYPE, version=1, ts_ns=ts_ns, epoch=0, payload=payload)
        assert crc == stored, f"chain crc broken at seq {seq}"
        out[seq] = bytes(payload)
    return out

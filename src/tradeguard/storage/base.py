"""The storage contract every backend (memory, SQLite, PostgreSQL) implements.

A store holds the journal, snapshots, quarantine, run markers and the writer epoch of
one session. Writes are durable when the call returns. Appends from many threads or
asyncio tasks are grouped into one commit (group commit); each caller is answered only
after its own records are durable. One ``append`` call is one transaction: all of its
records or none.
"""

from __future__ import annotations

import abc
import asyncio
import concurrent.futures
from collections.abc import Iterator, Sequence
from pathlib import Path

from tradeguard.storage.groupcommit import StoreStats
from tradeguard.storage.records import (
    AppendResult,
    NewRecord,
    QuarantinedRecord,
    RunInfo,
    SnapshotInfo,
    SnapshotRecord,
    StoredRecord,
)

__all__ = ["Store"]


class Store(abc.ABC):
    """Abstract store of one session. Thread-safe; methods block until durable."""

    session_id: str
    url: str

    # --- journal ---------------------------------------------------------------------

    @abc.abstractmethod
    def append(self, records: Sequence[NewRecord], *, epoch: int) -> AppendResult:
        """Append records atomically and durably; return their sequence numbers.

        Sequence numbers are gapless, starting at 1. The store checks ``epoch`` against
        its current epoch inside the same transaction and raises ``StaleEpochError``
        (writing nothing) if it is not equal. If the commit fails with an unknown
        outcome (I/O error), raises ``StoreFailedError`` and refuses all later writes;
        the failed commit is never retried.
        """

    @abc.abstractmethod
    def submit(
        self, records: Sequence[NewRecord], *, epoch: int
    ) -> concurrent.futures.Future[AppendResult]:
        """Queue an append and return at once; the future resolves when it is durable
        (or fails as ``append`` would). Jobs are committed in the order they were
        submitted, so a caller that submits A before B gets A's seqs before B's. The
        session journal relies on this to keep its state in sequence order."""

    def submit_async(
        self, records: Sequence[NewRecord], *, epoch: int
    ) -> asyncio.Future[AppendResult]:
        """``submit`` for the running event loop: queued at once, in submit order; the
        asyncio future resolves when durable. Backends may answer it more cheaply."""
        return asyncio.wrap_future(self.submit(records, epoch=epoch))

    async def append_async(self, records: Sequence[NewRecord], *, epoch: int) -> AppendResult:
        """``append`` for asyncio callers; many concurrent tasks share one commit."""
        return await asyncio.wrap_future(self.submit(records, epoch=epoch))

    @abc.abstractmethod
    def read(self, after_seq: int = 0, limit: int | None = None) -> Iterator[StoredRecord]:
        """Journal records with seq > after_seq in seq order, as stored (not verified)."""

    @abc.abstractmethod
    def last_seq(self) -> int:
        """Highest journal sequence number stored (0 for an empty journal)."""

    @abc.abstractmethod
    def last_record(self) -> StoredRecord | None:
        """The record with the highest sequence number, or None."""

    @abc.abstractmethod
    def quarantine_from(self, seq: int, reason: str) -> int:
        """Move every journal record with seq >= ``seq`` into quarantine, raw bytes and
        all, in one transaction; return how many were moved. Later appends continue at
        ``seq``. Used by recovery for a torn or corrupt tail."""

    @abc.abstractmethod
    def quarantined(self) -> list[QuarantinedRecord]:
        """Everything ever quarantined, oldest first."""

    # --- epoch (fencing) -------------------------------------------------------------

    @abc.abstractmethod
    def current_epoch(self) -> int:
        """The epoch appends must carry (0 for a new store)."""

    @abc.abstractmethod
    def advance_epoch(self) -> int:
        """Take over as writer: bump the epoch atomically and return the new one.
        Writers still holding the old epoch can no longer append."""

    # --- snapshots -------------------------------------------------------------------

    @abc.abstractmethod
    def save_snapshot(self, seq: int, version: int, payload: bytes, *, keep: int) -> None:
        """Store a snapshot of the state at ``seq`` durably, then keep only the newest
        ``keep`` snapshots. Must not hold up appends for longer than the row write."""

    @abc.abstractmethod
    def snapshots(self) -> list[SnapshotInfo]:
        """Stored snapshots, newest first."""

    @abc.abstractmethod
    def load_snapshot(self, seq: int) -> SnapshotRecord:
        """The snapshot at ``seq`` as stored (crc not verified here)."""

    # --- run markers -----------------------------------------------------------------

    @abc.abstractmethod
    def begin_run(self, run_id: str) -> RunInfo | None:
        """Record that a run starts; return the previous run (None if first ever).
        A previous run with ``clean == False`` means an unclean shutdown."""

    @abc.abstractmethod
    def end_run(self, run_id: str) -> None:
        """Close this run's marker: the shutdown was clean."""

    @abc.abstractmethod
    def last_run(self) -> RunInfo | None:
        """The newest run marker, read-only."""

    @abc.abstractmethod
    def runs(self) -> list[RunInfo]:
        """Every run marker of the session, oldest first."""

    # --- schema, backup, lifecycle ---------------------------------------------------

    @abc.abstractmethod
    def schema_version(self) -> int:
        """Number of the newest table migration applied to this store."""

    @abc.abstractmethod
    def backup(self, dest: Path) -> Path:
        """Write a consistent online copy of the store under ``dest``; return its path."""

    @abc.abstractmethod
    def import_from(self, source: Store) -> None:
        """Copy everything of ``source``'s session (journal rows exactly as stored,
        snapshots, quarantine, run markers, epoch) into this store, in one transaction.
        Refuses (``StoreError``) unless this store's session is empty. Used by backup
        and restore across backends."""

    def integrity_problems(self) -> list[str]:
        """What the backend's own check of its files finds wrong (empty: nothing, or no
        such check). SQLite runs ``PRAGMA quick_check``; ``verify`` reports the result
        and recovery refuses to write into a damaged file."""
        return []

    @abc.abstractmethod
    def stats(self) -> StoreStats:
        """Writer counters: commits, jobs, appends, largest group, poisoned."""

    @abc.abstractmethod
    def close(self) -> None:
        """Finish pending appends and release the store. Idempotent."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""The write half of the store contract, shared by every backend.

Every write (append, epoch, snapshot, quarantine, run markers, import) becomes a job
for the store's :class:`~tradeguard.storage.groupcommit.GroupCommitter`, so writes of
every kind serialise in submission order and share commits. Blocking calls may commit
in the caller's own thread; ``submit``/``append_async`` never block. Backends add the
reads.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from itertools import islice
from typing import Any

import msgspec

from tradeguard.errors import StoreClosedError, StoreError
from tradeguard.storage.base import Store
from tradeguard.storage.groupcommit import (
    GroupCommitter,
    Job,
    StoreStats,
    TxState,
    WriteTx,
)
from tradeguard.storage.records import (
    GENESIS_CRC,
    AppendResult,
    NewRecord,
    QuarantinedRecord,
    RunInfo,
    SnapshotRecord,
    StoredRecord,
    snapshot_crc,
)

__all__ = ["WriterStore"]

_IMPORT_CHUNK = 10_000

_IDLE_STATS = StoreStats(
    commits=0, jobs=0, appends=0, records=0, failed_jobs=0, max_group=0, poisoned=False
)


class WriterStore(Store):
    """A store whose writes all go through one group-commit writer thread."""

    _writer: GroupCommitter | None = None
    _closed: bool = False

    def _start_writer(self, tx: WriteTx, *, next_seq: int, last_crc: int) -> None:
        self._writer = GroupCommitter(
            tx, next_seq=next_seq, last_crc=last_crc, name=self.session_id
        )

    @property
    def writer(self) -> GroupCommitter:
        """The writer; raises if the store is closed or was opened read-only."""
        if self._closed:
            raise StoreClosedError(f"store {self.url} is closed")
        if self._writer is None:
            raise StoreError(f"store {self.url} was opened read-only; it cannot be written")
        return self._writer

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError(f"store {self.url} is closed")

    # --- journal ---------------------------------------------------------------------

    def submit(self, records: Sequence[NewRecord], *, epoch: int) -> Future[AppendResult]:
        """Queue an append; the future resolves once it is durable (FIFO order)."""
        job = Job.append(tuple(records), epoch, blocking=False)
        fut: Future[AppendResult] = self.writer.submit(job)
        return fut

    def append(self, records: Sequence[NewRecord], *, epoch: int) -> AppendResult:
        """Append records atomically and durably (see ``Store.append``); commits in this
        thread when no other commit is in progress."""
        result: AppendResult = self.writer.execute(Job.append(tuple(records), epoch, blocking=True))
        return result

    def submit_async(
        self, records: Sequence[NewRecord], *, epoch: int
    ) -> asyncio.Future[AppendResult]:
        """``submit`` for the running event loop: queues at once (in submit order) and
        returns an asyncio future the writer resolves on this loop, one callback per
        commit for all of the loop's jobs (cheaper than wrapping a thread future)."""
        aio: asyncio.Future[AppendResult] = asyncio.get_running_loop().create_future()
        self.writer.enqueue(Job.append(tuple(records), epoch, aio=aio))
        return aio

    async def append_async(self, records: Sequence[NewRecord], *, epoch: int) -> AppendResult:
        """Await an append without blocking the loop; concurrent tasks share commits."""
        return await self.submit_async(records, epoch=epoch)

    def quarantine_from(self, seq: int, reason: str) -> int:
        """Move records with seq >= ``seq`` into quarantine (see ``Store``)."""
        if seq < 1:
            raise StoreError(f"quarantine_from needs a seq >= 1, got {seq}")
        moved: int = self.writer.run("quarantine", quarantine_fn(seq, reason, time.time_ns()))
        return moved

    # --- epoch -----------------------------------------------------------------------

    def advance_epoch(self) -> int:
        """Bump the epoch in order with queued appends; return the new epoch."""

        def fn(tx: WriteTx, state: TxState) -> int:
            state.epoch += 1
            tx.set_epoch(state.epoch)
            return state.epoch

        epoch: int = self.writer.run("advance_epoch", fn)
        return epoch

    # --- snapshots -------------------------------------------------------------------

    def save_snapshot(self, seq: int, version: int, payload: bytes, *, keep: int) -> None:
        """Store a snapshot and prune to the newest ``keep``, as one queued job."""
        if keep < 1:
            raise StoreError(f"save_snapshot needs keep >= 1, got {keep}")
        ts_ns = time.time_ns()
        # The checksum is computed here, in the caller, so the writer only writes a row.
        snap = SnapshotRecord(
            seq=seq,
            version=version,
            ts_ns=ts_ns,
            payload=payload,
            crc=snapshot_crc(seq=seq, version=version, ts_ns=ts_ns, payload=payload),
        )

        def fn(tx: WriteTx, state: TxState) -> None:
            tx.upsert_snapshot(snap)
            tx.prune_snapshots(keep)

        self.writer.run("snapshot", fn)

    # --- run markers -----------------------------------------------------------------

    def begin_run(self, run_id: str) -> RunInfo | None:
        """Open a run marker; return the previous run (unclean if never closed)."""
        run = RunInfo(
            run_id=run_id,
            started_ns=time.time_ns(),
            stopped_ns=None,
            pid=os.getpid(),
            hostname=socket.gethostname(),
        )

        def fn(tx: WriteTx, state: TxState) -> RunInfo | None:
            prev = tx.last_run()
            tx.insert_run(run)
            return prev

        prev: RunInfo | None = self.writer.run("begin_run", fn)
        return prev

    def end_run(self, run_id: str) -> None:
        """Close this run's marker (clean shutdown)."""
        stopped = time.time_ns()

        def fn(tx: WriteTx, state: TxState) -> None:
            if not tx.close_run(run_id, stopped):
                raise StoreError(f"no run {run_id!r} in store {self.url}")

        self.writer.run("end_run", fn)

    # --- import, stats, lifecycle ----------------------------------------------------

    def import_from(self, source: Store) -> None:
        """Copy ``source``'s whole session into this empty store in one transaction."""

        def fn(tx: WriteTx, state: TxState) -> None:
            if not tx.is_empty():
                raise StoreError(f"store {self.url} (session {self.session_id}) is not empty")
            last = None
            records = source.read()
            while chunk := list(islice(records, _IMPORT_CHUNK)):
                tx.insert_records(chunk)
                last = chunk[-1]
            for info in reversed(source.snapshots()):
                tx.upsert_snapshot(source.load_snapshot(info.seq))
            tx.insert_quarantined(source.quarantined())
            for run in source.runs():
                tx.insert_run(run)
            state.epoch = source.current_epoch()
            tx.set_epoch(state.epoch)
            state.next_seq = 1 if last is None else last.seq + 1
            state.last_crc = GENESIS_CRC if last is None else last.crc

        self.writer.run("import", fn)

    def stats(self) -> StoreStats:
        """Writer counters (all zero for a read-only store)."""
        return _IDLE_STATS if self._writer is None else self._writer.stats()

    def close(self) -> None:
        """Finish queued writes, stop the writer, close every connection. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._writer is not None:
                self._writer.close()
        finally:
            self._close_reads()

    def _close_reads(self) -> None:
        """Release read-side resources (backends override)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r}, session_id={self.session_id!r})"


def quarantine_fn(seq: int, reason: str, now_ns: int) -> Callable[[WriteTx, TxState], int]:
    """The job body of ``quarantine_from``: move raw rows, reset the chain tip."""

    def fn(tx: WriteTx, state: TxState) -> int:
        rows = tx.records_from(seq)
        if not rows:
            return 0
        tx.insert_quarantined(
            [QuarantinedRecord(r.seq, reason, now_ns, raw_bytes(r)) for r in rows]
        )
        tx.delete_records_from(seq)
        prev = tx.record_before(seq)
        state.next_seq = seq
        state.last_crc = GENESIS_CRC if prev is None else prev.crc
        return len(rows)

    return fn


def raw_bytes(rec: StoredRecord) -> bytes:
    """Every column of a journal row as msgpack: what quarantine keeps for forensics."""
    return msgspec.msgpack.encode(rec)


def replace_run(run: RunInfo, **changes: Any) -> RunInfo:
    """A copy of a run marker with fields changed."""
    return msgspec.structs.replace(run, **changes)

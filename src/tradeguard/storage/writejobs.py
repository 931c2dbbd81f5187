"""What the group committer works with, apart from its queue and transactions.

Jobs (one caller's unit of work) and how their callers are answered, whether they
block, hold a future or await on an asyncio loop; the :class:`WriteTx` protocol each
backend implements; the committer's in-transaction state; and its counters.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any, Protocol

import msgspec

from tradeguard.errors import StaleEpochError, StoreError
from tradeguard.storage.records import (
    AppendResult,
    NewRecord,
    QuarantinedRecord,
    RunInfo,
    SnapshotRecord,
    StoredRecord,
    chain_crc,
)

__all__ = [
    "Job",
    "JobBody",
    "Outcome",
    "StoreStats",
    "TxState",
    "WriteTx",
    "answer",
    "stage_append",
]

JobBody = Callable[["WriteTx", "TxState"], Any]
"""The body of a job that is not an append: runs inside the group's transaction."""
Outcome = tuple["Job", Any, BaseException | None]
"""A job with its result or its error."""


class StoreStats(msgspec.Struct, frozen=True):
    """Counters of a store's writer since it was opened."""

    commits: int
    """Transactions committed (one per group)."""
    jobs: int
    """Jobs (appends, snapshots, ...) acknowledged successfully."""
    appends: int
    """Successful ``append`` calls."""
    records: int
    """Journal records appended."""
    failed_jobs: int
    """Jobs rejected individually (stale epoch, bad input), rolled back alone."""
    max_group: int
    """Largest number of jobs that shared one commit."""
    poisoned: bool
    """True once a commit failed with an unknown outcome; writes are refused."""
    caller_commits: int = 0
    """Commits led by a blocking caller in its own thread (no writer-thread handoff)."""
    batched_groups: int = 0
    """Runs of several appends written by one combined insert."""
    fallback_groups: int = 0
    """Combined inserts that failed and were redone with one savepoint per job."""


class WriteTx(Protocol):
    """What the committer needs from a backend: transaction control plus row primitives.

    Every method runs on the leading thread, inside the transaction opened by
    :meth:`begin` (except ``close``). Only one thread uses it at a time.
    """

    def begin(self) -> int:
        """Open the write transaction, lock the session row; return its epoch."""

    def savepoint(self) -> None:
        """Mark the start of one job (or of one combined insert)."""

    def release(self) -> None:
        """Keep the changes since the savepoint (still uncommitted)."""

    def rollback_to(self) -> None:
        """Undo the changes since the savepoint only."""

    def commit(self) -> None:
        """Make the group durable."""

    def rollback(self) -> None:
        """Undo the whole transaction."""

    def is_io_error(self, exc: BaseException) -> bool:
        """True when ``exc`` leaves the outcome of the transaction unknown."""

    def translate(self, exc: BaseException, what: str) -> StoreError:
        """Map a foreign error to tradeguard's error tree."""

    def close(self) -> None:
        """Release the write connection."""

    def insert_records(self, rows: Sequence[StoredRecord]) -> None:
        """Insert journal rows exactly as given (ideally as one statement)."""

    def records_from(self, seq: int) -> list[StoredRecord]:
        """Journal rows with seq >= ``seq``, in order."""

    def delete_records_from(self, seq: int) -> None:
        """Delete journal rows with seq >= ``seq``."""

    def record_before(self, seq: int) -> StoredRecord | None:
        """The journal row with the highest seq below ``seq``."""

    def set_epoch(self, epoch: int) -> None:
        """Store the session's new epoch."""

    def upsert_snapshot(self, snap: SnapshotRecord) -> None:
        """Insert (or replace) the snapshot at ``snap.seq``."""

    def prune_snapshots(self, keep: int) -> None:
        """Delete all but the newest ``keep`` snapshots."""

    def insert_quarantined(self, items: Sequence[QuarantinedRecord]) -> None:
        """Append quarantined records (oldest first)."""

    def last_run(self) -> RunInfo | None:
        """The newest run marker."""

    def insert_run(self, run: RunInfo) -> None:
        """Append a run marker."""

    def close_run(self, run_id: str, stopped_ns: int) -> bool:
        """Set ``stopped_ns`` on the run; False if there is no such run."""

    def is_empty(self) -> bool:
        """True when the session has no journal, snapshot, quarantine or run rows."""


class TxState:
    """The committer's view inside one transaction: next seq, chain tip and epoch."""

    __slots__ = ("epoch", "last_crc", "next_seq")

    def __init__(self, next_seq: int, last_crc: int, epoch: int) -> None:
        self.next_seq = next_seq
        self.last_crc = last_crc
        self.epoch = epoch

    def copy(self) -> TxState:
        """A copy to restore when a job is rolled back to its savepoint."""
        return TxState(self.next_seq, self.last_crc, self.epoch)

    def restore(self, saved: TxState) -> None:
        """Go back to ``saved`` (after a rollback to a savepoint)."""
        self.next_seq, self.last_crc, self.epoch = saved.next_seq, saved.last_crc, saved.epoch


class Job:
    """One caller's unit of work.

    An append job has ``fn is None``: the committer writes ``records`` itself (so many
    appends can share one insert). Any other job's ``fn`` runs inside the transaction.
    A job from ``submit`` is answered through ``future``; a blocking job (``future`` is
    None) through ``result``/``error`` and a lock its waiting caller sleeps on.
    """

    __slots__ = (
        "aio",
        "epoch",
        "error",
        "fn",
        "future",
        "kind",
        "loop",
        "records",
        "result",
        "settled",
        "waiter",
    )

    def __init__(
        self,
        kind: str,
        fn: JobBody | None = None,
        records: Sequence[NewRecord] = (),
        *,
        epoch: int = 0,
        blocking: bool = False,
        aio: asyncio.Future[Any] | None = None,
    ) -> None:
        self.kind = kind
        self.fn = fn
        self.records = records
        self.epoch = epoch
        self.future: Future[Any] | None = None if blocking or aio else Future()
        # An asyncio caller's future, resolved on its loop in one callback per group.
        self.aio = aio
        self.loop = None if aio is None else aio.get_loop()
        self.result: Any = None
        self.error: BaseException | None = None
        self.settled = False
        self.waiter: Any = None

    @classmethod
    def append(
        cls,
        records: Sequence[NewRecord],
        epoch: int,
        *,
        blocking: bool = False,
        aio: asyncio.Future[Any] | None = None,
    ) -> Job:
        """An append of ``records`` carrying the writer's ``epoch``: answered through a
        future (default), to a blocking caller, or through ``aio`` on its loop."""
        return cls("append", None, records, epoch=epoch, blocking=blocking, aio=aio)


def answer(outcomes: list[Outcome]) -> None:
    """Answer each job once: wake a blocking caller, resolve a future (unless done or
    cancelled), and resolve asyncio futures with one thread-safe callback per loop.

    No lock needed: a waiting caller set ``job.waiter`` under the committer's lock when
    it queued the job, before any leader could take it; one thread settles a job.
    """
    by_loop: dict[asyncio.AbstractEventLoop, list[Outcome]] = {}
    for outcome in outcomes:
        job, result, error = outcome
        if job.loop is not None:
            by_loop.setdefault(job.loop, []).append(outcome)
            continue
        future = job.future
        if future is None:
            if job.settled:
                continue
            job.result, job.error, job.settled = result, error, True
            if job.waiter is not None:
                job.waiter.release()
        elif not future.done():
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)
    for loop, items in by_loop.items():
        # A loop closed meanwhile has nobody left to answer.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_resolve_on_loop, items)


def _resolve_on_loop(outcomes: list[Outcome]) -> None:
    """On the caller's loop: resolve asyncio futures (a cancelled waiter is skipped)."""
    for job, result, error in outcomes:
        aio = job.aio
        if aio is None or aio.done():
            continue
        if error is not None:
            aio.set_exception(error)
        else:
            aio.set_result(result)


def stage_append(job: Job, state: TxState, rows: list[StoredRecord]) -> AppendResult:
    """Check an append's epoch, give its records seqs and chained crcs (into
    ``rows``) and advance ``state``; on any error neither is touched."""
    epoch = job.epoch
    if epoch != state.epoch:
        raise StaleEpochError(
            f"append with epoch {epoch} rejected: the session is at epoch {state.epoch}"
            " (another writer took over); nothing was written"
        )
    first = seq = state.next_seq
    crc = state.last_crc
    staged = []
    for rec in job.records:
        crc = chain_crc(
            crc,
            seq=seq,
            type=rec.type,
            version=rec.version,
            ts_ns=rec.ts_ns,
            epoch=epoch,
            payload=rec.payload,
        )
        staged.append(StoredRecord(seq, rec.type, rec.version, rec.ts_ns, epoch, rec.payload, crc))
        seq += 1
    rows.extend(staged)
    state.next_seq, state.last_crc = seq, crc
    return AppendResult(first_seq=first, last_seq=seq - 1)

"""Group commit: one writer thread per store turns many callers' jobs into one commit.

Callers (threads or asyncio tasks) enqueue a job and wait on its future. The writer
takes every queued job (up to a cap), opens ONE transaction, reads the session's epoch
under the write lock, runs each job inside its own SAVEPOINT, commits once, and only
then resolves the futures. A job that fails is rolled back to its savepoint and only its
caller sees the error. A failure of COMMIT (or an I/O error anywhere) has an unknown
outcome: every waiting caller gets ``StoreFailedError``, the store is poisoned and never
retries. The backend is reached only through the small :class:`WriteTx` protocol, so
SQLite, PostgreSQL and the in-memory store share this exact logic.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any, Protocol

import msgspec

from tradeguard.errors import StaleEpochError, StoreClosedError, StoreError, StoreFailedError
from tradeguard.storage.records import (
    GENESIS_CRC,
    AppendResult,
    NewRecord,
    QuarantinedRecord,
    RunInfo,
    SnapshotRecord,
    StoredRecord,
    chain_crc,
)

__all__ = ["GroupCommitter", "Job", "StoreStats", "TxState", "WriteTx"]

MAX_GROUP_JOBS = 1024
"""Cap on jobs per transaction, so one commit's latency stays bounded under load."""


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
    """Jobs rejected individually (stale epoch, bad input), rolled back to a savepoint."""
    max_group: int
    """Largest number of jobs that shared one commit."""
    poisoned: bool
    """True once a commit failed with an unknown outcome; writes are refused."""


class WriteTx(Protocol):
    """What the writer needs from a backend: transaction control plus row primitives.

    Every method runs on the writer thread, inside the transaction opened by
    :meth:`begin` (except ``close``).
    """

    def begin(self) -> int:
        """Open the write transaction, lock the session row; return its epoch."""

    def savepoint(self) -> None:
        """Mark the start of one job."""

    def release(self) -> None:
        """Keep the job's changes (still uncommitted)."""

    def rollback_to(self) -> None:
        """Undo the job's changes only."""

    def commit(self) -> None:
        """Make the group durable."""

    def rollback(self) -> None:
        """Undo the whole transaction (best effort after a failure)."""

    def is_io_error(self, exc: BaseException) -> bool:
        """True when ``exc`` leaves the outcome of the transaction unknown."""

    def translate(self, exc: BaseException, what: str) -> StoreError:
        """Map a foreign error to tradeguard's error tree."""

    def close(self) -> None:
        """Release the write connection."""

    def insert_records(self, rows: Sequence[StoredRecord]) -> None:
        """Insert journal rows exactly as given."""

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
    """The writer's view inside one transaction: next seq, chain tip and epoch."""

    __slots__ = ("epoch", "last_crc", "next_seq")

    def __init__(self, next_seq: int, last_crc: int, epoch: int) -> None:
        self.next_seq = next_seq
        self.last_crc = last_crc
        self.epoch = epoch

    def copy(self) -> TxState:
        """A copy to restore when a job is rolled back to its savepoint."""
        return TxState(self.next_seq, self.last_crc, self.epoch)


class Job:
    """One caller's unit of work: ``fn`` runs inside its savepoint on the writer thread."""

    __slots__ = ("fn", "future", "kind", "records")

    def __init__(
        self,
        kind: str,
        fn: Callable[[WriteTx, TxState], Any],
        records: Sequence[NewRecord] = (),
    ) -> None:
        self.kind = kind
        self.fn = fn
        self.records = records
        self.future: Future[Any] = Future()


class GroupCommitter:
    """The writer thread of one store and the queue in front of it."""

    def __init__(self, tx: WriteTx, *, next_seq: int, last_crc: int, name: str) -> None:
        self._tx = tx
        # Committed chain tip: advanced only after COMMIT returned.
        self._next_seq = next_seq
        self._last_crc = last_crc
        self._queue: collections.deque[Job] = collections.deque()
        self._cond = threading.Condition()
        self._closing = False
        self._paused = False
        self._failure: str | None = None
        self._commits = self._jobs = self._appends = self._records = 0
        self._failed_jobs = self._max_group = 0
        self.before_release: Callable[[Job], None] | None = None
        """Test hook: runs after a job's writes, before its savepoint is released."""
        self._thread = threading.Thread(target=self._run, name=f"tradeguard-writer-{name}")
        self._thread.daemon = True
        self._thread.start()

    # --- caller side -----------------------------------------------------------------

    def submit(self, job: Job) -> Future[Any]:
        """Queue a job; its future resolves after the commit that includes it."""
        with self._cond:
            if self._failure is not None:
                raise StoreFailedError(self._failure)
            if self._closing:
                raise StoreClosedError("the store is closed")
            self._queue.append(job)
            self._cond.notify_all()
        return job.future

    def run(self, kind: str, fn: Callable[[WriteTx, TxState], Any]) -> Any:
        """Submit a job and block until it is durable; return its result."""
        return self.submit(Job(kind, fn)).result()

    def stats(self) -> StoreStats:
        """Counters since the store was opened."""
        with self._cond:
            return StoreStats(
                commits=self._commits,
                jobs=self._jobs,
                appends=self._appends,
                records=self._records,
                failed_jobs=self._failed_jobs,
                max_group=self._max_group,
                poisoned=self._failure is not None,
            )

    @property
    def failure(self) -> str | None:
        """Why the store was poisoned, or None."""
        return self._failure

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Hold the writer (tests): jobs queue up and commit together when it resumes."""
        with self._cond:
            self._paused = True
        try:
            yield
        finally:
            with self._cond:
                self._paused = False
                self._cond.notify_all()

    def wait_queued(self, count: int) -> None:
        """Block until at least ``count`` jobs wait in the queue (tests, with paused())."""
        with self._cond:
            self._cond.wait_for(lambda: len(self._queue) >= count)

    def close(self) -> None:
        """Let queued jobs finish, stop the thread and close the write connection."""
        with self._cond:
            if self._closing:
                return
            self._closing = True
            self._paused = False
            self._cond.notify_all()
        self._thread.join()
        self._tx.close()

    # --- writer thread ---------------------------------------------------------------

    def _take(self) -> list[Job] | None:
        with self._cond:
            self._cond.wait_for(
                lambda: (
                    (self._queue and not self._paused)
                    or (self._closing and not self._queue)
                    or self._failure is not None
                )
            )
            if self._failure is not None or not self._queue:
                return None
            count = min(len(self._queue), MAX_GROUP_JOBS)
            return [self._queue.popleft() for _ in range(count)]

    def _run(self) -> None:
        group: list[Job] = []
        try:
            while (taken := self._take()) is not None:
                group = taken
                for job in group:
                    # From here on a caller's cancel() cannot stop the write: the job runs
                    # and only the waiting is abandoned (the outcome is then unknown to it).
                    job.future.set_running_or_notify_cancel()
                self._commit_group(group)
        except BaseException as exc:
            # A bug in the writer must not leave callers waiting forever.
            self._poison(group, exc, "the writer thread")
            raise
        finally:
            self._fail_queued()

    def _commit_group(self, group: list[Job]) -> None:
        tx = self._tx
        state = TxState(self._next_seq, self._last_crc, 0)
        try:
            state.epoch = tx.begin()
        except Exception as exc:  # noqa: BLE001 - the writer must answer every caller
            if tx.is_io_error(exc):
                self._poison(group, exc, "opening the transaction")
            else:
                # Nothing was written: the callers learn a plain, known failure.
                self._rollback_quietly()
                for job in group:
                    _settle(job, error=tx.translate(exc, "opening the transaction"))
            return
        outcomes: list[tuple[Job, Any, BaseException | None]] = []
        for job in group:
            saved = state.copy()
            try:
                tx.savepoint()
                result = job.fn(tx, state)
                if self.before_release is not None:
                    self.before_release(job)
                tx.release()
            except Exception as exc:  # noqa: BLE001 - only this job's caller gets it
                if tx.is_io_error(exc):
                    self._poison(group, exc, f"{job.kind}")
                    return
                try:
                    tx.rollback_to()
                except Exception as exc2:  # noqa: BLE001 - state unknown: stop writing
                    self._poison(group, exc2, f"rolling back a failed {job.kind}")
                    return
                state = saved
                failure: BaseException = (
                    exc if isinstance(exc, StoreError) else tx.translate(exc, job.kind)
                )
                outcomes.append((job, None, failure))
            else:
                outcomes.append((job, result, None))
        try:
            tx.commit()
        except Exception as exc:  # noqa: BLE001 - any COMMIT failure: outcome unknown
            # Unknown outcome: the commit may be on disk. Never retry it.
            self._poison(group, exc, "COMMIT")
            return
        with self._cond:
            self._next_seq, self._last_crc = state.next_seq, state.last_crc
            self._commits += 1
            self._max_group = max(self._max_group, len(group))
            for job, _result, err in outcomes:
                if err is not None:
                    self._failed_jobs += 1
                    continue
                self._jobs += 1
                if job.kind == "append":
                    self._appends += 1
                    self._records += len(job.records)
        for job, result, error in outcomes:
            _settle(job, result, error)

    def _rollback_quietly(self) -> None:
        try:
            self._tx.rollback()
        except Exception:  # noqa: BLE001 - best effort after a failure already reported
            return

    def _poison(self, group: list[Job], exc: BaseException, where: str) -> None:
        message = (
            f"write failed during {where} ({type(exc).__name__}: {exc}): outcome unknown "
            "(it may or may not be on disk); the store stopped accepting writes; reopen it "
            "to recover"
        )
        with self._cond:
            self._failure = message
            self._cond.notify_all()
        self._rollback_quietly()
        for job in group:
            err = StoreFailedError(message)
            err.__cause__ = exc
            _settle(job, error=err)

    def _fail_queued(self) -> None:
        with self._cond:
            leftover = list(self._queue)
            self._queue.clear()
            message = self._failure or "the store is closed"
        for job in leftover:
            cls = StoreFailedError if self._failure else StoreClosedError
            _settle(job, error=cls(message))


def _settle(job: Job, result: Any = None, error: BaseException | None = None) -> None:
    """Resolve a job's future unless it was already resolved or cancelled."""
    if job.future.done():
        return
    if error is not None:
        job.future.set_exception(error)
    else:
        job.future.set_result(result)


# --- the jobs every store submits ------------------------------------------------------


def append_fn(records: Sequence[NewRecord], epoch: int) -> Callable[[WriteTx, TxState], Any]:
    """The job body of ``append``: epoch check, seq numbers, chained crc, insert."""

    def fn(tx: WriteTx, state: TxState) -> AppendResult:
        if epoch != state.epoch:
            raise StaleEpochError(
                f"append with epoch {epoch} rejected: the session is at epoch {state.epoch}"
                " (another writer took over); nothing was written"
            )
        seq, crc, rows = state.next_seq, state.last_crc, []
        for rec in records:
            crc = chain_crc(
                crc,
                seq=seq,
                type=rec.type,
                version=rec.version,
                ts_ns=rec.ts_ns,
                epoch=epoch,
                payload=rec.payload,
            )
            rows.append(
                StoredRecord(seq, rec.type, rec.version, rec.ts_ns, epoch, rec.payload, crc)
            )
            seq += 1
        if rows:
            tx.insert_records(rows)
        first = state.next_seq
        state.next_seq, state.last_crc = seq, crc
        return AppendResult(first_seq=first, last_seq=seq - 1)

    return fn


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

"""Group commit: many callers' jobs become one transaction, committed in FIFO order.

Callers (threads or asyncio tasks) queue jobs. Exactly one thread at a time *leads*: it
takes every queued job (up to a cap), opens ONE transaction, reads the session's epoch
under the write lock, runs the jobs, commits once, and only then answers their callers.

Who leads: a blocking caller (``execute``, behind ``Store.append``) that finds nobody
leading commits its own job plus whatever queued meanwhile in its own thread, so an
uncontended append costs no thread handoff. Non-blocking ``submit`` (asyncio, the
session journal) and the jobs left behind when a leader is done go to the store's writer
thread. Commit order is always queue order, because only the leader pops the queue.

Inside a transaction, first the fast way: no savepoints; the appends of the group are
checked against the epoch read once, get their seqs and chained crcs, and go in as one
insert. If any write fails there, the transaction is rolled back and the group is run
again, carefully: one savepoint per job, so a bad job fails alone and each append stays
all-or-nothing (a lone job needs no second run: it just fails). A failure of COMMIT (or
an I/O error anywhere) has an unknown outcome: every waiting caller gets
``StoreFailedError``, the store is poisoned and never retries. Backends are reached
only through :class:`WriteTx`, so SQLite, PostgreSQL and memory share this logic.
"""

from __future__ import annotations

import collections
import contextlib
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any, Protocol

from tradeguard.errors import StoreClosedError, StoreError, StoreFailedError
from tradeguard.storage.records import StoredRecord
from tradeguard.storage.writejobs import (
    Job,
    JobBody,
    Outcome,
    StoreStats,
    TxState,
    WriteTx,
    answer,
    stage_append,
)

# Job, StoreStats, TxState and WriteTx live in writejobs; importing them from here
# keeps working.
__all__ = ["GroupCommitter", "Job", "MarkSink", "StoreStats", "TxState", "WriteTx"]

MAX_GROUP_JOBS = 1024
"""Cap on jobs per transaction, so one commit's latency stays bounded under load."""


class MarkSink(Protocol):
    """Where the durable high-water mark goes (the SQLite store's side file)."""

    def write(self, seq: int, epoch: int) -> None:
        """Make ``(seq, epoch)`` durable before returning."""

    def close(self) -> None:
        """Release the file."""


class _PoisonError(Exception):
    """Internal: the transaction's outcome became unknown at ``where``."""

    def __init__(self, cause: BaseException, where: str) -> None:
        super().__init__(where)
        self.cause = cause
        self.where = where


class _RedoError(Exception):
    """Internal: a write of the fast (savepoint-free) run failed; redo carefully."""

    def __init__(self, cause: Exception, job: Job) -> None:
        super().__init__(job.kind)
        self.cause = cause
        self.job = job


_REDO = object()
"""``_attempt`` result: roll back happened, run the group again one savepoint per job."""


class GroupCommitter:
    """The queue of one store's writes, its leader protocol and its writer thread."""

    def __init__(self, tx: WriteTx, *, next_seq: int, last_crc: int, name: str) -> None:
        self._tx = tx
        # Committed chain tip: advanced only after COMMIT returned.
        self._next_seq = next_seq
        self._last_crc = last_crc
        self._queue: collections.deque[Job] = collections.deque()
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)  # the writer thread waits for work
        self._idle = threading.Condition(self._lock)  # close()/paused() wait for no leader
        self._queued = threading.Condition(self._lock)  # wait_queued (tests) waits here
        self._leading = False
        self._closing = False
        self._paused = False
        self._failure: str | None = None
        self._commits = self._jobs = self._appends = self._records = 0
        self._failed_jobs = self._max_group = self._caller_commits = 0
        self._batched = self._fallbacks = 0
        self.before_release: Callable[[Job], None] | None = None
        """Test hook: runs after a job's writes, before its savepoint is released."""
        self.on_commit: Callable[[int], None] | None = None
        """Observer (the metrics): told how many records each COMMIT made durable, in
        the committing thread, just before its callers are answered. Must be quick and
        thread-safe; an exception from it is ignored."""
        self._marks: MarkSink | None = None
        self._mark = (0, 0)
        self._thread = threading.Thread(target=self._run, name=f"tradeguard-writer-{name}")
        self._thread.daemon = True
        self._thread.start()

    # --- caller side -----------------------------------------------------------------

    def _check_accepting(self) -> None:
        if self._failure is not None:
            raise StoreFailedError(self._failure)
        if self._closing:
            raise StoreClosedError("the store is closed")

    def submit(self, job: Job) -> Future[Any]:
        """Queue a job without blocking; its future resolves after the commit with it."""
        if job.future is None:
            raise TypeError("submit() needs a job with a future (blocking=False)")
        self.enqueue(job)
        return job.future

    def enqueue(self, job: Job) -> None:
        """Queue a non-blocking job (future or asyncio); the writer thread commits it."""
        with self._lock:
            self._check_accepting()
            self._queue.append(job)
            if not self._leading:
                self._work.notify()
            if self._paused:
                self._queued.notify_all()

    def execute(self, job: Job) -> Any:
        """Queue a blocking job and return its result once durable (or raise its error).

        If nobody is committing, this thread leads: it commits its own job together with
        everything queued before it, without waking the writer thread.
        """
        with self._lock:
            self._check_accepting()
            self._queue.append(job)
            if self._paused:
                self._queued.notify_all()
            lead = not (self._leading or self._paused)
            if lead:
                self._leading = True
            else:
                waiter = job.waiter = threading.Lock()
                waiter.acquire()
        if lead:
            self._lead(job)
        else:
            waiter.acquire()  # released by whoever settles the job
        if job.error is not None:
            raise job.error
        return job.result

    def run(self, kind: str, fn: JobBody) -> Any:
        """Run ``fn`` as a blocking job; return its result once durable."""
        return self.execute(Job(kind, fn, blocking=True))

    def stats(self) -> StoreStats:
        """Counters since the store was opened."""
        with self._lock:
            return StoreStats(
                commits=self._commits,
                jobs=self._jobs,
                appends=self._appends,
                records=self._records,
                failed_jobs=self._failed_jobs,
                max_group=self._max_group,
                poisoned=self._failure is not None,
                caller_commits=self._caller_commits,
                batched_groups=self._batched,
                fallback_groups=self._fallbacks,
            )

    def keep_marks(self, sink: MarkSink, seq: int, epoch: int) -> None:
        """From now on record the committed (last seq, epoch) in ``sink``: raised after
        COMMIT and before any caller is answered, lowered (quarantine) before COMMIT, so
        the durable mark never exceeds what is durable and never trails an
        acknowledgement. ``(seq, epoch)`` is what the sink holds now."""
        self._marks = sink
        self._mark = (seq, epoch)

    @property
    def failure(self) -> str | None:
        """Why the store was poisoned, or None."""
        return self._failure

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Hold all committing (tests): jobs queue up and commit together on resume."""
        with self._lock:
            self._idle.wait_for(lambda: not self._leading)
            self._paused = True
        try:
            yield
        finally:
            with self._lock:
                self._paused = False
                self._work.notify_all()

    def wait_queued(self, count: int) -> None:
        """Block until at least ``count`` jobs wait in the queue (only under paused())."""
        with self._lock:
            self._queued.wait_for(lambda: len(self._queue) >= count)

    def close(self) -> None:
        """Let queued jobs finish, stop the writer thread, close the write connection."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
            self._paused = False
            self._work.notify_all()
        self._thread.join()
        with self._lock:
            # After a failure the writer thread exits at once; a leader may still be
            # cleaning up on the connection.
            self._idle.wait_for(lambda: not self._leading)
        self._tx.close()
        if self._marks is not None:
            self._marks.close()

    # --- leading ---------------------------------------------------------------------

    def _take_locked(self) -> list[Job]:
        queue = self._queue
        count = min(len(queue), MAX_GROUP_JOBS)
        return [queue.popleft() for _ in range(count)]

    def _lead(self, own: Job) -> None:
        """Commit groups in this (caller's) thread until ``own`` is answered."""
        group: list[Job] = []
        try:
            while not own.settled:
                with self._lock:
                    if self._failure is not None:
                        break
                    group = self._take_locked()
                if not group:  # pragma: no cover - own is queued until taken
                    raise RuntimeError("leader found an empty queue before its own job")
                self._commit_group(group, by_caller=True)
        except BaseException as exc:
            # A bug while leading must not leave anybody waiting forever.
            self._poison(group, exc, "a committing caller")
            raise
        finally:
            with self._lock:
                self._leading = False
                # Jobs queued meanwhile (and close()) are the writer thread's now. Waking
                # it for nothing would cost the next caller a GIL handoff.
                if self._queue or self._closing:
                    self._work.notify()
                self._idle.notify_all()
            if self._failure is not None:
                self._fail_queued()

    def _writer_may_go(self) -> bool:
        if self._failure is not None:
            return True
        if self._leading:
            return False
        return (bool(self._queue) and not self._paused) or (self._closing and not self._queue)

    def _run(self) -> None:
        group: list[Job] = []
        try:
            while True:
                with self._lock:
                    self._work.wait_for(self._writer_may_go)
                    if self._failure is not None or not self._queue:
                        return
                    self._leading = True
                    group = self._take_locked()
                try:
                    self._commit_group(group, by_caller=False)
                finally:
                    with self._lock:
                        self._leading = False
                        self._idle.notify_all()
        except BaseException as exc:
            self._poison(group, exc, "the writer thread")
            raise
        finally:
            self._fail_queued()

    # --- one transaction -------------------------------------------------------------

    def _commit_group(self, group: list[Job], *, by_caller: bool) -> None:
        for job in group:
            if job.future is not None:
                # From here on a caller's cancel() cannot stop the write: the job runs
                # and only the waiting is abandoned (the outcome is then unknown to it).
                job.future.set_running_or_notify_cancel()
        attempt = self._attempt(group, by_caller, careful=False)
        if attempt is _REDO:
            self._fallbacks += 1
            attempt = self._attempt(group, by_caller, careful=True)
        if not isinstance(attempt, tuple):
            return  # every caller of the group was answered already
        outcomes, state = attempt
        mark = (state.next_seq - 1, state.epoch)
        marks = self._marks if mark != self._mark else None
        if marks is not None and mark[0] < self._mark[0]:
            # Lowered first: a crash before COMMIT leaves the mark below the journal.
            try:
                self._mark = (mark[0], min(mark[1], self._mark[1]))
                marks.write(*self._mark)
            except Exception as exc:  # noqa: BLE001 - the disk failed: stop writing
                self._poison(group, exc, "lowering the high-water mark")
                return
        try:
            self._tx.commit()
        except Exception as exc:  # noqa: BLE001 - any COMMIT failure: outcome unknown
            # Unknown outcome: the commit may be on disk. Never retry it.
            self._poison(group, exc, "COMMIT")
            return
        if marks is not None and mark != self._mark:
            try:
                marks.write(*mark)
            except Exception as exc:  # noqa: BLE001 - committed, but not provably so
                self._poison(group, exc, "recording the high-water mark after COMMIT")
                return
            self._mark = mark
        self._finish(outcomes, state, by_caller)

    def _attempt(
        self, group: list[Job], by_caller: bool, *, careful: bool
    ) -> tuple[list[Outcome], TxState] | object:
        """Run ``group`` in a new transaction, up to (not including) COMMIT.

        The fast way (``careful=False``) takes no savepoints: appends are combined into
        one insert. If any write fails there, the transaction is rolled back and
        ``_REDO`` returned, and the caller runs it again carefully: each job in its own
        savepoint, so only the bad job fails. A group of one needs no second run.
        Returns the outcomes and the new chain tip, ``_REDO``, or None once every caller
        was answered (poisoned store, failed BEGIN, failed single job).
        """
        tx = self._tx
        state = TxState(self._next_seq, self._last_crc, 0)
        try:
            state.epoch = tx.begin()
        except Exception as exc:  # noqa: BLE001 - the committer must answer every caller
            if tx.is_io_error(exc):
                self._poison(group, exc, "opening the transaction")
            else:
                # Nothing was written: the callers learn a plain, known failure.
                self._rollback_quietly()
                error = tx.translate(exc, "opening the transaction")
                self._finish([(job, None, error) for job in group], None, by_caller)
            return None
        outcomes: list[Outcome] = []
        try:
            if careful:
                for job in group:
                    self._run_in_savepoint(job, state, outcomes)
            else:
                self._run_fast(group, state, outcomes)
        except _PoisonError as poison:
            self._poison(group, poison.cause, poison.where)
            return None
        except _RedoError as redo:
            try:
                tx.rollback()
            except Exception as exc:  # noqa: BLE001 - state unknown: stop writing
                self._poison(group, exc, f"rolling back a failed {redo.job.kind}")
                return None
            if len(group) > 1:
                return _REDO
            failure = self._as_store_error(redo.cause, redo.job)
            self._finish([(redo.job, None, failure)], None, by_caller)
            return None
        return outcomes, state

    def _run_fast(self, group: list[Job], state: TxState, outcomes: list[Outcome]) -> None:
        """Every job without savepoints; each run of appends as one insert."""
        i, n = 0, len(group)
        while i < n:
            job = group[i]
            if job.fn is None:
                j = i + 1
                while j < n and group[j].fn is None:
                    j += 1
                self._append_run(group[i:j], state, outcomes)
                i = j
                continue
            try:
                result = job.fn(self._tx, state)
            except Exception as exc:
                raise self._fast_failure(exc, job) from exc
            self._after_write(job)
            outcomes.append((job, result, None))
            i += 1

    def _append_run(self, jobs: list[Job], state: TxState, outcomes: list[Outcome]) -> None:
        """Consecutive appends: each checked and staged alone, then ONE insert."""
        staged: list[Outcome] = []
        rows: list[StoredRecord] = []
        for job in jobs:
            try:
                staged.append((job, stage_append(job, state, rows), None))
            except Exception as exc:  # noqa: BLE001 - stale epoch or bad input: this job only
                staged.append((job, None, self._as_store_error(exc, job)))
        if len(jobs) > 1:
            self._batched += 1
        if rows:
            try:
                self._tx.insert_records(rows)
            except Exception as exc:
                raise self._fast_failure(exc, jobs[0]) from exc
        for outcome in staged:
            if outcome[2] is None:
                self._after_write(outcome[0])
        outcomes.extend(staged)

    def _after_write(self, job: Job) -> None:
        if self.before_release is not None:
            try:
                self.before_release(job)
            except Exception as exc:
                raise self._fast_failure(exc, job) from exc

    def _fast_failure(self, exc: Exception, job: Job) -> Exception:
        """What a failed write of the fast run means: unknown outcome, or redo."""
        if self._tx.is_io_error(exc):
            return _PoisonError(exc, job.kind)
        return _RedoError(exc, job)

    def _run_in_savepoint(self, job: Job, state: TxState, outcomes: list[Outcome]) -> None:
        tx = self._tx
        saved = state.copy()
        try:
            tx.savepoint()
            result = self._body(job, state)
            if self.before_release is not None:
                self.before_release(job)
            tx.release()
        except Exception as exc:  # only this job's caller gets it
            if tx.is_io_error(exc):
                raise _PoisonError(exc, job.kind) from exc
            try:
                tx.rollback_to()
            except Exception as exc2:  # state unknown: stop writing
                raise _PoisonError(exc2, f"rolling back a failed {job.kind}") from exc2
            state.restore(saved)
            outcomes.append((job, None, self._as_store_error(exc, job)))
        else:
            outcomes.append((job, result, None))

    def _body(self, job: Job, state: TxState) -> Any:
        if job.fn is not None:
            return job.fn(self._tx, state)
        rows: list[StoredRecord] = []
        result = stage_append(job, state, rows)
        if rows:
            self._tx.insert_records(rows)
        return result

    def _as_store_error(self, exc: Exception, job: Job) -> BaseException:
        return exc if isinstance(exc, StoreError) else self._tx.translate(exc, job.kind)

    # --- answering callers -----------------------------------------------------------

    def _finish(self, outcomes: list[Outcome], state: TxState | None, by_caller: bool) -> None:
        """Count and answer a group; ``state`` is the committed tip (None: nothing was)."""
        with self._lock:
            if state is not None:
                self._next_seq, self._last_crc = state.next_seq, state.last_crc
                self._commits += 1
                self._caller_commits += by_caller
                self._max_group = max(self._max_group, len(outcomes))
            for job, _result, error in outcomes:
                if error is not None:
                    self._failed_jobs += 1
                else:
                    self._jobs += 1
                    if job.fn is None:
                        self._appends += 1
                        self._records += len(job.records)
        observer = self.on_commit
        if observer is not None and state is not None:
            # Before the answers: whoever hears "durable" finds the commit counted.
            records = sum(len(job.records) for job, _r, error in outcomes
                          if error is None and job.fn is None)
            if records:
                with contextlib.suppress(Exception):
                    observer(records)
        # Answered outside our lock: a woken caller that appends again at once must not
        # block on it (each extra block is a context switch), and future callbacks may
        # submit again.
        answer(outcomes)

    def _settle_all(self, jobs: list[Job], make_error: Callable[[], BaseException]) -> None:
        answer([(job, None, make_error()) for job in jobs])

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
        with self._lock:
            self._failure = message
            self._work.notify_all()
        self._rollback_quietly()

        def failed() -> BaseException:
            err = StoreFailedError(message)
            err.__cause__ = exc
            return err

        self._settle_all(group, failed)

    def _fail_queued(self) -> None:
        with self._lock:
            leftover = list(self._queue)
            self._queue.clear()
            failure = self._failure
        if failure is None:
            self._settle_all(leftover, lambda: StoreClosedError("the store is closed"))
        else:
            self._settle_all(leftover, lambda: StoreFailedError(failure))

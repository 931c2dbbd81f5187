"""The runtime's job table: every background job's last run, success, error and duration.

A job is anything the running service does again and again: poll fills, reconcile,
resolve UNKNOWN orders, tick the strategy, take backups (and whatever the runtime is
given with ``Runtime.add_job``). Each pass reports ``started`` then ``finished``; the
table keeps one :class:`JobStatus` per job, which health checks, metrics and the
dashboard read (``JobTable.status``, ``JobTable.snapshot``). Nothing here does I/O or
sleeps; the clocks are injected.

:func:`supervise` runs a job every ``interval_s`` until told to stop: a pass that raises
is recorded and logged and the job goes on (only cancellation ends it early).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import msgspec

from tradeguard.logs import get_logger

__all__ = ["JobFn", "JobStatus", "JobTable", "supervise"]

_log = get_logger("tradeguard.app.jobs")

JobFn = Callable[[], Awaitable[object]]
"""One pass of a job (its return value is ignored)."""


class JobStatus(msgspec.Struct, frozen=True, kw_only=True):
    """What one job did last. Times are wall-clock integer ns (UTC); None: never yet."""

    name: str
    runs: int = 0
    """Passes finished (successful or not)."""
    failures: int = 0
    """Passes that ended with an error."""
    running: bool = False
    """A pass is in progress now."""
    last_run_ns: int | None = None
    """When the last pass started."""
    last_success_ns: int | None = None
    """When the last successful pass finished."""
    last_error: str | None = None
    """``Type: message`` of the last failed pass (kept after later successes)."""
    last_error_ns: int | None = None
    """When the last failed pass finished."""
    last_duration_s: float | None = None
    """How long the last finished pass took (monotonic clock)."""


class JobTable:
    """One :class:`JobStatus` per job name; the session and the service report into it.

    Satisfies the session's ``JobRecorder`` port. Only the event loop's thread writes.
    """

    def __init__(
        self,
        *,
        wall_ns: Callable[[], int] = time.time_ns,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._wall_ns = wall_ns
        self._monotonic = monotonic
        self._status: dict[str, JobStatus] = {}
        self._started_at: dict[str, float] = {}

    def register(self, name: str) -> None:
        """Make ``name`` known before its first pass (listed as never run)."""
        self._status.setdefault(name, JobStatus(name=name))

    def started(self, name: str) -> None:
        """A pass of ``name`` begins now."""
        self._started_at[name] = self._monotonic()
        old = self._status.get(name) or JobStatus(name=name)
        self._status[name] = msgspec.structs.replace(
            old, running=True, last_run_ns=self._wall_ns()
        )

    def finished(self, name: str, *, error: BaseException | None = None) -> None:
        """The pass of ``name`` ended: successfully (``error`` None) or with ``error``."""
        began = self._started_at.pop(name, None)
        duration = None if began is None else max(self._monotonic() - began, 0.0)
        old = self._status.get(name) or JobStatus(name=name)
        now = self._wall_ns()
        if error is None:
            self._status[name] = msgspec.structs.replace(
                old, runs=old.runs + 1, running=False, last_success_ns=now,
                last_duration_s=duration,
            )
        else:
            self._status[name] = msgspec.structs.replace(
                old, runs=old.runs + 1, failures=old.failures + 1, running=False,
                last_error=f"{type(error).__name__}: {error}", last_error_ns=now,
                last_duration_s=duration,
            )

    def status(self, name: str) -> JobStatus | None:
        """The status of job ``name`` (None: no such job registered or run)."""
        return self._status.get(name)

    def snapshot(self) -> dict[str, JobStatus]:
        """Every job's status now, by name (a copy; the values are immutable)."""
        return dict(sorted(self._status.items()))


async def supervise(
    table: JobTable,
    name: str,
    run: JobFn,
    *,
    interval_s: float,
    stopping: asyncio.Event,
    first_after_s: float | None = None,
) -> None:
    """Run ``run`` every ``interval_s`` until ``stopping`` is set, recording each pass.

    The first pass runs after ``first_after_s`` (default: one interval). An exception
    in a pass is recorded and logged and the job goes on; a stop request lets the pass
    in progress finish.
    """
    table.register(name)
    wait_s = interval_s if first_after_s is None else first_after_s
    while True:
        with_stop = asyncio.ensure_future(stopping.wait())
        try:
            await asyncio.wait([with_stop], timeout=wait_s)
            wait_s = interval_s
        finally:
            with_stop.cancel()
        if stopping.is_set():
            return
        table.started(name)
        try:
            await run()
        except Exception as exc:  # noqa: BLE001 - one failed pass must not end the job
            table.finished(name, error=exc)
            _log.error("job failed", job=name, error=str(exc), error_type=type(exc).__name__)
        else:
            table.finished(name)

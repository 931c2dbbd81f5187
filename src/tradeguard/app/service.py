"""The durable core a running session stands on: store, recovery, journal, backups.

``LocalService.start`` opens the store, runs local recovery, takes over as the writer
(advancing the epoch fences any older writer), writes the run marker and a
``SessionStarted`` event, and starts the periodic backup task. ``close`` writes
``SessionStopped``, a final snapshot, and closes the run marker: a clean shutdown.

Taking over refuses while another live process runs the session (``ensure_not_running``):
no command may silently fence a running writer. A service that finds itself fenced
anyway, or whose store failed, stops writing for good and says so once, loudly
(``failure``, ``wait_failed``); whoever runs it must stop trading and exit non-zero.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from tradeguard.config import Config
from tradeguard.domain.events import AnyEvent, SessionStarted, SessionStopped
from tradeguard.domain.state import SessionState
from tradeguard.errors import StaleEpochError, StoreError, StoreNotFoundError
from tradeguard.health.sensors import LatencyWindow
from tradeguard.logs import get_logger
from tradeguard.recovery.manager import ProgressFn, RecoveryReport, recover
from tradeguard.session.ports import JobRecorder, describe_store_failure
from tradeguard.storage import open_store
from tradeguard.storage.backup import remove_stale_partials, take_backup
from tradeguard.storage.base import Store
from tradeguard.storage.journal import SessionJournal, SnapshotPolicy
from tradeguard.storage.records import AppendResult

__all__ = [
    "LocalService",
    "describe_store_failure",
    "ensure_not_running",
    "ensure_store_not_running",
]

_log = get_logger("tradeguard.service")

# How often a running service checks that it still holds the writer's epoch: a fenced
# session that happens not to write for a while must still notice and stop.
LEASE_CHECK_INTERVAL_S = 0.5


def ensure_not_running(store: Store, *, what: str) -> None:
    """Refuse ``what`` while another process on this host runs the session.

    A run whose marker is still open and whose process is alive holds the writer's
    epoch; taking over would fence it mid-trade. A marker left open by a dead process
    is an unclean shutdown, which recovery handles.
    """
    run = store.last_run()
    if run is None or run.clean or run.hostname != socket.gethostname() or run.pid == os.getpid():
        return
    try:
        os.kill(run.pid, 0)
    except ProcessLookupError:
        return
    except PermissionError:
        pass  # alive, owned by another user
    raise StoreError(
        f"{what} refused: the session is running (run {run.run_id}, pid {run.pid} on "
        f"{run.hostname}); it holds the store as its writer and taking over would fence "
        "it mid-trade; stop it first (Ctrl-C or SIGTERM), then try again"
    )


def ensure_store_not_running(store_url: str, *, session_id: str, what: str) -> None:
    """``ensure_not_running`` on the store at ``store_url``, opened read-only.

    For commands that take over the session: call it before anything else (the
    exchange, recovery), so a refused command touches nothing. No store: nothing runs.
    """
    try:
        store = open_store(store_url, session_id=session_id, readonly=True)
    except StoreNotFoundError:
        return
    with store:
        ensure_not_running(store, what=what)


class LocalService:
    """One running session's durable core. Use ``await LocalService.start(...)``."""

    def __init__(
        self,
        *,
        config: Config,
        store: Store,
        journal: SessionJournal,
        recovery: RecoveryReport,
        run_id: str,
        backup_dir: Path,
        jobs: JobRecorder | None = None,
    ) -> None:
        self.config = config
        self.jobs = jobs
        self.store = store
        self.journal = journal
        self.recovery = recovery
        self.run_id = run_id
        self.backup_dir = backup_dir
        self.backups_taken = 0
        self.last_backup: Path | None = None
        self._backup_task: asyncio.Task[None] | None = None
        self._lease_task: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None
        self._failed = asyncio.Event()
        self._closed = False
        self.append_latency = LatencyWindow()
        """How long recent appends took from the call until durable (health reads it)."""
        self.append_observers: list[Callable[[float], None]] = []
        """Told each durable append's latency in seconds, on the loop (the metrics)."""

    @property
    def state(self) -> SessionState:
        """The live session state (change it only through ``append``)."""
        return self.journal.state

    @classmethod
    async def start(
        cls,
        config: Config,
        store_url: str,
        *,
        backup_dir: Path | None = None,
        accept_loss: bool = False,
        progress: ProgressFn | None = None,
        purpose: str = "",
        run_kind: str = "",
        jobs: JobRecorder | None = None,
    ) -> LocalService:
        """Open, recover and take over the session in ``store_url``.

        Raises ``StoreError`` (writing nothing) while another live process runs it;
        ``purpose`` names what was refused (default: taking over the session).
        ``run_kind`` names a maintenance command (``resolve``, ``reconcile``): its run
        id starts with it, so ``status`` does not take it for a trading run. ``jobs``
        hears every pass of the periodic backup (job ``backup``).
        """
        store = await asyncio.to_thread(
            open_store,
            store_url,
            session_id=config.storage.session_id,
            create=True,
            synchronous=config.storage.synchronous,
            accept_loss=accept_loss,
        )
        try:
            # Before recovery writes anything (quarantine, markers) or the epoch moves.
            await asyncio.to_thread(
                ensure_not_running,
                store,
                what=purpose or f"taking over session {config.storage.session_id!r}",
            )
            state, report = await asyncio.to_thread(
                recover,
                store,
                accept_loss=accept_loss,
                snapshots_to_keep=config.storage.snapshots_to_keep,
                progress=progress,
            )
            run_id = f"{run_kind}-{uuid.uuid4().hex[:12]}" if run_kind else uuid.uuid4().hex[:16]
            epoch = await asyncio.to_thread(store.advance_epoch)
            await asyncio.to_thread(store.begin_run, run_id)
        except BaseException:
            store.close()
            raise
        journal = SessionJournal(
            store,
            state,
            epoch=epoch,
            snapshot_policy=SnapshotPolicy(
                every_events=config.storage.snapshot_every_events,
                every_seconds=config.storage.snapshot_every_seconds,
                keep=config.storage.snapshots_to_keep,
            ),
        )
        service = cls(
            config=config,
            store=store,
            journal=journal,
            recovery=report,
            run_id=run_id,
            backup_dir=backup_dir or config.backup_dir,
            jobs=jobs,
        )
        # A backup killed mid-write left its .partial behind; nothing reads it.
        await asyncio.to_thread(remove_stale_partials, service.backup_dir)
        await journal.append([
            SessionStarted(
                ts_ns=time.time_ns(), session_id=config.storage.session_id, run_id=run_id
            )
        ])
        service._backup_task = asyncio.create_task(service._backup_loop())
        service._lease_task = asyncio.create_task(service._lease_loop())
        _log.info(
            "session started",
            run_id=run_id,
            epoch=epoch,
            pid=os.getpid(),
            host=socket.gethostname(),
            last_seq=state.last_seq,
            unclean_shutdown=report.unclean_shutdown,
        )
        return service

    async def append(self, events: list[AnyEvent]) -> AppendResult:
        """Journal ``events`` durably and apply them to the state."""
        began = time.monotonic()
        try:
            result = await self.journal.append(events)
        except StoreError:
            self.check_failure()
            raise
        self._durable(time.monotonic() - began)
        return result

    def append_nowait(self, events: list[AnyEvent]) -> asyncio.Future[AppendResult]:
        """Apply and queue ``events`` now; the future resolves once they are durable."""
        began = time.monotonic()
        future = self.journal.append_nowait(events)

        def durable(done: asyncio.Future[AppendResult]) -> None:
            if not done.cancelled() and done.exception() is None:
                self._durable(time.monotonic() - began)

        future.add_done_callback(durable)
        return future

    def _durable(self, seconds: float) -> None:
        self.append_latency.record(seconds)
        for observer in self.append_observers:
            observer(seconds)

    @property
    def next_seq(self) -> int:
        """The seq the next appended event will get (client order ids derive from it)."""
        return self.journal.next_seq

    def first_event_ts_ns(self) -> int | None:
        """Time of the store's first journaled event (None: an empty store)."""
        first = next(iter(self.store.read(after_seq=0, limit=1)), None)
        return None if first is None else first.ts_ns

    @property
    def failure(self) -> BaseException | None:
        """Why this service stopped writing for good (store failed, fenced), or None."""
        return self.check_failure()

    def check_failure(self) -> BaseException | None:
        """Notice a journal failure (logged critical once); returns it, or None."""
        if self._failure is None and self.journal.failed is not None:
            self._stop_writing(self.journal.failed)
        return self._failure

    async def wait_failed(self) -> BaseException:
        """Wait until the service stops writing for good; returns why."""
        await self._failed.wait()
        assert self._failure is not None
        return self._failure

    def _stop_writing(self, exc: BaseException) -> None:
        if self._failure is not None:
            return
        self._failure = exc
        self._failed.set()
        _log.critical(
            "session stopped trading: " + describe_store_failure(exc),
            run_id=self.run_id,
            error_type=type(exc).__name__,
        )

    async def _lease_loop(self) -> None:
        """Notice being fenced (or a failed journal) even while nothing is written."""
        warned = False
        while self._failure is None:
            await asyncio.sleep(LEASE_CHECK_INTERVAL_S)
            if self.check_failure() is not None:
                return
            try:
                epoch = await asyncio.to_thread(self.store.current_epoch)
            except StoreError as exc:  # a read hiccup is not a failure; the next append says
                if not warned:
                    _log.warning("lease check could not read the epoch", error=str(exc))
                    warned = True
                continue
            if epoch != self.journal.epoch:
                self._stop_writing(
                    StaleEpochError(
                        f"this run holds epoch {self.journal.epoch}, the store is at epoch "
                        f"{epoch}"
                    )
                )

    async def backup_now(self) -> Path:
        """Take an online backup now (off the event loop)."""
        path = await asyncio.to_thread(
            take_backup, self.store, self.backup_dir, keep=self.config.storage.backups_to_keep
        )
        self.backups_taken += 1
        self.last_backup = path
        _log.info("backup taken", path=str(path))
        return path

    async def _backup_loop(self) -> None:
        interval = self.config.storage.backup_every_seconds
        while True:
            await asyncio.sleep(interval)
            if self.jobs is not None:
                self.jobs.started("backup")
            try:
                await self.backup_now()
            except Exception as exc:  # noqa: BLE001 - a failed backup must not stop trading
                _log.error("backup failed", error=str(exc), error_type=type(exc).__name__)
                if self.jobs is not None:
                    self.jobs.finished("backup", error=exc)
            else:
                if self.jobs is not None:
                    self.jobs.finished("backup")

    async def close(self) -> None:
        """Clean shutdown: SessionStopped, final snapshot, close the run marker."""
        if self._closed:
            return
        self._closed = True
        tasks = [t for t in (self._backup_task, self._lease_task) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        try:
            if self.check_failure() is None:
                stopped = SessionStopped(ts_ns=time.time_ns(), run_id=self.run_id)
                await self.journal.append([stopped])
                await self.journal.snapshot()
                await self.journal.close()
                await asyncio.to_thread(self.store.end_run, self.run_id)
                _log.info("session stopped cleanly", run_id=self.run_id,
                          last_seq=self.state.last_seq)
            else:
                # Nothing more is written: a fenced run must not touch what the new
                # writer owns, a failed store takes no more writes.
                _log.error("session stopped after a store failure or fencing; not a clean "
                           "shutdown", run_id=self.run_id)
        finally:
            await asyncio.to_thread(self.store.close)

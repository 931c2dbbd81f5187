"""The durable core a running session stands on: store, recovery, journal, backups.

``LocalService.start`` opens the store, runs local recovery, takes over as the writer
(advancing the epoch fences any older writer), writes the run marker and a
``SessionStarted`` event, and starts the periodic backup task. ``close`` writes
``SessionStopped``, a final snapshot, and closes the run marker: a clean shutdown.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from pathlib import Path

from tradeguard.config import Config
from tradeguard.domain.events import AnyEvent, SessionStarted, SessionStopped
from tradeguard.domain.state import SessionState
from tradeguard.errors import StoreError
from tradeguard.logs import get_logger
from tradeguard.recovery.manager import ProgressFn, RecoveryReport, recover
from tradeguard.storage import open_store
from tradeguard.storage.backup import take_backup
from tradeguard.storage.base import Store
from tradeguard.storage.journal import SessionJournal, SnapshotPolicy
from tradeguard.storage.records import AppendResult

__all__ = ["LocalService", "ensure_not_running"]

_log = get_logger("tradeguard.service")


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
        f"{run.hostname}); stop it first (Ctrl-C or SIGTERM), then try again"
    )


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
    ) -> None:
        self.config = config
        self.store = store
        self.journal = journal
        self.recovery = recovery
        self.run_id = run_id
        self.backup_dir = backup_dir
        self.backups_taken = 0
        self.last_backup: Path | None = None
        self._backup_task: asyncio.Task[None] | None = None
        self._closed = False

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
    ) -> LocalService:
        """Open, recover and take over the session in ``store_url``."""
        store = await asyncio.to_thread(
            open_store,
            store_url,
            session_id=config.storage.session_id,
            create=True,
            synchronous=config.storage.synchronous,
        )
        try:
            state, report = await asyncio.to_thread(
                recover,
                store,
                accept_loss=accept_loss,
                snapshots_to_keep=config.storage.snapshots_to_keep,
                progress=progress,
            )
            run_id = uuid.uuid4().hex[:16]
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
        )
        await journal.append([
            SessionStarted(
                ts_ns=time.time_ns(), session_id=config.storage.session_id, run_id=run_id
            )
        ])
        service._backup_task = asyncio.create_task(service._backup_loop())
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
        return await self.journal.append(events)

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
            try:
                await self.backup_now()
            except Exception as exc:  # noqa: BLE001 - a failed backup must not stop trading
                _log.error("backup failed", error=str(exc), error_type=type(exc).__name__)

    async def close(self) -> None:
        """Clean shutdown: SessionStopped, final snapshot, close the run marker."""
        if self._closed:
            return
        self._closed = True
        if self._backup_task is not None:
            self._backup_task.cancel()
            await asyncio.gather(self._backup_task, return_exceptions=True)
        try:
            if self.journal.failed is None:
                stopped = SessionStopped(ts_ns=time.time_ns(), run_id=self.run_id)
                await self.journal.append([stopped])
                await self.journal.snapshot()
                await self.journal.close()
                await asyncio.to_thread(self.store.end_run, self.run_id)
                _log.info("session stopped cleanly", run_id=self.run_id,
                          last_seq=self.state.last_seq)
            else:
                _log.error("session stopped after a store failure; next start recovers",
                           run_id=self.run_id)
        finally:
            await asyncio.to_thread(self.store.close)

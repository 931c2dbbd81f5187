"""The runtime on the built-in simulator and a real SQLite store: jobs, signals, fencing."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from tradeguard.app.jobs import JobTable
from tradeguard.app.runtime import EXIT_FAILED, EXIT_OK, SESSION_JOBS, Runtime
from tradeguard.config import Config, ReconcileSettings, StorageSettings
from tradeguard.errors import StaleEpochError
from tradeguard.health.checks import HealthConfig
from tradeguard.session import SessionSettings
from tradeguard.storage import open_store
from tradeguard.web.config import HttpSettings

FAST = SessionSettings(poll_interval_seconds=0.1, tick_interval_seconds=0.1)


def _config(tmp_path: Path, *, backup_every_seconds: float = 86_400.0) -> Config:
    return Config(
        storage=StorageSettings(
            url=f"sqlite:///{tmp_path / 'data'}",
            backup_every_seconds=backup_every_seconds,
            backup_dir=str(tmp_path / "backups"),
        ),
        reconcile=ReconcileSettings(interval_seconds=0.2),
        # The health job's first round comes after one interval (30 s by default: as long
        # as _until waits, so "every job ran" only just made it).
        health=HealthConfig(interval_seconds=0.2),
        # The dashboard runs through the whole lifecycle here, on a free port.
        http=HttpSettings(port=0),
    )


async def _until(condition: Callable[[], bool], what: str) -> None:
    """Wait for ``condition`` (a generous bound only so a broken build fails, not hangs)."""
    for _ in range(600):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


async def test_every_background_job_records_its_passes(tmp_path: Path) -> None:
    config = _config(tmp_path, backup_every_seconds=0.2)
    async with Runtime(config, config.storage.url, settings=FAST) as runtime:
        assert set(runtime.job_statuses()) == set(SESSION_JOBS)
        assert runtime.where.startswith("built-in simulator at http://127.0.0.1:")

        def all_ran() -> bool:
            return all((s.last_success_ns or 0) > 0 for s in runtime.job_statuses().values())

        await _until(all_ran, "every job finished a pass")
        for status in runtime.job_statuses().values():
            assert status.runs >= 1, status
            assert status.failures == 0, status
            assert status.last_error is None, status
            assert status.last_run_ns is not None
            assert status.last_success_ns is not None
            if not status.running:  # a pass in progress started after the last success
                assert status.last_success_ns >= status.last_run_ns
            assert status.last_duration_s is not None
            assert status.last_duration_s >= 0
        assert runtime.service.backups_taken >= 1  # the backup job really took one
        runtime.request_stop()
        await runtime.wait()
    assert runtime.exit_code == EXIT_OK
    runtime.raise_for_failure()  # a clean stop raises nothing
    assert runtime.service.state.last_seq > 0


async def test_an_added_job_that_fails_is_recorded_and_keeps_running(tmp_path: Path) -> None:
    config = _config(tmp_path)
    runtime = Runtime(config, config.storage.url, settings=FAST)
    calls: list[int] = []

    async def flaky() -> None:
        calls.append(1)
        if len(calls) % 2:
            raise OSError("disk gone away")

    runtime.add_job("flaky", flaky, interval_s=0.05)
    with pytest.raises(ValueError, match="'flaky' already exists"):
        runtime.add_job("flaky", flaky, interval_s=1.0)
    with pytest.raises(ValueError, match="'reconcile' already exists"):
        runtime.add_job("reconcile", flaky, interval_s=1.0)
    async with runtime:
        def failed_then_succeeded() -> bool:
            s = runtime.job_status("flaky")
            return s is not None and s.failures >= 1 and s.last_success_ns is not None

        await _until(failed_then_succeeded, "the flaky job failed once and then succeeded")
        status = runtime.job_status("flaky")
        assert status is not None
        assert status.last_error == "OSError: disk gone away"
        assert status.last_error_ns is not None
        assert runtime.session.failure is None  # a failing job never reaches the session
        runtime.request_stop()
    assert runtime.exit_code == EXIT_OK


async def test_sigterm_stops_the_service_cleanly(tmp_path: Path) -> None:
    config = _config(tmp_path)
    async with Runtime(config, config.storage.url, settings=FAST) as runtime:
        waiting = asyncio.create_task(runtime.wait())
        os.kill(os.getpid(), signal.SIGTERM)  # a real signal, handled by the runtime
        await asyncio.wait_for(waiting, 30)
        assert runtime.stop_requested
    assert runtime.stop_requested  # still true after the clean stop
    assert runtime.exit_code == EXIT_OK
    # The handlers are gone again: the default SIGTERM action is back.
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    store = open_store(config.storage.url, session_id=config.storage.session_id,
                       readonly=True)
    with store:
        last = store.last_run()
    assert last is not None
    assert last.clean


async def test_a_fenced_run_stops_with_a_nonzero_exit_code(tmp_path: Path) -> None:
    config = _config(tmp_path)
    async with Runtime(config, config.storage.url, settings=FAST) as runtime:
        # Another writer takes over the store (what a second instance would do).
        other = open_store(config.storage.url, session_id=config.storage.session_id)
        with other:
            other.advance_epoch()
        await runtime.wait()  # returns by itself: the session stopped for good
        assert not runtime.stop_requested
    assert isinstance(runtime.failure, StaleEpochError)
    assert runtime.exit_code == EXIT_FAILED
    with pytest.raises(StaleEpochError, match="fenced: another writer took over"):
        runtime.raise_for_failure()


def test_the_job_table_keeps_the_last_error_after_a_success() -> None:
    ticks = iter(range(0, 100, 2))
    table = JobTable(wall_ns=lambda: 1_000, monotonic=lambda: float(next(ticks)))
    table.started("backup")
    running = table.status("backup")
    assert running is not None
    assert running.running
    table.finished("backup", error=RuntimeError("no space"))
    table.started("backup")
    table.finished("backup")
    status = table.status("backup")
    assert status is not None
    assert (status.runs, status.failures, status.running) == (2, 1, False)
    assert status.last_error == "RuntimeError: no space"
    assert status.last_duration_s == 2.0
    assert table.status("never") is None

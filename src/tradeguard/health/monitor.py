"""One health round: gather the readings, judge them, report.

``HealthReport`` is what ``tradeguard health`` prints and what the service's periodic
job will journal and alert on. ``store_round`` is the one-off round against a store at
rest (or beside a running session): it opens nothing for writing.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from tradeguard.exchange.gateway import ExchangeGateway
from tradeguard.health.checks import Check, HealthConfig, Readings, Status, run_checks, worst
from tradeguard.health.readings import (
    PROCESS_CHECKS,
    BackupVerifier,
    ProcessVitals,
    merge,
    read_disk,
    read_exchange,
    read_session,
    read_store,
)
from tradeguard.storage.base import Store

__all__ = ["EXCHANGE_CHECKS", "SERVICE_ONLY_CHECKS", "HealthReport", "report_of", "store_round"]

EXCHANGE_CHECKS = frozenset(
    {"exchange_reachable", "exchange_rtt_seconds", "exchange_clock_skew_ms"}
)
"""Checks that need an exchange (left out when none is given)."""

SERVICE_ONLY_CHECKS = frozenset(
    {"journal_append_p99_seconds", "event_loop_lag_seconds", "store_writable"}
)
"""Facts only the running service knows (its journal's latency, its event loop, whether
its own writer is poisoned or fenced); a one-off round from outside leaves them out."""


class HealthReport(msgspec.Struct, frozen=True, kw_only=True):
    """One round's result: ``status`` is the worst of ``checks``; ``ts_ns`` when judged."""

    status: Status
    ts_ns: int
    checks: tuple[Check, ...]


def report_of(readings: Readings, thresholds: HealthConfig, ts_now_ns: int) -> HealthReport:
    """Judge ``readings`` into a report."""
    checks = run_checks(readings, thresholds, ts_now_ns)
    return HealthReport(status=worst(checks), ts_ns=ts_now_ns, checks=checks)


def running_pid(store: Store) -> int | None:
    """The pid of the session's trading process when it runs on this host, else None."""
    run = store.last_run()
    if run is None or run.stopped_ns is not None or run.hostname != socket.gethostname():
        return None
    try:
        os.kill(run.pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, another user's
    return run.pid


async def store_round(
    store: Store,
    *,
    data_dir: Path | None,
    backup_dir: Path | None,
    thresholds: HealthConfig,
    gateway: ExchangeGateway | None = None,
    pid: int | None = None,
    clock_ns: Callable[[], int] = time.time_ns,
) -> HealthReport:
    """One round from outside the service: the store read-only (recovered in memory,
    nothing written), the disk of ``data_dir``, the vitals of process ``pid`` (default:
    the session's running process on this host; none running: vitals left out), and
    the exchange when ``gateway`` is given."""
    import asyncio

    from tradeguard.recovery.manager import recover

    parts: list[dict[str, Any]] = []
    skip = set(SERVICE_ONLY_CHECKS)
    state, _ = await asyncio.to_thread(recover, store, write=False)
    parts.append(read_session(state))
    parts.append(await asyncio.to_thread(read_store, store, backup_dir, verifier=BackupVerifier()))
    if data_dir is not None:
        parts.append(await asyncio.to_thread(read_disk, data_dir))
    else:
        skip |= {"disk_free_bytes", "disk_free_percent"}
    watched = pid if pid is not None else running_pid(store)
    if watched is None:
        skip |= PROCESS_CHECKS
    else:
        parts.append(await asyncio.to_thread(_vitals, watched))
    if gateway is None:
        skip |= EXCHANGE_CHECKS
    else:
        parts.append(await read_exchange(gateway, clock_ns=clock_ns))
    return report_of(merge(*parts, not_applicable=frozenset(skip)), thresholds, clock_ns())


def _vitals(pid: int) -> dict[str, Any]:
    import psutil

    try:
        return ProcessVitals(pid).sample()
    except psutil.Error as exc:
        reason = f"process {pid}: {type(exc).__name__}: {exc}"
        names = ("rss_bytes", "cpu_percent", "open_fds", "threads")
        return {"unread": dict.fromkeys(names, reason)}

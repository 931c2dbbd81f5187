"""The adapter that gathers a health round's readings: process, disk, store, exchange.

Thin on purpose: each reader asks one source and fills the ``Readings`` fields it
knows; anything it could not read stays ``None`` with the reason in ``unread`` (the
checks then report it as not checked). psutil and the store code are imported inside
the functions that need them, so importing this module costs nothing at start-up.
"""

from __future__ import annotations

import calendar
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from tradeguard.domain.enums import FlagSeverity, OrderStatus
from tradeguard.domain.state import SessionState
from tradeguard.errors import TradeguardError
from tradeguard.exchange.gateway import ExchangeGateway
from tradeguard.health.checks import Readings
from tradeguard.storage.base import Store

__all__ = [
    "PROCESS_CHECKS",
    "BackupVerifier",
    "ProcessVitals",
    "backup_time_ns",
    "merge",
    "read_disk",
    "read_exchange",
    "read_session",
    "read_store",
]

PROCESS_CHECKS = frozenset({"rss_bytes", "cpu_percent", "open_fds_ratio", "threads"})
"""Checks read from a process (left out when no process is watched)."""

_RECONCILE_SCAN_PAGE = 2_000
_RECONCILE_SCAN_MAX = 200_000  # records looked back through for the last report


def merge(*parts: dict[str, Any], not_applicable: frozenset[str] = frozenset()) -> Readings:
    """One ``Readings`` from the readers' partial dicts (later ones win; ``unread``
    reasons are combined)."""
    fields: dict[str, Any] = {}
    unread: dict[str, str] = {}
    for part in parts:
        unread.update(part.get("unread", {}))
        fields.update({k: v for k, v in part.items() if k != "unread"})
    return Readings(**fields, unread=unread, not_applicable=not_applicable)


class ProcessVitals:
    """RSS, CPU, open fds against the soft limit, and threads of one process (psutil).

    Keep one per watched process: CPU percent is measured between two samples, so the
    first ``sample`` waits ``first_cpu_interval_seconds`` to have an interval.
    """

    def __init__(self, pid: int | None = None, *, first_cpu_interval_seconds: float = 0.2) -> None:
        import psutil

        self.pid = os.getpid() if pid is None else pid
        self._process = psutil.Process(self.pid)
        self._first_interval = first_cpu_interval_seconds
        self._primed = False

    def sample(self) -> dict[str, Any]:
        """Read the vitals; a value that cannot be read is left out with its reason."""
        import psutil

        found: dict[str, Any] = {}
        unread: dict[str, str] = {}
        proc = self._process

        def read(name: str, fn: Callable[[], Any]) -> None:
            try:
                found[name] = fn()
            except (psutil.Error, OSError, ValueError) as exc:
                unread[name] = f"{name} of pid {self.pid}: {type(exc).__name__}: {exc}"

        if not self._primed:
            read("cpu_percent", lambda: proc.cpu_percent(interval=self._first_interval))
            self._primed = True
        else:
            read("cpu_percent", lambda: proc.cpu_percent(interval=None))
        read("rss_bytes", lambda: proc.memory_info().rss)
        read("open_fds", proc.num_fds)
        read("threads", proc.num_threads)
        read("fd_soft_limit", lambda: _soft_limit(proc))
        found["unread"] = unread
        return found


def _soft_limit(proc: Any) -> int:
    import resource

    soft, _ = proc.rlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        raise ValueError("RLIMIT_NOFILE is unlimited")
    return int(soft)


def read_disk(data_dir: Path) -> dict[str, Any]:
    """Free and total bytes of the filesystem holding ``data_dir`` (free as available
    to an unprivileged writer, which is what the store gets)."""
    import psutil

    try:
        usage = psutil.disk_usage(str(data_dir))
    except OSError as exc:
        reason = f"disk usage of {data_dir}: {exc.strerror or exc}"
        return {"unread": {"disk_free_bytes": reason, "disk_total_bytes": reason}}
    return {"disk_free_bytes": int(usage.free), "disk_total_bytes": int(usage.total)}


_STAMP = re.compile(r"-(\d{8}T\d{6})\.(\d{9})Z\.db$")


def backup_time_ns(path: Path) -> int | None:
    """When a backup was taken, from its file name (``...-YYYYmmddTHHMMSS.nnnnnnnnnZ.db``)."""
    match = _STAMP.search(path.name)
    if match is None:
        return None
    seconds = calendar.timegm(time.strptime(match.group(1), "%Y%m%dT%H%M%S"))
    return seconds * 1_000_000_000 + int(match.group(2))


class BackupVerifier:
    """Verifies a backup file once (opens it read-only, ``quick_check``, reads its last
    record) and remembers the verdict, so a periodic round does not re-read it."""

    def __init__(self) -> None:
        self._done: dict[Path, tuple[bool, str]] = {}

    def verify(self, path: Path, session_id: str) -> tuple[bool, str]:
        """``(ok, reason)`` for the backup at ``path``."""
        if path not in self._done:
            self._done = {path: _verify_backup(path, session_id)}  # only the newest matters
        return self._done[path]


def _verify_backup(path: Path, session_id: str) -> tuple[bool, str]:
    import sqlite3

    from tradeguard.storage.sqlite import sessions_in
    from tradeguard.storage.url import open_store

    try:
        sessions = sessions_in(path)
        session = session_id if session_id in sessions else (sessions or [session_id])[0]
        with open_store(path, session_id=session, readonly=True) as backup:
            problems = backup.integrity_problems()
            backup.last_seq()
    except (TradeguardError, OSError, sqlite3.Error) as exc:
        # sqlite3.Error: opening a damaged file can fail below the store's translation.
        return False, f"{path.name}: {exc}"
    if problems:
        return False, f"{path.name}: {problems[0]}"
    return True, ""


def read_store(
    store: Store,
    backup_dir: Path | None,
    *,
    verifier: BackupVerifier | None = None,
    writer_epoch: int | None = None,
    last_reconcile: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Last snapshot, newest backup (and its verification), last reconciliation report,
    and the writer's state: poisoned, and fenced when ``writer_epoch`` is the epoch
    this process writes with (None: no writer here, fenced is not read).
    ``last_reconcile``: the ``last_reconcile_*`` readings when the caller knows them (a
    running service), so the journal is not scanned back for the last report."""
    from tradeguard.storage.backup import list_backups

    found: dict[str, Any] = {}
    unread: dict[str, str] = {}
    try:
        snapshots = store.snapshots()
        if snapshots:
            found["last_snapshot_ns"] = max(s.ts_ns for s in snapshots)
        else:
            unread["last_snapshot_ns"] = "the store holds no snapshot yet"
    except TradeguardError as exc:
        unread["last_snapshot_ns"] = f"snapshots: {exc}"
    if backup_dir is None:
        unread["last_backup_ns"] = "no backup directory configured"
    else:
        prefix = f"tradeguard-{store.session_id}-"
        mine = [p for p in list_backups(backup_dir) if p.name.startswith(prefix)]
        if not mine:
            unread["last_backup_ns"] = f"no backup of session {store.session_id!r} in {backup_dir}"
        else:
            newest = mine[0]
            taken = backup_time_ns(newest)
            if taken is None:
                unread["last_backup_ns"] = f"{newest.name}: no time stamp in the name"
            else:
                found["last_backup_ns"] = taken
                ok, reason = (verifier or BackupVerifier()).verify(newest, store.session_id)
                found["last_backup_verified"] = ok
                if reason:
                    unread["last_backup_verified"] = reason
    try:
        first = next(iter(store.read(after_seq=0, limit=1)), None)
        if first is not None:
            found["store_created_ns"] = first.ts_ns
    except TradeguardError as exc:
        unread["store_created_ns"] = f"first record: {exc}"
    found.update(_last_reconciliation(store, unread) if last_reconcile is None
                 else last_reconcile)
    found["store_poisoned"] = store.stats().poisoned
    if writer_epoch is None:
        unread["store_fenced"] = "no writer in this process"
    else:
        try:
            found["store_fenced"] = store.current_epoch() != writer_epoch
        except TradeguardError as exc:
            unread["store_fenced"] = f"epoch: {exc}"
    found["unread"] = unread
    return found


def _last_reconciliation(store: Store, unread: dict[str, str]) -> dict[str, Any]:
    """The newest ``ReconciliationReported`` record, scanned backwards in pages."""
    from tradeguard.domain.events import ReconciliationReported
    from tradeguard.storage.codec import decode_event

    try:
        last = upper = store.last_seq()
        while upper > 0 and last - upper < _RECONCILE_SCAN_MAX:
            lower = max(0, upper - _RECONCILE_SCAN_PAGE)
            page = [
                r for r in store.read(after_seq=lower, limit=upper - lower)
                if r.type == "reconciliation_reported"
            ]
            if page:
                record = page[-1]
                event = decode_event(record.type, record.version, record.payload)
                assert isinstance(event, ReconciliationReported)
                return {
                    "last_reconcile_ns": record.ts_ns,
                    "last_reconcile_complete": event.complete,
                    # Corrected discrepancies are settled; the flagged ones wait for
                    # a person (whether still open is the open_flags check's job).
                    "last_reconcile_discrepancies": len(event.flags_raised),
                }
            upper = lower
    except (TradeguardError, ValueError) as exc:
        unread["last_reconcile_ns"] = f"journal: {exc}"
        return {}
    unread["last_reconcile_ns"] = (
        f"no reconciliation report in the last {_RECONCILE_SCAN_MAX:,} journal records"
    )
    return {}


def read_session(state: SessionState) -> dict[str, Any]:
    """UNKNOWN orders (count, oldest intent time) and open flags (critical ones too)."""
    unknown = state.orders_by_status(OrderStatus.UNKNOWN)
    flags = state.open_flags()
    found: dict[str, Any] = {
        "unknown_orders": len(unknown),
        "open_flags": len(flags),
        "critical_flags": sum(1 for f in flags if f.severity is FlagSeverity.CRITICAL),
    }
    if unknown:
        found["oldest_unknown_ns"] = min(o.created_ns for o in unknown)
    return found


class _Ping(msgspec.Struct, frozen=True):
    rtt_seconds: float
    skew_ms: float


async def read_exchange(
    gateway: ExchangeGateway,
    *,
    clock_ns: Callable[[], int] = time.time_ns,
    perf_ns: Callable[[], int] = time.perf_counter_ns,
) -> dict[str, Any]:
    """Ask the exchange for its clock once: reachability, round trip, and clock skew
    (exchange time minus our clock at the middle of the round trip; positive: ahead)."""
    from tradeguard.session.exchange_status import is_unreachable_error

    start, local = perf_ns(), clock_ns()
    try:
        server_ns = await gateway.fetch_time_ns()
    except Exception as exc:  # noqa: BLE001 - every failure is a reading, never raised
        text = " ".join(str(exc).split()) or type(exc).__name__
        if is_unreachable_error(exc):
            reason = f"exchange did not answer: {text}"
            return {
                "exchange_reachable": False,
                "exchange_error": text,
                "unread": {"exchange_rtt_seconds": reason, "exchange_clock_skew_ms": reason},
            }
        reason = f"exchange answered with an error: {text}"
        return {
            "exchange_reachable": True,
            "unread": {"exchange_rtt_seconds": reason, "exchange_clock_skew_ms": reason},
        }
    rtt_ns = perf_ns() - start
    ping = _Ping(rtt_seconds=rtt_ns / 1e9, skew_ms=(server_ns - (local + rtt_ns // 2)) / 1e6)
    return {
        "exchange_reachable": True,
        "exchange_rtt_seconds": round(ping.rtt_seconds, 6),
        "exchange_clock_skew_ms": round(ping.skew_ms, 3),
    }

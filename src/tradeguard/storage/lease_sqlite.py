"""The session lease in a SQLite store file: one host, one clock.

The lease row lives in the store's own database (table ``leases``, migration 3) and is
written only inside ``BEGIN IMMEDIATE`` transactions, which hold the file's write lock:
the same lock every journal commit takes, so the check and the write of a lease step
are atomic against other lease steps and against appends.

Clock assumption: every process that uses the store runs on this one host (SQLite over
a network filesystem is not supported anyway). Expiry is judged on the host's monotonic
clock (``CLOCK_MONOTONIC`` on Linux: system-wide, never stepped by NTP or by a change of
the wall clock), which is only meaningful within one boot. So the row records the boot
it was written in (``/proc/sys/kernel/random/boot_id``) and its TTL: a lease of another
boot, or one whose remaining time exceeds its own TTL (impossible within one boot), is
expired. Wall-clock times are kept beside it for display only.

Known limit: a holder frozen inside a commit (SIGSTOP, a swap storm) holds the write
lock, so a standby cannot take over until it thaws or dies; the lease never lets two
holders write, but takeover then waits for the lock.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tradeguard.errors import StoreError, StoreNotFoundError
from tradeguard.storage.lease import Grant, Lease, LeaseInfo, SessionLease
from tradeguard.storage.url import DB_NAME, sqlite_files, store_url_for_dir

__all__ = ["BOOT_ID_PATH", "SqliteLease", "current_boot_id"]

BOOT_ID_PATH = Path("/proc/sys/kernel/random/boot_id")


def current_boot_id() -> str:
    """This boot's id (Linux), or "" where the system has none: the TTL check alone
    then tells a lease of an earlier boot (its remaining time exceeds its TTL)."""
    try:
        return BOOT_ID_PATH.read_text(encoding="ascii").strip()
    except OSError:
        return ""


def _wall(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC)


class SqliteLease(SessionLease):
    """The lease of one session in a SQLite store (see the module docstring)."""

    def __init__(
        self,
        path: str | Path,
        *,
        session_id: str = "default",
        busy_timeout_ms: int = 2000,
        boot_id: str | None = None,
        monotonic_ns: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self.session_id = session_id
        _, self.db_path = sqlite_files(path)
        named = self.db_path if self.db_path.name != DB_NAME else self.db_path.parent
        self.url = store_url_for_dir(named)
        self._boot = current_boot_id() if boot_id is None else boot_id
        self._mono = monotonic_ns
        self._lock = threading.Lock()
        if not self.db_path.is_file():
            raise StoreNotFoundError(f"no tradeguard store at {self.db_path}")
        try:
            conn = sqlite3.connect(
                str(self.db_path), isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open {self.db_path} for its lease: {exc}") from exc
        self._conn: Any = conn
        try:
            # A lease step is durable when it returns (the epoch bump above all).
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            self._check_tables()
        except sqlite3.Error as exc:
            conn.close()
            raise StoreError(f"{self.db_path} is not a readable tradeguard store: {exc}") from exc
        except BaseException:
            conn.close()
            raise

    def _check_tables(self) -> None:
        try:
            tables = {
                r[0]
                for r in self._conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table'"
                ).fetchall()
            }
            if "leases" not in tables or "sessions" not in tables:
                raise StoreError(
                    f"{self.db_path} has no leases table: open the store writable once "
                    "(it migrates to schema 3) before using its lease"
                )
            row = self._conn.execute(
                "SELECT 1 FROM sessions WHERE session_id = ?", (self.session_id,)
            ).fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"{self.db_path} is not a readable tradeguard store: {exc}") from exc
        if row is None:
            raise StoreNotFoundError(f"no session {self.session_id!r} in {self.db_path}")

    # --- helpers ---------------------------------------------------------------------

    def _failed(self, exc: BaseException, what: str) -> StoreError:
        if isinstance(exc, StoreError):
            return exc
        busy = "locked" in str(exc) or "busy" in str(exc)
        hint = " (the store's write lock is held: another writer is committing)" if busy else ""
        err = StoreError(f"lease {what} on {self.db_path} failed{hint}: {exc}")
        err.__cause__ = exc
        return err

    def _remaining_ns(self, boot: str, expires: int, ttl: int, now: int) -> int:
        """Nanoseconds a lease row has left on this host's clock (0: expired)."""
        left = expires - now
        if boot != self._boot or left <= 0 or left > ttl:
            return 0
        return left

    def _write(self, what: str, body: Callable[[Any, int, int], Any]) -> Any:
        """Run ``body(conn, mono_now_ns, wall_now_ns)`` in one IMMEDIATE transaction."""
        conn = self._conn
        with self._lock:
            if conn is None:
                raise StoreError(f"the lease of {self.db_path} is closed")
            try:
                conn.execute("BEGIN IMMEDIATE")
                # Read under the write lock: nobody can change the row until COMMIT.
                result = body(conn, self._mono(), time.time_ns())
                conn.execute("COMMIT")
            except BaseException as exc:
                with contextlib.suppress(sqlite3.Error):
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                if isinstance(exc, Exception):
                    raise self._failed(exc, what) from exc
                raise
            return result

    # --- the backend steps ----------------------------------------------------------

    def _try_acquire(self, holder: str, ttl_s: float) -> Grant | None:
        ttl = int(ttl_s * 1e9)
        sid = self.session_id

        def body(conn: Any, now: int, wall: int) -> Grant | None:
            row = conn.execute(
                "SELECT holder, boot_id, expires_mono_ns, ttl_ns FROM leases"
                " WHERE session_id = ?",
                (sid,),
            ).fetchone()
            if row is not None and row[0] != holder and self._remaining_ns(
                row[1], row[2], row[3], now
            ):
                return None
            found = conn.execute(
                "SELECT epoch FROM sessions WHERE session_id = ?", (sid,)
            ).fetchone()
            if found is None:
                raise StoreNotFoundError(f"no session {sid!r} in {self.db_path}")
            epoch = int(found[0]) + 1
            # The fence: appends of every earlier holder now fail their epoch check.
            conn.execute("UPDATE sessions SET epoch = ? WHERE session_id = ?", (epoch, sid))
            conn.execute(
                "INSERT INTO leases (session_id, holder, epoch, acquired_ns, renewed_ns,"
                " ttl_ns, boot_id, expires_mono_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (session_id) DO UPDATE SET holder = excluded.holder,"
                " epoch = excluded.epoch, acquired_ns = excluded.acquired_ns,"
                " renewed_ns = excluded.renewed_ns, ttl_ns = excluded.ttl_ns,"
                " boot_id = excluded.boot_id, expires_mono_ns = excluded.expires_mono_ns",
                (sid, holder, epoch, wall, wall, ttl, self._boot, now + ttl),
            )
            return Grant(epoch=epoch, expires_at=_wall(wall + ttl))

        grant: Grant | None = self._write("acquire", body)
        return grant

    def _try_renew(self, lease: Lease, ttl_s: float) -> Grant | None:
        ttl = int(ttl_s * 1e9)
        sid = self.session_id

        def body(conn: Any, now: int, wall: int) -> Grant | None:
            # One compare-and-set: ours, same term, same boot, not expired, not fenced.
            cur = conn.execute(
                "UPDATE leases SET expires_mono_ns = ?, ttl_ns = ?, renewed_ns = ?"
                " WHERE session_id = ? AND holder = ? AND epoch = ? AND boot_id = ?"
                " AND expires_mono_ns > ? AND expires_mono_ns - ? <= ttl_ns"
                " AND epoch = (SELECT epoch FROM sessions WHERE session_id = ?)",
                (now + ttl, ttl, wall, sid, lease.holder, lease.epoch, self._boot, now, now, sid),
            )
            if cur.rowcount != 1:
                return None
            return Grant(epoch=lease.epoch, expires_at=_wall(wall + ttl))

        grant: Grant | None = self._write("renewal", body)
        return grant

    def _try_release(self, lease: Lease) -> bool:
        sid = self.session_id

        def body(conn: Any, now: int, wall: int) -> bool:
            cur = conn.execute(
                "UPDATE leases SET expires_mono_ns = ?, renewed_ns = ?"
                " WHERE session_id = ? AND holder = ? AND epoch = ? AND boot_id = ?"
                " AND expires_mono_ns > ?",
                (now, wall, sid, lease.holder, lease.epoch, self._boot, now),
            )
            return bool(cur.rowcount == 1)

        released: bool = self._write("release", body)
        return released

    def read(self) -> LeaseInfo | None:
        """The lease row, its remaining time judged on this host's monotonic clock."""
        with self._lock:
            if self._conn is None:
                raise StoreError(f"the lease of {self.db_path} is closed")
            try:
                row = self._conn.execute(
                    "SELECT holder, epoch, boot_id, expires_mono_ns, ttl_ns, renewed_ns"
                    " FROM leases WHERE session_id = ?",
                    (self.session_id,),
                ).fetchone()
            except sqlite3.Error as exc:
                raise self._failed(exc, "read") from exc
            now, wall = self._mono(), time.time_ns()
        if row is None:
            return None
        holder, epoch, boot, expires, ttl, renewed = row
        left = self._remaining_ns(boot, expires, ttl, now)
        # Display: live leases by what is left now; expired ones by their last write.
        expires_at = _wall(wall + left) if left else _wall(min(renewed + ttl, wall))
        return LeaseInfo(
            session_id=self.session_id,
            holder=str(holder),
            epoch=int(epoch),
            expires_at=expires_at,
            remaining_s=left / 1e9,
        )

    def _store_epoch(self) -> int:
        with self._lock:
            if self._conn is None:
                raise StoreError(f"the lease of {self.db_path} is closed")
            try:
                row = self._conn.execute(
                    "SELECT epoch FROM sessions WHERE session_id = ?", (self.session_id,)
                ).fetchone()
            except sqlite3.Error as exc:
                raise self._failed(exc, "read") from exc
        return 0 if row is None else int(row[0])

    def close(self) -> None:
        """Close the connection (the lease stays until it expires). Idempotent."""
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

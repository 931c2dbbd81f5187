"""The session lease in PostgreSQL: a lease row per session, the server's clock only.

Every lease step is ONE statement that compares and sets, and every time in it comes
from the server's ``clock_timestamp()`` (never the client's clock, and not ``now()``,
which is frozen at the start of a transaction). No advisory lock: its loss on a dead or
paused connection goes unnoticed, and it carries no fencing token.

``acquire`` locks the session's row (``SELECT ... FOR UPDATE``, the lock every journal
transaction also takes first), takes the lease if it is free or the caller's own, and
writes the advanced epoch back, all in one statement: an append transaction runs wholly
before it (and is visible to the new holder's recovery) or wholly after it (and fails
its epoch check). A takeover racing another blocks on the same row lock and then finds
the lease live. ``renew`` and ``release`` are single conditional UPDATEs.

The lease keeps its own connection with short server-side timeouts, so a step either
answers within ``op_timeout_s`` or fails; a lost connection is reopened on the next
step. The client-side deadline (``Lease.valid_until_monotonic``) does not depend on any
answer arriving.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg

from tradeguard.errors import StoreError, StoreNotFoundError
from tradeguard.storage.lease import Grant, Lease, LeaseInfo, SessionLease
from tradeguard.storage.postgres import redact_url, split_store_url

__all__ = ["PostgresLease"]

# Each statement reads the server's clock once (``c.now``): the expiry check and the
# new expiry use the same instant (clock_timestamp() differs at every call).
_ACQUIRE = """
WITH c AS (
    SELECT clock_timestamp() AS now
), cur AS (
    SELECT epoch FROM sessions WHERE session_id = %(s)s FOR UPDATE
), won AS (
    INSERT INTO leases AS l (session_id, holder, epoch, acquired_at, renewed_at, expires_at)
    SELECT %(s)s, %(h)s, cur.epoch + 1, c.now, c.now, c.now + make_interval(secs => %(ttl)s)
    FROM cur, c
    ON CONFLICT (session_id) DO UPDATE SET
        holder = excluded.holder, epoch = excluded.epoch, acquired_at = excluded.acquired_at,
        renewed_at = excluded.renewed_at, expires_at = excluded.expires_at
    WHERE l.holder = excluded.holder OR l.expires_at <= excluded.acquired_at
    RETURNING l.epoch, l.expires_at
), fence AS (
    UPDATE sessions SET epoch = won.epoch FROM won WHERE sessions.session_id = %(s)s
    RETURNING sessions.epoch
)
SELECT won.epoch, won.expires_at, (SELECT count(*) FROM fence) FROM won
"""

_RENEW = """
UPDATE leases AS l
SET expires_at = c.now + make_interval(secs => %(ttl)s), renewed_at = c.now
FROM sessions AS s, (SELECT clock_timestamp() AS now) AS c
WHERE l.session_id = %(s)s AND s.session_id = l.session_id
  AND l.holder = %(h)s AND l.epoch = %(e)s AND s.epoch = %(e)s
  AND l.expires_at > c.now
RETURNING l.expires_at
"""

_RELEASE = """
UPDATE leases AS l SET expires_at = c.now, renewed_at = c.now
FROM (SELECT clock_timestamp() AS now) AS c
WHERE l.session_id = %(s)s AND l.holder = %(h)s AND l.epoch = %(e)s
  AND l.expires_at > c.now
RETURNING 1
"""

_READ = """
SELECT holder, epoch, expires_at,
       GREATEST(EXTRACT(EPOCH FROM expires_at - clock_timestamp())::float8, 0)
FROM leases WHERE session_id = %(s)s
"""


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


class PostgresLease(SessionLease):
    """The lease of one session in a PostgreSQL store (see the module docstring)."""

    def __init__(
        self,
        url: str,
        *,
        session_id: str = "default",
        connect_timeout_s: int = 5,
        op_timeout_s: float = 2.0,
    ) -> None:
        self.session_id = session_id
        self.url = redact_url(url)
        self._conninfo, self.schema, _ = split_store_url(url)
        self._connect_timeout = max(1, int(connect_timeout_s))
        self._op_ms = max(1, int(op_timeout_s * 1000))
        self._lock = threading.Lock()
        self._conn: Any = None
        self._closed = False
        with self._lock:
            self._check_tables()

    # --- connection ------------------------------------------------------------------

    def _connection(self) -> Any:
        if self._closed:
            raise StoreError(f"the lease of {self.url} is closed")
        if self._conn is None or self._conn.closed:
            ms = self._op_ms
            # Server-side limits: a step that waits on a lock, runs long or is left
            # half-sent is ended by the server, not held open. tcp_user_timeout ends a
            # connection whose packets go unacknowledged (a cut network) on our side.
            options = (
                f"-c search_path={self.schema} -c statement_timeout={ms}"
                f" -c lock_timeout={ms} -c idle_in_transaction_session_timeout={ms}"
            )
            try:
                self._conn = psycopg.connect(
                    self._conninfo,
                    autocommit=True,
                    connect_timeout=self._connect_timeout,
                    options=options,
                    tcp_user_timeout=ms,
                    keepalives=1,
                    keepalives_idle=max(1, ms // 1000),
                    keepalives_interval=1,
                    keepalives_count=2,
                    application_name="tradeguard-lease",
                )
            except psycopg.Error as exc:
                raise StoreError(f"cannot connect to PostgreSQL at {self.url}: {exc}") from exc
        return self._conn

    def _execute(self, statement: str, params: dict[str, Any], what: str) -> list[Sequence[Any]]:
        """Run one statement; a failure drops the connection (reopened next time)."""
        try:
            rows: list[Sequence[Any]] = (
                self._connection().execute(statement, params).fetchall()
            )
        except StoreError:
            raise
        except psycopg.Error as exc:
            self._drop()
            raise StoreError(
                f"lease {what} on {self.url} failed (outcome unknown): "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        return rows

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def _check_tables(self) -> None:
        rows = self._execute(
            "SELECT to_regclass('sessions') IS NOT NULL, to_regclass('leases') IS NOT NULL",
            {},
            "open",
        )
        has_sessions, has_leases = rows[0]
        if not has_sessions:
            raise StoreNotFoundError(f"no tradeguard schema {self.schema!r} at {self.url}")
        if not has_leases:
            raise StoreError(
                f"schema {self.schema!r} at {self.url} has no leases table: open the store "
                "writable once (it migrates to schema 3) before using its lease"
            )
        found = self._execute(
            "SELECT 1 FROM sessions WHERE session_id = %(s)s", {"s": self.session_id}, "open"
        )
        if not found:
            raise StoreNotFoundError(
                f"no session {self.session_id!r} in schema {self.schema!r} at {self.url}"
            )

    # --- the backend steps ----------------------------------------------------------

    def _try_acquire(self, holder: str, ttl_s: float) -> Grant | None:
        with self._lock:
            rows = self._execute(
                _ACQUIRE, {"s": self.session_id, "h": holder, "ttl": float(ttl_s)}, "acquire"
            )
        if not rows:
            return None
        epoch, expires_at, fenced = rows[0]
        if fenced != 1:  # pragma: no cover - the session row was locked above
            raise StoreError(f"lease acquire on {self.url} did not advance the epoch")
        return Grant(epoch=int(epoch), expires_at=_utc(expires_at))

    def _try_renew(self, lease: Lease, ttl_s: float) -> Grant | None:
        params = {"s": self.session_id, "h": lease.holder, "e": lease.epoch, "ttl": float(ttl_s)}
        with self._lock:
            rows = self._execute(_RENEW, params, "renewal")
        if not rows:
            return None
        return Grant(epoch=lease.epoch, expires_at=_utc(rows[0][0]))

    def _try_release(self, lease: Lease) -> bool:
        params = {"s": self.session_id, "h": lease.holder, "e": lease.epoch}
        with self._lock:
            rows = self._execute(_RELEASE, params, "release")
        return bool(rows)

    def read(self) -> LeaseInfo | None:
        """The lease row, its remaining time by the server's clock."""
        with self._lock:
            rows = self._execute(_READ, {"s": self.session_id}, "read")
        if not rows:
            return None
        holder, epoch, expires_at, remaining = rows[0]
        return LeaseInfo(
            session_id=self.session_id,
            holder=str(holder),
            epoch=int(epoch),
            expires_at=_utc(expires_at),
            remaining_s=float(remaining),
        )

    def _store_epoch(self) -> int:
        with self._lock:
            rows = self._execute(
                "SELECT epoch FROM sessions WHERE session_id = %(s)s",
                {"s": self.session_id},
                "read",
            )
        return int(rows[0][0]) if rows else 0

    def close(self) -> None:
        """Close the connection (the lease stays until it expires). Idempotent."""
        with self._lock:
            self._closed = True
            self._drop()

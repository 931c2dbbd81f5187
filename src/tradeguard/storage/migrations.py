"""Numbered table migrations, recorded in the store's ``schema_migrations`` table.

Each migration is a list of SQL statements per dialect (``sqlite``, ``postgresql``),
applied in its own transaction together with its ``schema_migrations`` row, so a crash
leaves the store at a whole version. Migration 1 is the original layout (a journal
without an epoch column); migration 2 adds the journal ``epoch`` column and the
quarantine table; migration 3 adds the ``leases`` table (one row per session: who
holds the writer's lease, its epoch and expiry; see ``lease.py``). The caller (the
store) takes a backup before migrating a store that already holds data: it passes
``before_migrating``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any, Literal

import msgspec

from tradeguard.errors import StoreError, UnsupportedVersionError

__all__ = [
    "LATEST_VERSION",
    "MIGRATIONS",
    "STORE_FORMAT",
    "Dialect",
    "Migration",
    "applied_migrations",
    "apply_migrations",
    "current_version",
    "sql_for",
]

Dialect = Literal["sqlite", "postgresql"]

STORE_FORMAT = "tradeguard-store"
"""Value of ``meta.format``: how a tradeguard database is told from any other."""


class Migration(msgspec.Struct, frozen=True):
    """One numbered schema change, as SQL statements per dialect."""

    version: int
    description: str
    sqlite: tuple[str, ...]
    postgresql: tuple[str, ...]


def _both(template: str, *, strict: bool = True) -> tuple[str, str]:
    """One CREATE TABLE for both dialects: ``{int}``/``{blob}``/``{opts}`` differ."""
    lite = template.format(int="INTEGER", blob="BLOB", opts=" STRICT" if strict else "")
    pg = template.format(int="BIGINT", blob="BYTEA", opts="")
    return lite, pg


_M1 = [
    _both("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL){opts}"),
    _both(
        "CREATE TABLE sessions (session_id TEXT PRIMARY KEY, epoch {int} NOT NULL DEFAULT 0,"
        " created_ns {int} NOT NULL){opts}"
    ),
    # WITHOUT ROWID: the journal is stored in primary-key order, so reads by seq need
    # no second index lookup.
    (
        "CREATE TABLE journal (session_id TEXT NOT NULL REFERENCES sessions(session_id),"
        " seq INTEGER NOT NULL, type TEXT NOT NULL, version INTEGER NOT NULL,"
        " ts_ns INTEGER NOT NULL, payload BLOB NOT NULL, crc INTEGER NOT NULL,"
        " PRIMARY KEY (session_id, seq)) WITHOUT ROWID, STRICT",
        "CREATE TABLE journal (session_id TEXT NOT NULL REFERENCES sessions(session_id),"
        " seq BIGINT NOT NULL, type TEXT NOT NULL, version INTEGER NOT NULL,"
        " ts_ns BIGINT NOT NULL, payload BYTEA NOT NULL, crc BIGINT NOT NULL,"
        " PRIMARY KEY (session_id, seq))",
    ),
    _both(
        "CREATE TABLE snapshots (session_id TEXT NOT NULL REFERENCES sessions(session_id),"
        " seq {int} NOT NULL, version {int} NOT NULL, ts_ns {int} NOT NULL,"
        " payload {blob} NOT NULL, crc {int} NOT NULL, PRIMARY KEY (session_id, seq)){opts}"
    ),
    _both(
        "CREATE TABLE runs (session_id TEXT NOT NULL REFERENCES sessions(session_id),"
        " n {int} NOT NULL, run_id TEXT NOT NULL, started_ns {int} NOT NULL,"
        " stopped_ns {int}, pid {int} NOT NULL, hostname TEXT NOT NULL,"
        " PRIMARY KEY (session_id, n)){opts}"
    ),
    (
        f"INSERT INTO meta (key, value) VALUES ('format', '{STORE_FORMAT}')",
        f"INSERT INTO meta (key, value) VALUES ('format', '{STORE_FORMAT}')",
    ),
]

_M2 = [
    (
        "ALTER TABLE journal ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE journal ADD COLUMN epoch BIGINT NOT NULL DEFAULT 0",
    ),
    _both(
        "CREATE TABLE quarantine (session_id TEXT NOT NULL REFERENCES sessions(session_id),"
        " n {int} NOT NULL, seq {int} NOT NULL, reason TEXT NOT NULL,"
        " quarantined_ns {int} NOT NULL, raw {blob} NOT NULL,"
        " PRIMARY KEY (session_id, n)){opts}"
    ),
]

# The lease row of a session. The epoch that fences appends stays in sessions.epoch;
# the lease's epoch is the one it was granted (equal to sessions.epoch while it holds).
# Expiry is kept on one clock per backend: PostgreSQL's (timestamptz from
# clock_timestamp()); on SQLite the host's monotonic clock, valid only within the boot
# named by boot_id, with the wall-clock times kept for display only.
_M3 = [
    (
        "CREATE TABLE leases (session_id TEXT PRIMARY KEY REFERENCES sessions(session_id),"
        " holder TEXT NOT NULL, epoch INTEGER NOT NULL, acquired_ns INTEGER NOT NULL,"
        " renewed_ns INTEGER NOT NULL, ttl_ns INTEGER NOT NULL, boot_id TEXT NOT NULL,"
        " expires_mono_ns INTEGER NOT NULL) STRICT",
        "CREATE TABLE leases (session_id TEXT PRIMARY KEY REFERENCES sessions(session_id),"
        " holder TEXT NOT NULL, epoch BIGINT NOT NULL, acquired_at TIMESTAMPTZ NOT NULL,"
        " renewed_at TIMESTAMPTZ NOT NULL, expires_at TIMESTAMPTZ NOT NULL)",
    ),
]

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "initial tables: meta, sessions (epoch), journal, snapshots, runs",
        tuple(s for s, _ in _M1),
        tuple(p for _, p in _M1),
    ),
    Migration(
        2,
        "journal.epoch column; quarantine table",
        tuple(s for s, _ in _M2),
        tuple(p for _, p in _M2),
    ),
    Migration(
        3,
        "leases table (writer lease per session: holder, epoch, expiry)",
        tuple(s for s, _ in _M3),
        tuple(p for _, p in _M3),
    ),
)

LATEST_VERSION = MIGRATIONS[-1].version

_CREATE_LEDGER = (
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,"
    " applied_ns BIGINT NOT NULL, description TEXT NOT NULL)"
)


def sql_for(dialect: Dialect, sql: str) -> str:
    """``?`` placeholders as the dialect wants them (psycopg uses ``%s``)."""
    return sql if dialect == "sqlite" else sql.replace("?", "%s")


def _has_ledger(conn: Any, dialect: Dialect) -> bool:
    if dialect == "sqlite":
        row = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='schema_migrations'"
        ).fetchone()
    else:
        row = conn.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema()"
            " AND table_name = 'schema_migrations'"
        ).fetchone()
    return row is not None


def current_version(conn: Any, dialect: Dialect) -> int:
    """Newest applied migration (0 when the store has no ``schema_migrations`` table)."""
    if not _has_ledger(conn, dialect):
        return 0
    row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()
    return int(row[0])


def applied_migrations(conn: Any, dialect: Dialect) -> list[tuple[int, int, str]]:
    """``(version, applied_ns, description)`` of every applied migration, in order."""
    if not _has_ledger(conn, dialect):
        return []
    rows = conn.execute(
        "SELECT version, applied_ns, description FROM schema_migrations ORDER BY version"
    ).fetchall()
    return [(int(v), int(ns), str(d)) for v, ns, d in rows]


def apply_migrations(
    conn: Any,
    dialect: Dialect,
    upto: int | None = None,
    *,
    before_migrating: Callable[[int, int], None] | None = None,
    lock_sql: str | None = None,
) -> list[int]:
    """Bring the store behind ``conn`` to version ``upto`` (default: the newest).

    ``conn`` is a DB-API-like connection in autocommit mode (``execute`` only). Returns
    the versions applied (none when already there: idempotent). ``before_migrating(from,
    to)`` runs once before the first change to a store at version >= 1, so the caller
    can take a backup. ``lock_sql`` serialises concurrent migrators (PostgreSQL advisory
    lock); SQLite's ``BEGIN IMMEDIATE`` already does. Raises ``UnsupportedVersionError``
    for a store newer than this build.
    """
    target = LATEST_VERSION if upto is None else upto
    if not 1 <= target <= LATEST_VERSION:
        raise StoreError(f"no migration {target}: this build knows 1..{LATEST_VERSION}")
    found = current_version(conn, dialect)
    if found > LATEST_VERSION:
        raise UnsupportedVersionError(
            f"the store is at schema version {found}, newer than this build's "
            f"{LATEST_VERSION}: upgrade tradeguard"
        )
    if found >= target:
        return []
    if before_migrating is not None and found >= 1:
        before_migrating(found, target)
    applied: list[int] = []
    begin = "BEGIN IMMEDIATE" if dialect == "sqlite" else "BEGIN"
    for migration in MIGRATIONS:
        if not found < migration.version <= target:
            continue
        conn.execute(begin)
        try:
            if lock_sql is not None:
                conn.execute(lock_sql)
            conn.execute(_CREATE_LEDGER)
            # Another process may have migrated while we waited for the lock.
            if current_version(conn, dialect) >= migration.version:
                conn.execute("ROLLBACK")
                continue
            statements = migration.sqlite if dialect == "sqlite" else migration.postgresql
            for statement in statements:
                conn.execute(statement)
            conn.execute(
                sql_for(
                    dialect,
                    "INSERT INTO schema_migrations (version, applied_ns, description)"
                    " VALUES (?, ?, ?)",
                ),
                (migration.version, time.time_ns(), migration.description),
            )
            conn.execute("COMMIT")
        except Exception as exc:
            # The original error is what matters; a failed ROLLBACK adds nothing.
            with contextlib.suppress(Exception):
                conn.execute("ROLLBACK")
            if isinstance(exc, StoreError):
                raise
            raise StoreError(
                f"migration {migration.version} ({migration.description}) failed: {exc}"
            ) from exc
        applied.append(migration.version)
    return applied

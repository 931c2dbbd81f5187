"""PostgreSQL store (psycopg 3, sync): many sessions share one database schema.

URL: ``postgresql://user[:password]@host:port/db[?schema=NAME&backup_dir=DIR]``; the
``schema`` (default ``tradeguard``) lets tests isolate themselves, ``backup_dir``
(default ``./tradeguard-backups``) receives the pre-migration backup. Tables are keyed
by ``(session_id, seq)``; the writer locks the session's epoch row (``FOR UPDATE``) in
every transaction, and the primary key stops a second writer that somehow holds the
same epoch from forking the journal. psycopg errors are translated at this boundary.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql

from tradeguard.errors import StoreError, StoreNotFoundError, UnsupportedVersionError
from tradeguard.storage.migrations import LATEST_VERSION, apply_migrations, current_version
from tradeguard.storage.records import GENESIS_CRC
from tradeguard.storage.sqlite import export_to_sqlite
from tradeguard.storage.sqlstore import SqlFlavor, SqlStore, SqlWriteTx

__all__ = ["DEFAULT_SCHEMA", "PostgresStore", "redact_url", "split_store_url"]

DEFAULT_SCHEMA = "tradeguard"
_SCHEMA_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def redact_url(url: str) -> str:
    """The URL without its password, fit for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username}:***@{host}" if parts.username else host
    return urlunsplit(parts._replace(netloc=netloc))


def split_store_url(url: str) -> tuple[str, str, Path]:
    """``(conninfo for libpq, schema, backup_dir)`` of a tradeguard PostgreSQL URL
    (the store and its lease read the URL the same way)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    schema = query.pop("schema", DEFAULT_SCHEMA)
    if not _SCHEMA_RE.match(schema):
        raise StoreError(f"invalid PostgreSQL schema name {schema!r}")
    backup_dir = Path(query.pop("backup_dir", "./tradeguard-backups"))
    # quote, not quote_plus: libpq decodes %20 but keeps a '+' (options=-c a=b).
    rest = urlencode(query, quote_via=quote)
    return urlunsplit(parts._replace(query=rest)), schema, backup_dir


# Binary COPY needs each column's exact type (see migrations.py for the tables).
_COPY_TYPES = {
    "session_id": "text",
    "seq": "int8",
    "type": "text",
    "version": "int4",
    "ts_ns": "int8",
    "epoch": "int8",
    "payload": "bytea",
    "crc": "int8",
}


class _PostgresFlavor(SqlFlavor):
    dialect = "postgresql"
    begin_sql = "BEGIN"
    # The row lock serialises every writer of the session, in any process or host.
    lock_suffix = " FOR UPDATE"

    def executemany(self, conn: Any, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        with conn.cursor() as cur:
            cur.executemany(statement, rows)

    def lock_session_sql(self, conn: Any, session_id: str) -> str | None:
        # Without parameters psycopg uses the simple protocol, which takes two statements
        # in one round trip. The session id is quoted by the driver, never pasted raw.
        select = sql.SQL(
            "BEGIN; SELECT epoch FROM sessions WHERE session_id = {} FOR UPDATE"
        ).format(sql.Literal(session_id))
        text: str = select.as_string(conn)
        return text

    # Binary COPY measured the cheapest way to write a group's rows (one round trip,
    # no per-statement planning); multi-row INSERTs and executemany were slower.
    bulk_from_rows = 2

    def bulk_insert(
        self, conn: Any, table: str, columns: Sequence[str], rows: Sequence[Any]
    ) -> None:
        statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)"
        with conn.cursor() as cur, cur.copy(statement) as copy:
            copy.set_types([_COPY_TYPES[column] for column in columns])
            for row in rows:
                copy.write_row(row)

    def is_io_error(self, exc: BaseException) -> bool:
        # Connection lost, server shut down, disk full, I/O error: the statement (or
        # COMMIT) may or may not have taken effect.
        return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)

    def translate(self, exc: BaseException, what: str) -> StoreError:
        if isinstance(exc, pg_errors.UniqueViolation):
            err = StoreError(
                f"{what} failed: a row with this key exists (did another writer append to "
                f"this session with the same epoch?): {exc}"
            )
        else:
            err = StoreError(f"{what} failed: {type(exc).__name__}: {exc}")
        err.__cause__ = exc
        return err


_FLAVOR = _PostgresFlavor()


class PostgresStore(SqlStore):
    """A tradeguard store in PostgreSQL (see the module docstring)."""

    def __init__(
        self,
        url: str,
        *,
        session_id: str = "default",
        create: bool = True,
        readonly: bool = False,
        migrate_to: int | None = None,
        connect_timeout_s: int = 10,
    ) -> None:
        super().__init__()
        self.session_id = session_id
        self.readonly = readonly
        self._flavor = _FLAVOR
        self._conninfo, self.schema, self.backup_dir = split_store_url(url)
        self._timeout = connect_timeout_s
        self.url = redact_url(url)
        conn = self._connect_raw()
        try:
            self._version = self._prepare(conn, create=create, migrate_to=migrate_to)
        except BaseException:
            conn.close()
            raise
        if readonly:
            conn.close()
            return
        tx = SqlWriteTx(conn, _FLAVOR, session_id, version=self._version)
        try:
            last = tx.record_before(2**62)
        except psycopg.Error as exc:
            conn.close()
            raise _FLAVOR.translate(exc, f"opening {self.url}") from exc
        self._start_writer(
            tx,
            next_seq=1 if last is None else last.seq + 1,
            last_crc=GENESIS_CRC if last is None else last.crc,
        )

    def _connect_raw(self) -> Any:
        try:
            conn = psycopg.connect(self._conninfo, autocommit=True, connect_timeout=self._timeout)
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to PostgreSQL at {self.url}: {exc}") from exc
        return conn

    def _schema_exists(self, conn: Any) -> bool:
        row = conn.execute(
            "SELECT 1 FROM pg_namespace WHERE nspname = %s", (self.schema,)
        ).fetchone()
        return row is not None

    def _prepare(self, conn: Any, *, create: bool, migrate_to: int | None) -> int:
        """Create the schema, migrate it, make sure our session row exists."""
        try:
            return self._prepare_schema(conn, create=create, migrate_to=migrate_to)
        except StoreError:
            raise
        except psycopg.Error as exc:
            raise _FLAVOR.translate(exc, f"opening {self.url}") from exc

    def _prepare_schema(self, conn: Any, *, create: bool, migrate_to: int | None) -> int:
        lock = f"SELECT pg_advisory_xact_lock(hashtext('tradeguard:{self.schema}'))"
        if not self._schema_exists(conn):
            if self.readonly or not create:
                raise StoreNotFoundError(f"no tradeguard schema {self.schema!r} at {self.url}")
            conn.execute("BEGIN")
            conn.execute(lock)
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            conn.execute("COMMIT")
        conn.execute(f'SET search_path TO "{self.schema}"')
        found = current_version(conn, "postgresql")
        if found > LATEST_VERSION:
            raise UnsupportedVersionError(
                f"schema {self.schema!r} at {self.url} is at version {found}, newer "
                f"than this build's {LATEST_VERSION}: upgrade tradeguard"
            )
        if self.readonly:
            if found < LATEST_VERSION and migrate_to is None:
                raise StoreError(
                    f"schema {self.schema!r} at {self.url} is at version {found} and "
                    f"needs migrating to {LATEST_VERSION}; open it writable first"
                )
            self._version = found
            return found
        self._version = found
        apply_migrations(
            conn,
            "postgresql",
            migrate_to,
            before_migrating=self._pre_migration,
            lock_sql=lock,
        )
        self._close_reads()  # they may have prepared statements of the old layout
        version = current_version(conn, "postgresql")
        row = conn.execute(
            "SELECT 1 FROM sessions WHERE session_id = %s", (self.session_id,)
        ).fetchone()
        if row is None:
            if not create:
                raise StoreNotFoundError(
                    f"no session {self.session_id!r} in schema {self.schema!r} at {self.url}"
                )
            conn.execute(
                "INSERT INTO sessions (session_id, epoch, created_ns) VALUES (%s, 0, %s)"
                " ON CONFLICT DO NOTHING",
                (self.session_id, time.time_ns()),
            )
        return version

    def _pre_migration(self, found: int, target: int) -> None:
        """Export this session to a SQLite backup file before changing the tables."""
        if self.last_seq() == 0 and not self.runs():
            return
        export_to_sqlite(
            self,
            self.backup_dir,
            name=f"pre-migration-{found}-{target}-{self.session_id}-{time.time_ns()}.db",
        )

    def _connect_reader(self) -> Any:
        conn = self._connect_raw()
        conn.execute(f'SET search_path TO "{self.schema}"')
        return conn

    def backup(self, dest: Path) -> Path:
        """Export the session into a SQLite store file under ``dest``."""
        self._check_open()
        return export_to_sqlite(self, Path(dest))

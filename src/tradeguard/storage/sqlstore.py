"""What the SQLite and PostgreSQL stores share: the SQL of every read and write.

Both keep the same tables, keyed by ``(session_id, ...)``; they differ only in what a
:class:`SqlFlavor` says: placeholders, how a write transaction starts and locks the
session row, how many rows are written at once, and which driver errors mean "outcome
unknown". The write path keeps its statements prebuilt and writes a group's journal
rows with as few statements as it can (multi-row INSERT, or the driver's bulk path).
"""

from __future__ import annotations

import abc
import contextlib
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from tradeguard.errors import StoreError
from tradeguard.storage.migrations import Dialect, sql_for
from tradeguard.storage.records import (
    QuarantinedRecord,
    RunInfo,
    SnapshotInfo,
    SnapshotRecord,
    StoredRecord,
)
from tradeguard.storage.writerstore import WriterStore

__all__ = ["SqlFlavor", "SqlStore", "SqlWriteTx"]

_READ_PAGE = 10_000
_ROWS_PER_STATEMENT = 100
"""Journal rows per multi-row INSERT (x 8 columns stays under SQLite's old 999-variable
limit)."""


class SqlFlavor(abc.ABC):
    """Dialect-specific behaviour of a SQL backend."""

    dialect: Dialect
    begin_sql: str
    bulk_from_rows = 400
    """From this many rows on (imports, big batches) ``bulk_insert`` writes the journal
    rows; fewer go in as multi-row INSERTs."""
    lock_suffix: str
    """Appended to the epoch SELECT at BEGIN (``FOR UPDATE`` on PostgreSQL)."""

    def sql(self, statement: str) -> str:
        """The statement with this dialect's placeholders."""
        return sql_for(self.dialect, statement)

    @abc.abstractmethod
    def executemany(self, conn: Any, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for many parameter rows."""

    def lock_session_sql(self, conn: Any, session_id: str) -> str | None:
        """One parameterless statement that opens the write transaction and selects the
        session's epoch row locked (saves a round trip), or None: two statements."""
        return None

    def bulk_insert(
        self, conn: Any, table: str, columns: Sequence[str], rows: Sequence[Any]
    ) -> None:
        """Insert many rows (an import) the driver's fastest way; default executemany."""
        marks = ", ".join("?" for _ in columns)
        statement = self.sql(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})")
        self.executemany(conn, statement, rows)

    @abc.abstractmethod
    def is_io_error(self, exc: BaseException) -> bool:
        """True when ``exc`` leaves a write's outcome unknown."""

    @abc.abstractmethod
    def translate(self, exc: BaseException, what: str) -> StoreError:
        """Map a driver error to tradeguard's error tree."""


def _record_columns(has_epoch: bool) -> str:
    epoch = "epoch" if has_epoch else "0 AS epoch"
    return f"seq, type, version, ts_ns, {epoch}, payload, crc"


def _record(row: Sequence[Any]) -> StoredRecord:
    # Both drivers return BLOB/BYTEA as bytes and the columns are in field order.
    return StoredRecord(*row)


def _run(row: Sequence[Any]) -> RunInfo:
    return RunInfo(run_id=row[0], started_ns=row[1], stopped_ns=row[2], pid=row[3], hostname=row[4])


class SqlWriteTx:
    """``WriteTx`` over one SQL connection in autocommit mode (explicit BEGIN/COMMIT)."""

    def __init__(self, conn: Any, flavor: SqlFlavor, session_id: str, *, version: int) -> None:
        self.conn = conn
        self._f = flavor
        self._sid = session_id
        self._has_epoch = version >= 2
        self._has_quarantine = version >= 2
        # The hot path's statements, built once (the drivers cache them as prepared).
        self._begin_sql = flavor.begin_sql
        self._epoch_sql = flavor.sql(
            "SELECT epoch FROM sessions WHERE session_id = ?" + flavor.lock_suffix
        )
        self._epoch_params = (session_id,)
        self._begin_and_lock = flavor.lock_session_sql(conn, session_id)
        columns = ["session_id", "seq", "type", "version", "ts_ns", "epoch", "payload", "crc"]
        if not self._has_epoch:
            # A v1-era store (migrate_to=1): no epoch column; only epoch 0 exists there.
            columns.remove("epoch")
        self._columns = tuple(columns)
        self._row_marks = f"({', '.join('?' * len(columns))})"
        self._insert_head = f"INSERT INTO journal ({', '.join(columns)}) VALUES "
        self._insert_sql = flavor.sql(self._insert_head + self._row_marks)
        self._multi_sql: dict[int, str] = {1: self._insert_sql}

    def _multi_row_sql(self, count: int) -> str:
        """``INSERT ... VALUES (...), (...)`` for ``count`` rows (cached per count)."""
        statement = self._multi_sql.get(count)
        if statement is None:
            marks = ", ".join([self._row_marks] * count)
            statement = self._multi_sql[count] = self._f.sql(self._insert_head + marks)
        return statement

    def _x(self, statement: str, params: Sequence[Any] = ()) -> Any:
        return self.conn.execute(self._f.sql(statement), params)

    def begin(self) -> int:
        conn = self.conn
        if self._begin_and_lock is None:
            conn.execute(self._begin_sql)
            row = conn.execute(self._epoch_sql, self._epoch_params).fetchone()
        else:
            cur = conn.execute(self._begin_and_lock)
            cur.nextset()  # past BEGIN's empty result, to the SELECT's
            row = cur.fetchone()
        if row is None:
            raise StoreError(f"session {self._sid!r} has no row in the sessions table")
        return int(row[0])

    def savepoint(self) -> None:
        self.conn.execute("SAVEPOINT tg_job")

    def release(self) -> None:
        self.conn.execute("RELEASE SAVEPOINT tg_job")

    def rollback_to(self) -> None:
        self.conn.execute("ROLLBACK TO SAVEPOINT tg_job")
        self.conn.execute("RELEASE SAVEPOINT tg_job")

    def commit(self) -> None:
        self.conn.execute("COMMIT")

    def rollback(self) -> None:
        self.conn.execute("ROLLBACK")

    def is_io_error(self, exc: BaseException) -> bool:
        return self._f.is_io_error(exc)

    def translate(self, exc: BaseException, what: str) -> StoreError:
        return self._f.translate(exc, what)

    def close(self) -> None:
        self.conn.close()

    def insert_records(self, rows: Sequence[StoredRecord]) -> None:
        # A group commit's rows go in as few statements as possible: every statement is
        # a GIL release the committing thread must then win back from the woken callers.
        sid, conn, count = self._sid, self.conn, len(rows)
        if count >= self._f.bulk_from_rows:
            self._f.bulk_insert(conn, "journal", self._columns, self._row_tuples(rows))
            return
        for start in range(0, count, _ROWS_PER_STATEMENT):
            chunk = rows[start : start + _ROWS_PER_STATEMENT]
            params: list[Any] = []
            if self._has_epoch:
                for r in chunk:
                    params += (sid, r.seq, r.type, r.version, r.ts_ns, r.epoch, r.payload, r.crc)
            else:
                for r in chunk:
                    params += (sid, r.seq, r.type, r.version, r.ts_ns, r.payload, r.crc)
            conn.execute(self._multi_row_sql(len(chunk)), params)

    def _row_tuples(self, rows: Sequence[StoredRecord]) -> list[tuple[Any, ...]]:
        sid = self._sid
        if self._has_epoch:
            return [
                (sid, r.seq, r.type, r.version, r.ts_ns, r.epoch, r.payload, r.crc) for r in rows
            ]
        return [(sid, r.seq, r.type, r.version, r.ts_ns, r.payload, r.crc) for r in rows]

    def records_from(self, seq: int) -> list[StoredRecord]:
        rows = self._x(
            f"SELECT {_record_columns(self._has_epoch)} FROM journal"
            " WHERE session_id = ? AND seq >= ? ORDER BY seq",
            (self._sid, seq),
        ).fetchall()
        return [_record(r) for r in rows]

    def delete_records_from(self, seq: int) -> None:
        self._x("DELETE FROM journal WHERE session_id = ? AND seq >= ?", (self._sid, seq))

    def record_before(self, seq: int) -> StoredRecord | None:
        row = self._x(
            f"SELECT {_record_columns(self._has_epoch)} FROM journal"
            " WHERE session_id = ? AND seq < ? ORDER BY seq DESC LIMIT 1",
            (self._sid, seq),
        ).fetchone()
        return None if row is None else _record(row)

    def set_epoch(self, epoch: int) -> None:
        self._x("UPDATE sessions SET epoch = ? WHERE session_id = ?", (epoch, self._sid))

    def upsert_snapshot(self, snap: SnapshotRecord) -> None:
        self._x(
            "INSERT INTO snapshots (session_id, seq, version, ts_ns, payload, crc)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (session_id, seq) DO UPDATE SET"
            " version = excluded.version, ts_ns = excluded.ts_ns,"
            " payload = excluded.payload, crc = excluded.crc",
            (self._sid, snap.seq, snap.version, snap.ts_ns, snap.payload, snap.crc),
        )

    def prune_snapshots(self, keep: int) -> None:
        self._x(
            "DELETE FROM snapshots WHERE session_id = ? AND seq NOT IN (SELECT seq FROM"
            " snapshots WHERE session_id = ? ORDER BY seq DESC LIMIT ?)",
            (self._sid, self._sid, keep),
        )

    def insert_quarantined(self, items: Sequence[QuarantinedRecord]) -> None:
        if not items:
            return
        if not self._has_quarantine:
            raise StoreError("this store is at schema version 1: it has no quarantine table")
        row = self._x(
            "SELECT COALESCE(MAX(n), 0) FROM quarantine WHERE session_id = ?", (self._sid,)
        ).fetchone()
        n = int(row[0])
        params = [
            (self._sid, n + i, q.seq, q.reason, q.quarantined_ns, q.raw)
            for i, q in enumerate(items, start=1)
        ]
        self._f.executemany(
            self.conn,
            self._f.sql(
                "INSERT INTO quarantine (session_id, n, seq, reason, quarantined_ns, raw)"
                " VALUES (?, ?, ?, ?, ?, ?)"
            ),
            params,
        )

    def last_run(self) -> RunInfo | None:
        row = self._x(
            "SELECT run_id, started_ns, stopped_ns, pid, hostname FROM runs"
            " WHERE session_id = ? ORDER BY n DESC LIMIT 1",
            (self._sid,),
        ).fetchone()
        return None if row is None else _run(row)

    def insert_run(self, run: RunInfo) -> None:
        row = self._x(
            "SELECT COALESCE(MAX(n), 0) FROM runs WHERE session_id = ?", (self._sid,)
        ).fetchone()
        self._x(
            "INSERT INTO runs (session_id, n, run_id, started_ns, stopped_ns, pid, hostname)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                self._sid,
                int(row[0]) + 1,
                run.run_id,
                run.started_ns,
                run.stopped_ns,
                run.pid,
                run.hostname,
            ),
        )

    def close_run(self, run_id: str, stopped_ns: int) -> bool:
        row = self._x(
            "SELECT MAX(n) FROM runs WHERE session_id = ? AND run_id = ?", (self._sid, run_id)
        ).fetchone()
        if row is None or row[0] is None:
            return False
        self._x(
            "UPDATE runs SET stopped_ns = ? WHERE session_id = ? AND n = ?",
            (stopped_ns, self._sid, row[0]),
        )
        return True

    def is_empty(self) -> bool:
        tables = ["journal", "snapshots", "runs"] + (["quarantine"] if self._has_quarantine else [])
        for table in tables:
            row = self._x(f"SELECT 1 FROM {table} WHERE session_id = ? LIMIT 1", (self._sid,))
            if row.fetchone() is not None:
                return False
        return True


class SqlStore(WriterStore):
    """The read half of the contract in SQL; subclasses open the connections."""

    _flavor: SqlFlavor
    _version: int

    def __init__(self) -> None:
        self._readers: list[Any] = []
        self._readers_lock = threading.Lock()
        self._local = threading.local()
        self._generation = 0

    @abc.abstractmethod
    def _connect_reader(self) -> Any:
        """A new read connection (autocommit) for the calling thread."""

    def _reader(self) -> Any:
        self._check_open()
        conn = getattr(self._local, "conn", None)
        # A thread's connection is stale once _close_reads ran (new generation).
        if conn is None or getattr(self._local, "generation", -1) != self._generation:
            conn = self._connect_reader()
            self._local.conn = conn
            self._local.generation = self._generation
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def _close_reads(self) -> None:
        with self._readers_lock:
            readers, self._readers = self._readers, []
            self._generation += 1
        for conn in readers:
            # Closing a connection that already died is fine.
            with contextlib.suppress(Exception):
                conn.close()

    def _fetch(self, statement: str, params: Sequence[Any] = ()) -> list[Any]:
        try:
            rows: list[Any] = self._reader().execute(self._flavor.sql(statement), params).fetchall()
        except StoreError:
            raise
        except Exception as exc:
            raise self._flavor.translate(exc, f"reading {self.url}") from exc
        return rows

    def read(self, after_seq: int = 0, limit: int | None = None) -> Iterator[StoredRecord]:
        """Records after ``after_seq`` in seq order, fetched in keyset pages (no long
        read transaction is held between pages, so an abandoned iterator costs nothing)."""
        columns = _record_columns(self._version >= 2)
        left = limit
        while left is None or left > 0:
            page = _READ_PAGE if left is None else min(left, _READ_PAGE)
            rows = self._fetch(
                f"SELECT {columns} FROM journal WHERE session_id = ? AND seq > ?"
                " ORDER BY session_id, seq LIMIT ?",
                (self.session_id, after_seq, page),
            )
            if not rows:
                return
            records = [StoredRecord(*r) for r in rows]
            yield from records
            after_seq = records[-1].seq
            if left is not None:
                left -= len(records)
            if len(rows) < page:
                return

    def last_seq(self) -> int:
        """Highest stored seq (0 when empty)."""
        rows = self._fetch("SELECT MAX(seq) FROM journal WHERE session_id = ?", (self.session_id,))
        if not rows or rows[0][0] is None:
            return 0
        value = rows[0][0]
        if not isinstance(value, int):  # a damaged row: SQLite sorts text after integers
            raise StoreError(f"{self.url}: the journal's highest seq reads back as {value!r:.40}")
        return value

    def last_record(self) -> StoredRecord | None:
        """The newest journal record."""
        rows = self._fetch(
            f"SELECT {_record_columns(self._version >= 2)} FROM journal WHERE session_id = ?"
            " ORDER BY seq DESC LIMIT 1",
            (self.session_id,),
        )
        return _record(rows[0]) if rows else None

    def quarantined(self) -> list[QuarantinedRecord]:
        """Everything quarantined, oldest first."""
        if self._version < 2:
            return []
        rows = self._fetch(
            "SELECT seq, reason, quarantined_ns, raw FROM quarantine WHERE session_id = ?"
            " ORDER BY n",
            (self.session_id,),
        )
        return [QuarantinedRecord(r[0], r[1], r[2], bytes(r[3])) for r in rows]

    def current_epoch(self) -> int:
        """The epoch appends must carry."""
        rows = self._fetch("SELECT epoch FROM sessions WHERE session_id = ?", (self.session_id,))
        return int(rows[0][0]) if rows else 0

    def snapshots(self) -> list[SnapshotInfo]:
        """Snapshot metadata, newest first."""
        rows = self._fetch(
            "SELECT seq, version, ts_ns, LENGTH(payload) FROM snapshots WHERE session_id = ?"
            " ORDER BY seq DESC",
            (self.session_id,),
        )
        return [SnapshotInfo(r[0], r[1], r[2], r[3]) for r in rows]

    def load_snapshot(self, seq: int) -> SnapshotRecord:
        """The snapshot at ``seq`` as stored."""
        rows = self._fetch(
            "SELECT seq, version, ts_ns, payload, crc FROM snapshots"
            " WHERE session_id = ? AND seq = ?",
            (self.session_id, seq),
        )
        if not rows:
            raise StoreError(f"no snapshot at seq {seq} in {self.url}")
        r = rows[0]
        # A damaged row may hold text where the payload was: recovery names it, not bytes().
        payload = bytes(r[3]) if isinstance(r[3], bytes | bytearray | memoryview) else r[3]
        return SnapshotRecord(r[0], r[1], r[2], payload, r[4])

    def last_run(self) -> RunInfo | None:
        """The newest run marker."""
        rows = self._fetch(
            "SELECT run_id, started_ns, stopped_ns, pid, hostname FROM runs"
            " WHERE session_id = ? ORDER BY n DESC LIMIT 1",
            (self.session_id,),
        )
        return _run(rows[0]) if rows else None

    def runs(self) -> list[RunInfo]:
        """Every run marker, oldest first."""
        rows = self._fetch(
            "SELECT run_id, started_ns, stopped_ns, pid, hostname FROM runs"
            " WHERE session_id = ? ORDER BY n",
            (self.session_id,),
        )
        return [_run(r) for r in rows]

    def schema_version(self) -> int:
        """The newest migration applied to this store."""
        return self._version

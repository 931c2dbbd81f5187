"""A thin adapter that lets an apsw connection stand in for a ``sqlite3`` connection.

``SqliteStore(connect=...)`` uses only ``execute(sql, params)`` (an iterable cursor with
``fetchone``/``fetchall``), ``executemany``, explicit transaction statements and
``close()``. apsw errors are translated into the ``sqlite3`` exceptions the store already
maps into tradeguard's error tree, so the store cannot tell the difference.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

import apsw

__all__ = ["ApswConnection", "apsw_connect_factory"]

_INTEGRITY = (apsw.ConstraintError,)
_DATABASE = (apsw.CorruptError, apsw.NotADBError, apsw.FormatError)


def _translate(exc: apsw.Error) -> sqlite3.Error:
    """The sqlite3 exception (with sqlite3's message and error code) for an apsw one."""
    code = int(getattr(exc, "extendedresult", 0) or getattr(exc, "result", 0) or 0)
    message = str(exc)
    if isinstance(exc, apsw.IOError):
        message, code = "disk I/O error", code or 10  # SQLITE_IOERR
    cls: type[sqlite3.Error]
    if isinstance(exc, _INTEGRITY):
        cls = sqlite3.IntegrityError
    elif isinstance(exc, _DATABASE):
        cls = sqlite3.DatabaseError
    else:
        # I/O errors, busy, locked, full: what sqlite3 reports as OperationalError.
        cls = sqlite3.OperationalError
    err = cls(message)
    err.sqlite_errorcode = code  # type: ignore[attr-defined]
    err.sqlite_errorname = apsw.mapping_result_codes.get(code & 0xFF, "")  # type: ignore[attr-defined]
    return err


class _Cursor:
    """The result of one statement, materialized (apsw cursors die with the next call)."""

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self._rows = rows
        self._pos = 0

    def __iter__(self) -> _Cursor:
        return self

    def __next__(self) -> tuple[Any, ...]:
        if self._pos >= len(self._rows):
            raise StopIteration
        row = self._rows[self._pos]
        self._pos += 1
        return row

    def fetchone(self) -> tuple[Any, ...] | None:
        return next(self, None)

    def fetchall(self) -> list[tuple[Any, ...]]:
        rest = self._rows[self._pos :]
        self._pos = len(self._rows)
        return rest


class ApswConnection:
    """``sqlite3.Connection``-shaped wrapper over ``apsw.Connection`` (autocommit mode)."""

    def __init__(self, path: str, *, vfs: str | None = None) -> None:
        try:
            if vfs is None:
                self._conn = apsw.Connection(path)
            else:
                self._conn = apsw.Connection(path, vfs=vfs)
        except apsw.Error as exc:
            raise _translate(exc) from exc

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> _Cursor:
        try:
            return _Cursor([tuple(row) for row in self._conn.execute(sql, params)])
        except apsw.Error as exc:
            raise _translate(exc) from exc

    def executemany(self, sql: str, seq: Iterable[Sequence[Any]]) -> _Cursor:
        try:
            return _Cursor([tuple(row) for row in self._conn.executemany(sql, list(seq))])
        except apsw.Error as exc:
            raise _translate(exc) from exc

    def commit(self) -> None:
        """No-op: transactions are explicit statements (like isolation_level=None)."""

    def close(self) -> None:
        # After a power cut every call fails; the fds are released regardless.
        with contextlib.suppress(apsw.Error):
            self._conn.close(True)


def apsw_connect_factory(vfs: str) -> Any:
    """A ``connect(path)`` callable that opens every connection through ``vfs``."""

    def connect(path: str) -> ApswConnection:
        return ApswConnection(path, vfs=vfs)

    return connect

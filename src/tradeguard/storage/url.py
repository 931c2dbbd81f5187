"""Store URLs and paths: the one conversion between them, and ``open_store``.

A SQLite store is a data directory holding ``tradeguard.db`` (a path ending in ``.db``
names the file itself: how backups are opened). Its URL follows SQLAlchemy's
convention, so what a user already knows holds here:

- ``sqlite:///rel/dir`` (three slashes) is relative to the working directory, and so
  is ``sqlite:///./rel/dir`` (the config default is ``sqlite:///./tradeguard-data``);
- ``sqlite:////abs/dir`` (four slashes) is absolute;
- ``sqlite:///~/dir`` starts in the home directory;
- a plain path (``./data``, ``/srv/data``, ``~/data``) means the same as its URL;
- spaces may be written as they are; ``%`` escapes are decoded (``%20``, ``%25``).

Relative paths are resolved against the working directory when they are parsed, so
every part of tradeguard (store, logs, backups, simulator state) agrees on one absolute
directory. ``store_url_for_dir`` turns a directory back into its (absolute) URL.

Other backends: ``postgresql://user@host:port/db[?schema=NAME]`` (or ``postgres://``)
and ``memory://`` (fresh each time) or ``memory://NAME`` (shared within the process).
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote, unquote

from tradeguard.errors import StoreError
from tradeguard.storage.base import Store

__all__ = [
    "DB_NAME",
    "absolute_path",
    "is_sqlite_location",
    "open_store",
    "sqlite_data_dir",
    "sqlite_files",
    "sqlite_path_from_url",
    "store_url_for_dir",
]

DB_NAME = "tradeguard.db"
_DB_SUFFIXES = frozenset({".db", ".sqlite", ".sqlite3"})
_PREFIX = "sqlite://"


def absolute_path(path: str | Path) -> Path:
    """``path`` with ``~`` expanded, made absolute against the working directory."""
    return Path(os.path.abspath(os.path.expanduser(os.fspath(path))))


def _scheme(text: str) -> str:
    return text.split("://", 1)[0].lower() if "://" in text else ""


def is_sqlite_location(url_or_path: str | Path) -> bool:
    """True for a ``sqlite://`` URL or a plain path (both name a SQLite store)."""
    return isinstance(url_or_path, Path) or _scheme(url_or_path) in {"", "sqlite"}


def sqlite_path_from_url(url: str) -> Path:
    """The absolute filesystem path a ``sqlite://`` URL names (see the module docstring).

    Raises ``StoreError`` for a URL that names no path or has a host part
    (``sqlite://dir``: write ``sqlite:///dir`` or ``sqlite:////abs/dir``).
    """
    if _scheme(url) != "sqlite":
        raise StoreError(f"{url!r} is not a sqlite:// URL")
    rest = url[len(_PREFIX) :]
    if not rest.startswith("/"):
        raise StoreError(
            f"sqlite URL {url!r} has a host part: write sqlite:///relative/dir or "
            "sqlite:////absolute/dir"
        )
    path = unquote(rest[1:])  # the third slash separates the (empty) host from the path
    if path.strip("/") in {"", "."}:
        raise StoreError(f"sqlite URL {url!r} names no directory")
    return absolute_path(path)


def store_url_for_dir(path: str | Path) -> str:
    """The ``sqlite://`` URL of a data directory (or ``.db`` file): absolute, so it means
    the same from any working directory. ``sqlite_path_from_url`` inverts it exactly."""
    absolute = absolute_path(path)
    # Only what would change the meaning on the way back is escaped: spaces stay legible.
    return _PREFIX + "/" + quote(str(absolute), safe="/ ~!$&'()*+,;=:@-._")


def _store_path(url_or_path: str | Path) -> Path:
    if isinstance(url_or_path, Path) or not _scheme(url_or_path):
        return absolute_path(url_or_path)
    return sqlite_path_from_url(url_or_path)


def sqlite_files(url_or_path: str | Path) -> tuple[Path, Path]:
    """``(data_dir, db_file)`` of a SQLite store URL or path, both absolute.

    A directory holds ``tradeguard.db``; a path ending in ``.db`` (or naming an existing
    file) is the database file itself, and its directory is the data directory.
    """
    path = _store_path(url_or_path)
    if path.suffix in _DB_SUFFIXES or path.is_file():
        return path.parent, path
    return path, path / DB_NAME


def sqlite_data_dir(url_or_path: str | Path) -> Path | None:
    """The data directory of a SQLite store URL or path; None for other backends."""
    if not is_sqlite_location(url_or_path):
        return None
    return sqlite_files(url_or_path)[0]


def _refuse_absolute_meant_as_relative(url: str, path: Path) -> None:
    """``sqlite:///srv/data`` used to mean ``/srv/data``; now it is relative. When the
    relative reading holds nothing and the absolute one holds a store, opening (and
    creating) the relative one would silently fork the journal: refuse instead."""
    rest = unquote(url[len(_PREFIX) + 1 :])
    if rest.startswith(("/", ".", "~")) or path.exists():
        return
    _, legacy_db = sqlite_files(Path("/" + rest))
    if legacy_db.is_file():
        raise StoreError(
            f"{url!r} names {path} (three slashes: relative to the working directory), "
            f"which does not exist, but {legacy_db} holds a store; write "
            f"{store_url_for_dir(legacy_db.parent)!r} for the absolute path"
        )


def open_store(
    url_or_path: str | Path,
    *,
    session_id: str = "default",
    create: bool = True,
    synchronous: str = "FULL",
    readonly: bool = False,
    accept_loss: bool = False,
) -> Store:
    """Open (by default creating) the store at ``url_or_path``.

    ``create=False`` raises ``StoreNotFoundError`` when there is no store there, and
    ``readonly=True`` (for ``verify``/``journal``) changes nothing at all: no file is
    created, no migration runs (a pending one is an error), writes raise ``StoreError``.
    A SQLite store whose files show lost committed data raises ``StoreDamagedError``
    unless ``accept_loss`` (then it opens with what is readable; see ``storeguard``).
    """
    text = str(url_or_path) if isinstance(url_or_path, Path) else url_or_path
    if readonly:
        create = False
    scheme = _scheme(text)
    if scheme in {"postgresql", "postgres"}:
        from tradeguard.storage.postgres import PostgresStore

        return PostgresStore(text, session_id=session_id, create=create, readonly=readonly)
    if scheme == "memory":
        from tradeguard.storage.memory import MemoryStore

        return MemoryStore(text[len("memory://") :], session_id=session_id)
    if scheme in {"sqlite", ""}:
        from tradeguard.storage.sqlite import SqliteStore

        path = _store_path(text)
        if scheme:
            _refuse_absolute_meant_as_relative(text, path)
        return SqliteStore(
            path,
            session_id=session_id,
            create=create,
            readonly=readonly,
            synchronous=synchronous,
            accept_loss=accept_loss,
        )
    raise StoreError(
        f"unknown store URL scheme {scheme!r} in {text!r}: use sqlite://, postgresql:// or "
        "memory://"
    )

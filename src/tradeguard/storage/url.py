"""``open_store``: one entry point that picks the backend from a URL or a path.

- ``sqlite:///abs/dir``, ``sqlite:///./rel/dir`` (or a plain path): a SQLite store whose
  data directory holds ``tradeguard.db``; a path ending in ``.db`` names the file itself
  (how backups are opened).
- ``postgresql://user@host:port/db[?schema=NAME]`` (or ``postgres://``): PostgreSQL.
- ``memory://`` (fresh each time) or ``memory://NAME`` (shared within the process).
"""

from __future__ import annotations

from pathlib import Path

from tradeguard.errors import StoreError
from tradeguard.storage.base import Store

__all__ = ["open_store", "sqlite_path_from_url"]


def sqlite_path_from_url(url: str) -> Path:
    """The filesystem path of a ``sqlite://`` URL.

    ``sqlite:///abs/dir`` is absolute, ``sqlite:///./dir`` and ``sqlite://dir`` are
    relative to the working directory (DESIGN.md's default is ``sqlite:///./tradeguard-data``).
    """
    rest = url[len("sqlite://") :]
    if rest.startswith(("/./", "/../")):
        rest = rest[1:]
    if not rest or rest == "/":
        raise StoreError(f"sqlite URL {url!r} names no directory")
    return Path(rest)


def open_store(
    url_or_path: str | Path,
    *,
    session_id: str = "default",
    create: bool = True,
    synchronous: str = "FULL",
    readonly: bool = False,
) -> Store:
    """Open (by default creating) the store at ``url_or_path``.

    ``create=False`` raises ``StoreNotFoundError`` when there is no store there, and
    ``readonly=True`` (for ``verify``/``journal``) changes nothing at all: no file is
    created, no migration runs (a pending one is an error), writes raise ``StoreError``.
    """
    text = str(url_or_path) if isinstance(url_or_path, Path) else url_or_path
    if readonly:
        create = False
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme in {"postgresql", "postgres"}:
        from tradeguard.storage.postgres import PostgresStore

        return PostgresStore(text, session_id=session_id, create=create, readonly=readonly)
    if scheme == "memory":
        from tradeguard.storage.memory import MemoryStore

        return MemoryStore(text[len("memory://") :], session_id=session_id)
    if scheme in {"sqlite", ""}:
        from tradeguard.storage.sqlite import SqliteStore

        path = sqlite_path_from_url(text) if scheme else Path(text)
        return SqliteStore(
            path,
            session_id=session_id,
            create=create,
            readonly=readonly,
            synchronous=synchronous,
        )
    raise StoreError(
        f"unknown store URL scheme {scheme!r} in {text!r}: use sqlite://, postgresql:// or "
        "memory://"
    )

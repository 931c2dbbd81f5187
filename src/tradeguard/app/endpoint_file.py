"""Where a running service serves its API: a small file beside the store.

While ``tradeguard run`` serves HTTP it keeps ``http-endpoint.json`` in the SQLite data
directory: its URL, process id, host and session id (mode 0600; no secret in it). A
command that finds the session running (``tradeguard resolve``) reads it to talk to the
service instead of taking over the store. The file is removed at a clean stop; after a
crash it is left behind, so a reader trusts it only when its pid is the running
session's (see :func:`read_endpoint`). Stores that are not SQLite have no data
directory: no file (the command falls back to ``[http] host``/``port``).
"""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path
from typing import Final

import msgspec

from tradeguard.logs import get_logger
from tradeguard.private_dirs import make_private_dir
from tradeguard.storage.url import sqlite_data_dir

__all__ = ["ENDPOINT_FILE", "Endpoint", "endpoint_path", "publish_endpoint", "read_endpoint",
           "withdraw_endpoint"]

ENDPOINT_FILE: Final = "http-endpoint.json"

_log = get_logger("tradeguard.app")


class Endpoint(msgspec.Struct, frozen=True, kw_only=True):
    """A running service's API: ``url`` (``http://host:port``), who serves it."""

    url: str
    pid: int
    hostname: str
    session_id: str


def endpoint_path(store_url: str) -> Path | None:
    """The endpoint file of the store at ``store_url`` (None: not a SQLite store)."""
    data_dir = sqlite_data_dir(store_url)
    return None if data_dir is None else data_dir / ENDPOINT_FILE


def publish_endpoint(store_url: str, url: str, *, session_id: str) -> Path | None:
    """Write this process's endpoint file (atomically, mode 0600); None if there is
    no place for one. A failure to write is logged, never raised: the service runs on,
    only ``tradeguard resolve`` cannot find it."""
    path = endpoint_path(store_url)
    if path is None:
        return None
    endpoint = Endpoint(url=url, pid=os.getpid(), hostname=socket.gethostname(),
                        session_id=session_id)
    tmp = path.with_name(f".{ENDPOINT_FILE}.{os.getpid()}.tmp")
    try:
        make_private_dir(path.parent)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)  # an old file of another umask keeps no wider mode
            os.write(fd, msgspec.json.encode(endpoint) + b"\n")
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        _log.warning("cannot write the API endpoint file; `tradeguard resolve` will not "
                     "find the running service", path=str(path), error=str(exc))
        return None
    return path


def withdraw_endpoint(store_url: str) -> None:
    """Remove the endpoint file if this process wrote it (never another run's)."""
    path = endpoint_path(store_url)
    if path is None:
        return
    endpoint = _load(path)
    if endpoint is None or endpoint.pid != os.getpid():
        return
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def read_endpoint(store_url: str, *, pid: int, session_id: str) -> Endpoint | None:
    """The endpoint of the run with process id ``pid`` on this host serving
    ``session_id``, or None (no file, unreadable, or another run's: left by a crash)."""
    path = endpoint_path(store_url)
    if path is None:
        return None
    endpoint = _load(path)
    if endpoint is None or endpoint.pid != pid or endpoint.session_id != session_id:
        return None
    if endpoint.hostname != socket.gethostname():
        return None
    return endpoint


def _load(path: Path) -> Endpoint | None:
    try:
        return msgspec.json.decode(path.read_bytes(), type=Endpoint)
    except (OSError, msgspec.DecodeError):
        return None

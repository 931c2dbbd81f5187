"""Shared fixtures: a real PostgreSQL for the tests that need one; no fixed HTTP port.

The suite runs in parallel (``make test``: pytest-xdist workers), so nothing a test
starts may take a fixed port or a fixed file. A service in this process that asks for
the dashboard's default port (8765, what ``make run`` serves) fails the test at once
(give ``http=HttpSettings(port=0)`` or ``enabled=False``); a ``tradeguard run``
subprocess needs ``--http 127.0.0.1:0`` or ``--no-http``.

``pg_url`` gives each test its own throwaway schema (dropped afterwards) on:
1. the server at 127.0.0.1:5432 (database ``test``, user ``postgres``, trust auth: CI);
2. else a throwaway cluster started with initdb/pg_ctl from /usr/lib/postgresql/*/bin
   (as the ``postgres`` user when we are root, since initdb refuses root);
3. else the test is skipped with a loud reason.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

CI_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _reachable(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class _Cluster:
    """A throwaway PostgreSQL cluster in a temporary directory."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="tg-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self._as_postgres = os.geteuid() == 0

    def _run(self, *args: str) -> None:
        cmd = list(args)
        if self._as_postgres:
            if shutil.which("runuser") is None:
                pytest.skip("initdb refuses root and runuser is missing: no PostgreSQL")
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    def start(self) -> str:
        if self._as_postgres:
            shutil.chown(self.root, user="postgres")
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
        )
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-w",
            "-l",
            str(self.root / "log"),
            "-o",
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off",
            "start",
        )
        url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE DATABASE test")
        return f"postgresql://postgres@127.0.0.1:{self.port}/test"

    def stop(self) -> None:
        try:
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In an xdist worker, the tests marked ``slow`` go first (in their own order): with
    ``--dist loadfile --no-loadscope-reorder`` (make test) their modules are handed out
    first, so no long module is left for the end while the other workers sit idle."""
    if hasattr(config, "workerinput"):
        items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(autouse=True, scope="session")
def _no_default_http_port() -> Iterator[None]:
    """An in-process HttpServer on the default port fails the test that made it: two
    workers, or a developer's ``make run``, would fight over it."""
    from tradeguard.web.config import DEFAULT_HTTP_PORT
    from tradeguard.web.server import HttpServer

    original = HttpServer.__init__

    def guarded(self: HttpServer, app: Any, *, host: str, port: int, **kwargs: Any) -> None:
        if port == DEFAULT_HTTP_PORT:
            raise AssertionError(
                f"a test serves HTTP on the fixed default port {port}: use "
                "HttpSettings(port=0) or enabled=False (tradeguard run: --http "
                "127.0.0.1:0 or --no-http)"
            )
        original(self, app, host=host, port=port, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(HttpServer, "__init__", guarded)
        yield


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """URL of a PostgreSQL database for this test session (see the module docstring)."""
    if _reachable(CI_PG_URL):
        yield CI_PG_URL
        return
    bindirs = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not bindirs:
        pytest.skip(
            "!!! NO POSTGRESQL: 127.0.0.1:5432 refused postgresql://postgres@127.0.0.1:5432/"
            "test and no /usr/lib/postgresql/*/bin/initdb exists: PostgreSQL tests SKIPPED !!!"
        )
    cluster = _Cluster(Path(bindirs[-1]).parent)
    try:
        url = cluster.start()
    except (subprocess.SubprocessError, OSError, psycopg.Error) as exc:
        cluster.stop()
        pytest.skip(f"!!! could not start a throwaway PostgreSQL cluster ({exc}): SKIPPED !!!")
    try:
        yield url
    finally:
        cluster.stop()


@pytest.fixture
def pg_url_factory(pg_server: str) -> Iterator[Callable[[], str]]:
    """Make ``postgresql://...?schema=tg_test_<random>`` URLs; all dropped after the test."""
    schemas: list[str] = []

    def make() -> str:
        schema = f"tg_test_{uuid.uuid4().hex[:16]}"
        schemas.append(schema)
        return f"{pg_server}?schema={schema}"

    yield make
    with psycopg.connect(pg_server, autocommit=True) as conn:
        for schema in schemas:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def pg_url(pg_url_factory: Callable[[], str]) -> str:
    """``postgresql://...?schema=tg_test_<random>``: a throwaway schema, dropped after."""
    return pg_url_factory()

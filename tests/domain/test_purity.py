"""The domain is pure: it imports no adapter package and no I/O module.

The import graph is read from the source (``ast``), including imports inside functions,
so a lazy import cannot slip through.
"""

from __future__ import annotations

import ast
import pkgutil
from pathlib import Path

import tradeguard.domain

FORBIDDEN_TRADEGUARD = (
    "tradeguard.storage",
    "tradeguard.exchange",
    "tradeguard.sim",
    "tradeguard.recovery",
    "tradeguard.cli",
    "tradeguard.web",
    "tradeguard.health",
)
ALLOWED_TRADEGUARD = ("tradeguard.domain", "tradeguard.errors")
FORBIDDEN_MODULES = frozenset(
    {
        "sqlite3",
        "psycopg",
        "psycopg2",
        "apsw",
        "sqlalchemy",
        "ccxt",
        "aiohttp",
        "socket",
        "ssl",
        "select",
        "selectors",
        "asyncio",
        "os",
        "io",
        "pathlib",
        "shutil",
        "tempfile",
        "subprocess",
        "threading",
        "multiprocessing",
        "mmap",
        "fcntl",
        "http",
        "urllib",
        "logging",
        "structlog",
        "time",
        "random",
        "signal",
    }
)


def _imports(source: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _violations(source: str) -> list[str]:
    bad = []
    for name in sorted(_imports(source)):
        root = name.split(".")[0]
        if (
            root in FORBIDDEN_MODULES
            or name.startswith(FORBIDDEN_TRADEGUARD)
            or (
                root == "tradeguard"
                and name != "tradeguard"
                and not name.startswith(ALLOWED_TRADEGUARD)
            )
        ):
            bad.append(name)
    return bad


def _domain_sources() -> dict[str, str]:
    package_dir = Path(tradeguard.domain.__file__).parent
    sources = {"tradeguard.domain": (package_dir / "__init__.py").read_text()}
    for info in pkgutil.iter_modules([str(package_dir)]):
        sources[f"tradeguard.domain.{info.name}"] = (package_dir / f"{info.name}.py").read_text()
    return sources


def test_domain_imports_nothing_impure() -> None:
    sources = _domain_sources()
    assert {"tradeguard.domain.state", "tradeguard.domain.events"} <= set(sources)
    problems = {module: bad for module, src in sources.items() if (bad := _violations(src))}
    assert problems == {}


def test_the_check_catches_impure_imports() -> None:
    # A check that cannot fail proves nothing: feed it the imports it must refuse.
    assert _violations("import sqlite3") == ["sqlite3"]
    assert _violations("def f():\n    from os import path\n") == ["os", "os.path"]
    assert _violations("from tradeguard.storage.codec import encode_event") == [
        "tradeguard.storage.codec",
        "tradeguard.storage.codec.encode_event",
    ]
    assert _violations("import tradeguard.config") == ["tradeguard.config"]
    assert _violations("from tradeguard.errors import DomainError\nimport decimal") == []

"""The layering of the packages: which part of tradeguard may import which.

Read from the source with ``ast`` (imports inside functions count too, so a lazy import
cannot slip through), across every module of ``src/tradeguard``. One table of rules;
each names the packages a layer must not import (or the only ones it may), and why.

Entry points (``__main__`` modules) are exempt: they only hand the command line over.
"""

from __future__ import annotations

import ast
from pathlib import Path

import tradeguard

SRC = Path(tradeguard.__file__).parent

EVERYTHING = "*"

# layer -> (only these layers, or EVERYTHING; minus these; why). A layer is the first
# name under ``tradeguard`` (``tradeguard.session.orders`` -> ``session``); a module always
# may import its own layer.
RULES: dict[str, tuple[frozenset[str] | str, frozenset[str], str]] = {
    "domain": (frozenset({"errors"}), frozenset(),
               "the pure core imports nothing of ours but the error tree"),
    "sim": (frozenset({"errors"}), frozenset(),
            "the simulator is the exchange, not the product: it shares only the error tree"),
    "exchange": (EVERYTHING, frozenset({"storage", "recovery", "reconcile", "session", "app",
                                        "cli", "chaos", "sim"}),
                 "the exchange adapter knows the domain, never the journal or the session"),
    "storage": (EVERYTHING, frozenset({"exchange", "recovery", "reconcile", "session", "app",
                                       "cli", "chaos", "sim", "strategies"}),
                "storage is below everything that uses it"),
    "reconcile": (EVERYTHING, frozenset({"storage", "session", "app", "cli", "chaos"}),
                  "reconciliation writes through its port (ReconcileJournal), not a store"),
    "session": (EVERYTHING, frozenset({"storage", "app", "cli", "chaos"}),
                "the session runs on a journal port (SessionJournalPort), not the concrete "
                "service or a store"),
    "app": (EVERYTHING, frozenset({"cli"}),
            "the runtime is what the command line calls, never the other way round"),
    "chaos": (EVERYTHING, frozenset({"cli"}), "the chaos trader runs the runtime, not the CLI"),
    "web": (frozenset({"errors", "logs", "config", "domain", "metrics"}), frozenset(),
            "the HTTP side serves a ServiceView port; it never reaches into the runtime, "
            "the session or the store"),
}
NOBODY_IMPORTS = {"cli": "the command line is the outermost layer; only __main__ starts it"}

# (importing module, imported module) -> why; each must be a lazy import (in a function).
EXCEPTIONS: dict[tuple[str, str], str] = {
    ("tradeguard.session.session", "tradeguard.app.service"):
        "Session.open(config) (public API) starts the app's LocalService when no service "
        "is given; the runtime always gives one",
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def imports_of(source: str) -> dict[str, bool]:
    """Every ``tradeguard...`` module ``source`` imports -> whether only lazily (inside
    functions; an import under ``if TYPE_CHECKING:`` is a module-level edge)."""
    tree = ast.parse(source)
    in_functions = {
        id(inner)
        for fn in ast.walk(tree) if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef)
        for inner in ast.walk(fn)
    }
    found: dict[str, bool] = {}
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            names = [node.module]
            if node.module == "tradeguard":  # from tradeguard import cli
                names = [f"tradeguard.{alias.name}" for alias in node.names]
        for name in names:
            if name.startswith("tradeguard."):
                lazy = id(node) in in_functions  # module level, TYPE_CHECKING too: not lazy
                found[name] = found.get(name, True) and lazy
    return found


def violations(module: str, source: str) -> list[str]:
    """Every forbidden import of ``module`` (given its source), one line each."""
    if module.rsplit(".", 1)[-1] == "__main__":
        return []
    layer = _layer(module)
    bad: list[str] = []
    for name, lazy in sorted(imports_of(source).items()):
        target = _layer(name)
        if target == layer:
            continue
        why = None
        if target in NOBODY_IMPORTS:
            why = NOBODY_IMPORTS[target]
        elif layer in RULES:
            only, never, reason = RULES[layer]
            if (only != EVERYTHING and target not in only) or target in never:
                why = reason
        if why is None:
            continue
        excused = next((r for (m, t), r in EXCEPTIONS.items()
                        if m == module and (name == t or name.startswith(t + "."))), None)
        if excused is not None and lazy:
            continue
        bad.append(f"{module} imports {name}: {why}")
    return bad


def _sources() -> dict[str, str]:
    return {_module_name(p): p.read_text() for p in sorted(SRC.rglob("*.py"))}


def test_every_package_keeps_to_its_layer() -> None:
    sources = _sources()
    assert {"tradeguard.app.runtime", "tradeguard.session.session", "tradeguard.sim.engine",
            "tradeguard.domain.state", "tradeguard.reconcile.run"} <= set(sources)
    problems = [line for module, src in sources.items() for line in violations(module, src)]
    assert problems == []


def test_every_exception_is_still_needed_and_lazy() -> None:
    # An exception nobody uses any more would silently allow the edge again.
    sources = _sources()
    for module, target in EXCEPTIONS:
        found = imports_of(sources[module])
        assert any(n == target or n.startswith(target + ".") for n in found), (module, target)
        assert all(lazy for n, lazy in found.items() if n.startswith(target)), (module, target)


def test_the_check_catches_each_kind_of_violation() -> None:
    # A check that cannot fail proves nothing: feed it the edges it must refuse.
    assert violations("tradeguard.domain.orders", "from tradeguard.config import Config") == [
        "tradeguard.domain.orders imports tradeguard.config: " + RULES["domain"][2]
    ]
    assert violations("tradeguard.domain.x", "from tradeguard.errors import DomainError") == []
    assert violations("tradeguard.sim.server", "def f():\n    import tradeguard.logs\n") == [
        "tradeguard.sim.server imports tradeguard.logs: " + RULES["sim"][2]
    ]
    # cli from anywhere, however it is spelled, except from an entry point.
    assert len(violations("tradeguard.app.runtime", "from tradeguard.cli.app import app")) == 1
    assert len(violations("tradeguard.strategies.grid", "from tradeguard import cli")) == 1
    assert violations("tradeguard.sim.__main__", "from tradeguard.cli.sim_cmd import x") == []
    assert violations("tradeguard.cli.run_cmd", "from tradeguard.cli.app import app") == []
    assert len(violations("tradeguard.reconcile.run",
                          "from tradeguard.storage.records import AppendResult")) == 1
    # The session may not import the concrete service or a store ...
    assert len(violations("tradeguard.session.orders",
                          "from tradeguard.app.service import LocalService")) == 1
    assert len(violations("tradeguard.session.ingest",
                          "from tradeguard.storage.sqlite import SqliteStore")) == 1
    assert len(violations(
        "tradeguard.session.unknown",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
        "    from tradeguard.app.service import LocalService\n")) == 1
    # ... and the one named exception holds only lazily, in its own module.
    lazy = "def open():\n    from tradeguard.app.service import LocalService\n"
    assert violations("tradeguard.session.session", lazy) == []
    assert len(violations("tradeguard.session.session",
                          "from tradeguard.app.service import LocalService")) == 1
    assert len(violations("tradeguard.session.orders", lazy)) == 1

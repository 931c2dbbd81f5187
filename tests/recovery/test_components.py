"""Component recovery steps run in dependency order; cycles are clear errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradeguard.errors import CyclicDependencyError, RecoveryError
from tradeguard.recovery.components import ComponentRegistry


def test_steps_run_in_dependency_order() -> None:
    ran: list[str] = []
    registry: ComponentRegistry[list[str]] = ComponentRegistry()
    registry.register("strategy", lambda c: c.append("strategy") or None, depends_on=["reconcile"])
    registry.register("reconcile", lambda c: c.append("reconcile") or None,
                      depends_on=["state", "exchange"])
    registry.register("exchange", lambda c: c.append("exchange") or None)
    registry.register("state", lambda c: c.append("state") or None, depends_on=["journal"])
    registry.register("journal", lambda c: c.append("journal") or None)
    seen: list[str] = []
    results = registry.run_all(ran, on_step=lambda name, i, n: seen.append(name))
    assert ran == seen == [r.name for r in results]
    assert ran.index("journal") < ran.index("state") < ran.index("reconcile")
    assert ran.index("exchange") < ran.index("reconcile") < ran.index("strategy")


def test_cycle_is_named_and_nothing_runs() -> None:
    ran: list[str] = []
    registry: ComponentRegistry[list[str]] = ComponentRegistry()
    registry.register("a", lambda c: c.append("a") or None, depends_on=["b"])
    registry.register("b", lambda c: c.append("b") or None, depends_on=["c"])
    registry.register("c", lambda c: c.append("c") or None, depends_on=["a"])
    with pytest.raises(CyclicDependencyError, match=r"depend on each other: (a|b|c) -> .* -> \1"):
        registry.run_all(ran)
    assert ran == []


def test_unknown_dependency_and_duplicate_names() -> None:
    registry: ComponentRegistry[None] = ComponentRegistry()
    registry.register("a", lambda c: None, depends_on=["ghost"])
    with pytest.raises(RecoveryError, match="ghost"):
        registry.order()
    with pytest.raises(RecoveryError, match="twice"):
        registry.register("a", lambda c: None)


def test_failing_step_stops_the_rest() -> None:
    ran: list[str] = []

    def boom(c: list[str]) -> str:
        raise RecoveryError("state could not be restored")

    registry: ComponentRegistry[list[str]] = ComponentRegistry()
    registry.register("state", boom)
    registry.register("after", lambda c: c.append("after") or None, depends_on=["state"])
    with pytest.raises(RecoveryError, match="could not be restored"):
        registry.run_all(ran)
    assert ran == []


@given(st.data())
def test_random_dags_respect_dependencies(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 12))
    names = [f"c{i}" for i in range(n)]
    registry: ComponentRegistry[None] = ComponentRegistry()
    deps: dict[str, list[str]] = {}
    for i, name in enumerate(names):
        # only earlier names: always acyclic
        deps[name] = data.draw(st.lists(st.sampled_from(names[:i]), unique=True)) if i else []
    for name in data.draw(st.permutations(names)):
        registry.register(name, lambda c: None, depends_on=deps[name])
    order = registry.order()
    assert sorted(order) == sorted(names)
    for name, ds in deps.items():
        for d in ds:
            assert order.index(d) < order.index(name)

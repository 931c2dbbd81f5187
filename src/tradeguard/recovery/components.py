"""Component recovery steps, run in dependency order.

Each component (journal, state, snapshots, backups, later the exchange gateway,
reconciliation, strategy) registers one recovery step and the components it depends on.
Steps run in topological order; a cycle or an unknown dependency is a clear error
before anything runs.
"""

from __future__ import annotations

import graphlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import msgspec

from tradeguard.errors import CyclicDependencyError, RecoveryError

__all__ = ["ComponentRegistry", "RecoveryStep", "StepResult"]

C = TypeVar("C")


@dataclass(frozen=True)
class RecoveryStep(Generic[C]):
    """One component's recovery: ``run(context)`` after every ``depends_on`` step."""

    name: str
    run: Callable[[C], str | None]
    depends_on: tuple[str, ...] = ()


class StepResult(msgspec.Struct, frozen=True):
    """What one step did (a step that fails raises instead), and how long it took."""

    name: str
    detail: str
    duration_ms: float


@dataclass
class ComponentRegistry(Generic[C]):
    """Registry of recovery steps; ``run_all`` executes them in dependency order."""

    _steps: dict[str, RecoveryStep[C]] = field(default_factory=dict)

    def register(
        self, name: str, run: Callable[[C], str | None], *, depends_on: Iterable[str] = ()
    ) -> None:
        """Register ``name``'s recovery step. Registering a name twice is an error."""
        if name in self._steps:
            raise RecoveryError(f"recovery step {name!r} is registered twice")
        self._steps[name] = RecoveryStep(name, run, tuple(depends_on))

    def order(self) -> list[str]:
        """Step names in an order that respects every dependency.

        Raises ``CyclicDependencyError`` naming the cycle, or ``RecoveryError`` naming an
        unknown dependency.
        """
        for step in self._steps.values():
            missing = [d for d in step.depends_on if d not in self._steps]
            if missing:
                raise RecoveryError(
                    f"recovery step {step.name!r} depends on unregistered {missing}"
                )
        sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter(
            {name: step.depends_on for name, step in self._steps.items()}
        )
        try:
            return list(sorter.static_order())
        except graphlib.CycleError as exc:
            cycle = " -> ".join(exc.args[1])
            raise CyclicDependencyError(f"recovery steps depend on each other: {cycle}") from exc

    def run_all(
        self,
        context: C,
        *,
        on_step: Callable[[str, int, int], None] | None = None,
    ) -> list[StepResult]:
        """Run every step in dependency order; stop at the first failure and re-raise it.

        ``on_step(name, index, total)`` is called before each step (for progress bars).
        """
        names = self.order()
        results: list[StepResult] = []
        for index, name in enumerate(names):
            if on_step is not None:
                on_step(name, index, len(names))
            started = time.perf_counter()
            detail = self._steps[name].run(context) or ""
            results.append(
                StepResult(name, detail, (time.perf_counter() - started) * 1000)
            )
        return results

"""The read side of the runtime's web view (JSON-ready data). (Skeleton.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from tradeguard.web.source import Json, LiveEvent

if TYPE_CHECKING:
    from tradeguard.app.runtime import Runtime

__all__ = ["ReadView"]


class ReadView:
    """Reads of :class:`~tradeguard.web.source.ServiceView` from a :class:`Runtime`."""

    runtime: Runtime

    def status(self) -> Json:
        raise NotImplementedError("status")

    def health(self) -> Json:
        raise NotImplementedError("health")

    def orders(self, *, status: str | None = None, symbol: str | None = None) -> list[Json]:
        raise NotImplementedError("orders")

    def positions(self) -> list[Json]:
        raise NotImplementedError("positions")

    def balances(self) -> list[Json]:
        raise NotImplementedError("balances")

    def reconciliations(self, *, limit: int = 20) -> list[Json]:
        raise NotImplementedError("reconciliations")

    def flags(self, *, include_resolved: bool = False) -> list[Json]:
        raise NotImplementedError("flags")

    def journal(self, *, after: int = 0, limit: int = 100) -> Json:
        raise NotImplementedError("journal")

    def live(self) -> AsyncIterator[LiveEvent]:
        raise NotImplementedError("live")

    def metrics(self) -> bytes:
        return self.runtime.metrics.exposition()

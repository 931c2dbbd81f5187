"""What the HTTP side needs from the running service: :class:`ServiceView`.

Every read returns JSON-ready data (dicts, lists, strings, ints, bools, None; decimals
as strings, times as integer nanoseconds plus ISO-8601 UTC text where a person reads
them). Every method raises only tradeguard errors: ``ServiceStartingError`` (503) while
the session is not open yet, ``NotFoundError`` (404), ``InvalidRequestError`` (400),
``ConflictError`` (409); the web layer turns them into JSON errors.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

__all__ = ["Json", "LiveEvent", "ServiceView"]

Json = dict[str, Any]

LiveEvent = tuple[str, Json]
"""One item of the live stream: (SSE event name, data). Names: ``journal`` (one journal
record: seq, type, ts_ns, ts_iso, epoch, fields), ``health`` (the health report when a
check changed, with the ``changes``), ``recovery`` (start-up progress), ``status`` (the
run changed: ``change`` is subscribed, started, paused, resumed or stopping),
``lagged`` (this reader fell behind and is dropped: reconnect and read afresh) and
``heartbeat`` (nothing happened for a while; the HTTP side writes an SSE comment)."""


class ServiceView(Protocol):
    """The running service as the dashboard and the API see it."""

    # --- reads -------------------------------------------------------------------------

    def status(self) -> Json:
        """What ``tradeguard status --json`` prints, plus the run (started, clean or
        recovered, epoch, leader, paused, uptime)."""
        ...

    def recovery(self) -> Json:
        """The last start-up: its figures and recovery actions; live progress while it
        runs (``phase``, ``done``, ``total``)."""
        ...

    def health(self) -> Json:
        """The latest health round: ``status`` (worst) and ``checks``."""
        ...

    def orders(self, *, status: str | None = None, symbol: str | None = None) -> list[Json]:
        """Orders, newest first, optionally only one status (``open`` for all live ones)
        or one symbol; ``InvalidRequestError`` for an unknown status."""
        ...

    def positions(self) -> list[Json]:
        """Positions with the mark price and unrealized PnL at it (None when unknown)."""
        ...

    def balances(self) -> list[Json]:
        """Balances per asset (free, locked, total)."""
        ...

    async def reconciliations(self, *, limit: int = 20) -> list[Json]:
        """Recent reconciliation reports, newest first, with their discrepancies and the
        corrective events they journaled."""
        ...

    def flags(self, *, include_resolved: bool = False) -> list[Json]:
        """Manual-intervention flags (open ones unless ``include_resolved``), each with
        the actions that resolve it."""
        ...

    async def journal(self, *, after: int = 0, limit: int = 100) -> Json:
        """Journal records after seq ``after`` (0: the newest ``limit``):
        ``{"records": [...], "last_seq": n}`` (read off the event loop)."""
        ...

    def series(self) -> Json:
        """The dashboard's charts: equity and journal append p99 sampled every few
        seconds (columns of equal length, oldest first)."""
        ...

    def live(self) -> AsyncIterator[LiveEvent]:
        """The live stream (journal records, health changes, recovery progress) from now
        on, until the service stops; each subscriber gets its own bounded queue (a slow
        reader loses events, never slows the session, and is told with a ``lagged``
        event)."""
        ...

    def metrics(self) -> bytes:
        """The Prometheus text exposition of the service's metrics."""
        ...

    # --- actions (the web layer has checked the token; ``who`` is its name) -----------

    async def resolve_flag(self, flag_id: str, *, action: str, note: str, who: str) -> Json:
        """Carry out ``action`` on the flag and resolve it (journaled with ``who``)."""
        ...

    async def reconcile_now(self, *, who: str) -> Json:
        """Run one reconciliation now; returns its report."""
        ...

    async def pause(self, *, who: str, note: str = "") -> Json:
        """Stop sending new orders (cancels still go out); returns the status."""
        ...

    async def resume(self, *, who: str, note: str = "") -> Json:
        """Allow new orders again; returns the status."""
        ...

"""The narrow ports the session stands on: a journal to write through, jobs to report to.

Session modules never see the store or the concrete service: the app's
``LocalService`` satisfies :class:`SessionJournalPort` structurally, and a test (or
another backend) can hand in anything else that does. Reconciliation's own port
(:class:`~tradeguard.reconcile.run.ReconcileJournal`) is the subset it needs.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from tradeguard.domain.events import AnyEvent
from tradeguard.errors import StaleEpochError
from tradeguard.reconcile.run import AppendedSeqs, ReconcileJournal
from tradeguard.recovery.manager import RecoveryReport

__all__ = ["AppendedSeqs", "JobRecorder", "SessionJournalPort", "describe_store_failure"]


class SessionJournalPort(ReconcileJournal, Protocol):
    """What a session needs of the durable core it runs on.

    ``append`` (from :class:`ReconcileJournal`) is durable before it returns;
    ``append_nowait`` applies at once and is durable when its future resolves.
    Once ``failure`` is set (store failed, fenced) nothing more is written.
    """

    @property
    def recovery(self) -> RecoveryReport:
        """What local recovery found and did at start."""

    @property
    def next_seq(self) -> int:
        """The seq the next appended event will get (client order ids derive from it)."""

    @property
    def failure(self) -> BaseException | None:
        """Why the service stopped writing for good, or None."""

    def append_nowait(self, events: list[AnyEvent]) -> asyncio.Future[Any]:
        """Apply and queue ``events`` now; the future resolves once they are durable."""

    async def wait_failed(self) -> BaseException:
        """Wait until the service stops writing for good; returns why."""

    def first_event_ts_ns(self) -> int | None:
        """Time of the store's first journaled event (None: an empty store)."""

    async def close(self) -> None:
        """Clean shutdown (nothing more is written after a failure)."""


class JobRecorder(Protocol):
    """Where a background job reports each pass (the runtime's job table)."""

    def started(self, name: str) -> None:
        """A pass of job ``name`` begins now."""

    def finished(self, name: str, *, error: BaseException | None = None) -> None:
        """The pass of job ``name`` ended: successfully, or with ``error``."""


def describe_store_failure(exc: BaseException) -> str:
    """One line saying why a service stopped writing and what the user does next."""
    if isinstance(exc, StaleEpochError):
        return (
            f"fenced: another writer took over this session's store ({exc}); this run "
            "stopped trading and writes nothing more; find the other writer "
            "(`tradeguard status`) before starting again"
        )
    return (
        f"the store failed ({exc}); this run stopped trading; every acknowledged record "
        "is on disk and the next start recovers the rest: fix the storage (disk space, "
        "I/O errors), then restart"
    )

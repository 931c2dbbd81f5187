"""The session journal: the in-memory state kept in step with the durable store.

``SessionJournal.append(events)`` validates the events against the state (applying
them), hands the encoded records to the store's group-commit queue in the same step,
and returns only once they are durable. Because apply and enqueue happen together,
without yielding to the event loop, the order of the state equals the order of the
sequence numbers. If the store fails (unknown outcome) or the writer lost its epoch,
the journal stops for good: the in-memory state may hold events that never became
durable, and only recovery from the store may say what is true.

Snapshots are encoded at a consistent point (between two appends) and written once the
journal has been committed up to their sequence number, off the append path.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import msgspec

from tradeguard.domain.events import AnyEvent
from tradeguard.domain.state import SessionState
from tradeguard.errors import StoreError, StoreFailedError
from tradeguard.logs import get_logger
from tradeguard.storage.base import Store
from tradeguard.storage.codec import encode_event, encode_state
from tradeguard.storage.records import AppendResult

__all__ = ["JournalStats", "SessionJournal", "SnapshotPolicy"]

_log = get_logger("tradeguard.journal")


class SnapshotPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """Take a snapshot every ``every_events`` events or ``every_seconds``; keep ``keep``."""

    every_events: int = 10_000
    every_seconds: float = 300.0
    keep: int = 3


class JournalStats(msgspec.Struct, frozen=True):
    """Counters for progress displays and health checks."""

    last_seq: int
    committed_seq: int
    appended_events: int
    snapshots_taken: int
    last_snapshot_seq: int | None
    last_snapshot_ms: float | None


class SessionJournal:
    """State plus store: the one way a running session changes its state."""

    def __init__(
        self,
        store: Store,
        state: SessionState,
        *,
        epoch: int,
        snapshot_policy: SnapshotPolicy | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
        log_events: bool = True,
    ) -> None:
        stored_last = store.last_seq()
        if state.last_seq != stored_last:
            raise StoreError(
                f"state is at seq {state.last_seq} but the journal ends at {stored_last}: "
                "run recovery first"
            )
        self.store = store
        self.state = state
        self.epoch = epoch
        self.policy = snapshot_policy or SnapshotPolicy()
        self._clock_ns = clock_ns
        self._log_events = log_events
        self._next_seq = stored_last + 1
        self._committed_seq = stored_last
        self._committed = asyncio.Condition()
        self._failure: BaseException | None = None
        self._appended = 0
        self._since_snapshot = 0
        self._last_snapshot_mono = time.monotonic()
        self._snapshot_task: asyncio.Task[int | None] | None = None
        self._snapshots_taken = 0
        self._last_snapshot_seq: int | None = None
        self._last_snapshot_ms: float | None = None

    @property
    def next_seq(self) -> int:
        """The seq the next appended event will get (client order ids derive from it)."""
        return self._next_seq

    @property
    def failed(self) -> BaseException | None:
        """Why the journal stopped accepting events, or None while it works."""
        return self._failure

    def stats(self) -> JournalStats:
        """Current counters."""
        return JournalStats(
            last_seq=self._next_seq - 1,
            committed_seq=self._committed_seq,
            appended_events=self._appended,
            snapshots_taken=self._snapshots_taken,
            last_snapshot_seq=self._last_snapshot_seq,
            last_snapshot_ms=self._last_snapshot_ms,
        )

    async def append(self, events: Sequence[AnyEvent]) -> AppendResult:
        """Apply ``events`` to the state and make them durable, all or nothing.

        Raises a ``DomainError`` (nothing changed, nothing written) when an event does
        not fit the state; ``StoreFailedError``/``StaleEpochError`` when the store
        failed: the journal then refuses every later append.
        """
        if self._failure is not None:
            raise StoreFailedError(f"journal stopped after an earlier failure: {self._failure}")
        if not events:
            raise ValueError("append needs at least one event")
        records = [encode_event(event) for event in events]
        first = self._next_seq
        self._apply(events, first)
        # Same synchronous step as the apply: queue order == state order == seq order.
        future = self.store.submit(records, epoch=self.epoch)
        self._next_seq = first + len(events)
        try:
            result = await asyncio.wrap_future(future)
        except BaseException as exc:
            self._fail(exc)
            raise
        if result.first_seq != first:
            diverged = StoreFailedError(
                f"journal sequence diverged: expected {first}, store assigned "
                f"{result.first_seq}; another writer may be active"
            )
            self._fail(diverged)
            raise diverged
        await self._mark_committed(result.last_seq)
        self._appended += len(events)
        self._since_snapshot += len(events)
        if self._log_events:
            for offset, event in enumerate(events):
                _log.info(records[offset].type, seq=first + offset, **_loggable(event))
        self._maybe_snapshot()
        return result

    def _apply(self, events: Sequence[AnyEvent], first: int) -> None:
        if len(events) == 1:
            self.state.apply(events[0], first)
            return
        # A batch must apply entirely or not at all: check it on a scratch copy first.
        scratch = self.state.copy()
        for offset, event in enumerate(events):
            scratch.apply(event, first + offset)
        for offset, event in enumerate(events):
            self.state.apply(event, first + offset)

    def _fail(self, exc: BaseException) -> None:
        if self._failure is None:
            self._failure = exc
            _log.error("journal stopped", error=str(exc), error_type=type(exc).__name__)

    async def _mark_committed(self, seq: int) -> None:
        async with self._committed:
            if seq > self._committed_seq:
                self._committed_seq = seq
                self._committed.notify_all()

    async def wait_committed(self, seq: int) -> None:
        """Wait until the journal is durable up to ``seq``."""
        async with self._committed:
            await self._committed.wait_for(lambda: self._committed_seq >= seq)

    def _maybe_snapshot(self) -> None:
        due = self._since_snapshot >= self.policy.every_events or (
            self._since_snapshot > 0
            and time.monotonic() - self._last_snapshot_mono >= self.policy.every_seconds
        )
        if due and (self._snapshot_task is None or self._snapshot_task.done()):
            self._snapshot_task = asyncio.create_task(self.snapshot())

    async def snapshot(self) -> int | None:
        """Snapshot the state now (encoded between appends), written once durable.

        Returns the snapshot's seq, or None when there is nothing new to snapshot.
        """
        seq = self.state.last_seq
        if seq in (0, self._last_snapshot_seq):
            return None
        started = time.perf_counter()
        version, payload = encode_state(self.state)
        self._since_snapshot = 0
        self._last_snapshot_mono = time.monotonic()
        await self.wait_committed(seq)
        await asyncio.to_thread(
            self.store.save_snapshot, seq, version, payload, keep=self.policy.keep
        )
        self._snapshots_taken += 1
        self._last_snapshot_seq = seq
        self._last_snapshot_ms = (time.perf_counter() - started) * 1000
        _log.info(
            "snapshot taken", seq=seq, bytes=len(payload), ms=round(self._last_snapshot_ms, 2)
        )
        return seq

    async def close(self) -> None:
        """Wait for a snapshot in progress; the store stays open (its owner closes it)."""
        if self._snapshot_task is not None:
            await asyncio.gather(self._snapshot_task, return_exceptions=True)


def _loggable(event: AnyEvent) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name in event.__struct_fields__:
        if name == "ts_ns":
            continue
        value = getattr(event, name)
        fields[name] = str(value) if isinstance(value, Decimal) else value
    return fields

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
import contextlib
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, NamedTuple

import msgspec

from tradeguard.domain.events import AnyEvent
from tradeguard.domain.state import SessionState
from tradeguard.errors import StoreError, StoreFailedError
from tradeguard.logs import get_logger
from tradeguard.storage.base import Store
from tradeguard.storage.codec import encode_event, encode_state
from tradeguard.storage.records import AppendResult, NewRecord

__all__ = ["AppendListener", "JournalStats", "SessionJournal", "SnapshotPolicy"]

AppendListener = Callable[[int, Sequence[AnyEvent]], None]
"""``listener(first_seq, events)``: told of every durable append (``add_listener``)."""


class _Staged(NamedTuple):
    """An append applied to the state and queued in the store, not yet durable."""

    events: Sequence[AnyEvent]
    records: list[NewRecord]
    first: int
    future: asyncio.Future[AppendResult]


def _consume_exception(task: asyncio.Future[AppendResult]) -> None:
    # The failure is recorded on the journal (``failed``) and logged there.
    if not task.cancelled():
        task.exception()

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
        self._listeners: list[AppendListener] = []

    def add_listener(self, listener: AppendListener) -> None:
        """Call ``listener(first_seq, events)`` on the loop for every append once it is
        durable, in seq order (the metrics, the dashboard's event stream). A listener
        that raises is logged and never fails the append."""
        self._listeners.append(listener)

    def remove_listener(self, listener: AppendListener) -> None:
        """Stop calling ``listener`` (no error if it was not added)."""
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

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
        staged = self._stage(events)
        cancelled: asyncio.CancelledError | None = None
        while True:
            try:
                result = await asyncio.shield(staged.future)
                break
            except asyncio.CancelledError as exc:
                # The records are queued and will commit whatever the caller does now,
                # and the state already holds them: finish the bookkeeping first, then
                # let the cancellation through.
                if staged.future.cancelled():
                    self._fail(exc)
                    raise
                cancelled = exc
            except BaseException as exc:
                self._fail(exc)
                raise
        result = self._settle(staged, result)
        await self._mark_committed(result.last_seq)
        if cancelled is not None:
            raise cancelled
        return result

    def append_nowait(self, events: Sequence[AnyEvent]) -> asyncio.Future[AppendResult]:
        """Apply and queue ``events`` now; the returned future resolves once durable.

        For answers the exchange can always be asked again (an acknowledgement after a
        durable intent): the caller goes on without waiting for the fsync, and a crash
        before it only means recovery looks the order up by its client order id.
        ``DomainError`` is raised at once; a store failure stops the journal (and is
        logged) exactly as with ``append``.
        """
        staged = self._stage(events)

        async def complete() -> AppendResult:
            try:
                result = await staged.future
            except BaseException as exc:
                self._fail(exc)
                raise
            result = self._settle(staged, result)
            await self._mark_committed(result.last_seq)
            return result

        task = asyncio.ensure_future(complete())
        task.add_done_callback(_consume_exception)
        return task

    def _stage(self, events: Sequence[AnyEvent]) -> _Staged:
        if self._failure is not None:
            raise StoreFailedError(f"journal stopped after an earlier failure: {self._failure}")
        if not events:
            raise ValueError("append needs at least one event")
        records = [encode_event(event) for event in events]
        first = self._next_seq
        self._apply(events, first)
        # Same synchronous step as the apply: queue order == state order == seq order.
        future = self.store.submit_async(records, epoch=self.epoch)
        self._next_seq = first + len(events)
        return _Staged(events, records, first, future)

    def _settle(self, staged: _Staged, result: AppendResult) -> AppendResult:
        """Bookkeeping after the commit: check the seqs, count, log, maybe snapshot."""
        if result.first_seq != staged.first:
            diverged = StoreFailedError(
                f"journal sequence diverged: expected {staged.first}, store assigned "
                f"{result.first_seq}; another writer may be active"
            )
            self._fail(diverged)
            raise diverged
        self._committed_seq = max(self._committed_seq, result.last_seq)
        self._appended += len(staged.events)
        self._since_snapshot += len(staged.events)
        if self._log_events:
            for offset, event in enumerate(staged.events):
                _log.info(staged.records[offset].type, seq=staged.first + offset,
                          **_loggable(event))
        self._maybe_snapshot()
        for listener in tuple(self._listeners):
            try:
                listener(staged.first, staged.events)
            except Exception as exc:  # noqa: BLE001 - an observer never fails an append
                _log.error("journal listener failed", error=str(exc),
                           error_type=type(exc).__name__)
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
            self._committed_seq = max(self._committed_seq, seq)
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

"""The live stream behind ``/api/events``: one hub, a bounded queue per subscriber.

:class:`LiveHub` hears every durable journal append (``SessionJournal.add_listener``,
on the loop, in seq order) and hands each record to every subscriber as a ``journal``
event, plus one ``health`` event for an append that holds ``HealthChanged`` records and
a ``status`` event for a pause or a resume (``TradingPaused``, ``TradingResumed``).
Anyone may :meth:`LiveHub.publish` more (``status``, ``recovery``), from any thread.

Publishing never waits: each subscriber has its own bounded queue, and one that is full
(its reader is slow) is emptied, given a ``lagged`` event and dropped; the session is
never slowed by a reader. A subscription that sees nothing for ``heartbeat_s`` yields a
``heartbeat`` (the HTTP side writes it as an SSE comment, which keeps proxies and the
browser's connection alive). :meth:`LiveHub.close` ends every subscription at once, so
the HTTP server can stop quickly.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from tradeguard.domain.events import AnyEvent, HealthChanged
from tradeguard.logs import get_logger
from tradeguard.web.source import Json, LiveEvent

if TYPE_CHECKING:
    from tradeguard.app.service import LocalService
    from tradeguard.storage.journal import SessionJournal

__all__ = ["DEFAULT_HEARTBEAT_S", "DEFAULT_QUEUE_SIZE", "LiveHub", "LiveSubscription", "Shape",
           "event_json", "iso_utc"]

_log = get_logger("tradeguard.app.live")

DEFAULT_QUEUE_SIZE = 2000
"""Events a subscriber may fall behind by before it is dropped (``lagged``)."""

DEFAULT_HEARTBEAT_S = 15.0

_END: LiveEvent = ("", {})  # the sentinel that ends a subscription

Shape = Callable[[LiveEvent], LiveEvent]
"""What one reader makes of a published event (``LiveHub.subscribe(shape=...)``)."""

_RUN_CHANGES = {"trading_paused": "paused", "trading_resumed": "resumed"}
"""Journal record types that change the run's status (a ``status`` event follows)."""


def iso_utc(ts_ns: int | None) -> str | None:
    """``ts_ns`` as ISO-8601 UTC text with milliseconds (``...Z``), None for None."""
    if ts_ns is None:
        return None
    moment = dt.datetime.fromtimestamp(ts_ns / 1e9, tz=dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event_json(seq: int, event: AnyEvent, *, epoch: int | None = None) -> Json:
    """One journal record as the API shows it: seq, type, ts_ns, ts_iso, epoch, fields
    (the event's own fields, decimals as strings)."""
    fields: dict[str, Any] = msgspec.to_builtins(event)
    kind = fields.pop("type")
    ts_ns = fields.pop("ts_ns")
    return {"seq": seq, "type": kind, "ts_ns": ts_ns, "ts_iso": iso_utc(ts_ns),
            "epoch": epoch, "fields": fields}


class LiveSubscription:
    """One reader's bounded queue of :data:`LiveEvent`; an async iterator that ends when
    the hub closes or drops it (after a ``lagged`` event).

    ``initial`` events come first; ``shape`` (if given) turns each queued event into
    what this reader gets. :meth:`take_ready` hands over, without waiting, everything
    already queued, so a writer can send a burst in one write.
    """

    def __init__(
        self, hub: LiveHub, *, queue_size: int, heartbeat_s: float,
        initial: Sequence[LiveEvent] = (), shape: Shape | None = None,
    ) -> None:
        self._hub = hub
        self._queue: asyncio.Queue[LiveEvent] = asyncio.Queue(maxsize=queue_size + 1)
        self._size = queue_size
        self._heartbeat_s = heartbeat_s
        self._initial = deque(initial)
        self._shape = shape
        self._ended = False  # the sentinel was taken: nothing more, ever
        self.closed = False
        self.lagged = False
        self.delivered = 0

    def offer(self, item: LiveEvent) -> None:
        """Queue ``item`` without waiting; a full queue drops this subscriber."""
        if self.closed:
            return
        if self._queue.qsize() >= self._size:
            self._lag()
            return
        self._queue.put_nowait(item)

    def _lag(self) -> None:
        dropped = 0
        while not self._queue.empty():
            self._queue.get_nowait()
            dropped += 1
        self.lagged = True
        self._queue.put_nowait(("lagged", {
            "dropped": dropped, "queue_size": self._size,
            "message": "this reader fell behind and was dropped: reconnect and read the "
                       "state afresh",
        }))
        self.end()

    def end(self) -> None:
        """No more events after those queued (the sentinel fits: one slot is kept)."""
        if self.closed:
            return
        self.closed = True
        self._hub.discard(self)
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(_END)

    def __aiter__(self) -> LiveSubscription:
        return self

    async def __anext__(self) -> LiveEvent:
        if self._initial:
            return self._initial.popleft()
        if self._ended or (self.closed and self._queue.empty()):
            raise StopAsyncIteration
        if not self._queue.empty():
            item = self._queue.get_nowait()  # no timer, no task: the common case
        else:
            try:
                item = await asyncio.wait_for(self._queue.get(), self._heartbeat_s)
            except TimeoutError:
                return ("heartbeat", {})
        if item is _END:
            self._ended = True
            raise StopAsyncIteration
        return self._deliverable(item)

    def take_ready(self) -> list[LiveEvent]:
        """Every event already queued, at once (never waits; may be empty)."""
        items = list(self._initial)
        self._initial.clear()
        while not self._ended and not self._queue.empty():
            item = self._queue.get_nowait()
            if item is _END:
                self._ended = True
                break
            items.append(self._deliverable(item))
        return items

    def _deliverable(self, item: LiveEvent) -> LiveEvent:
        self.delivered += 1
        return item if self._shape is None else self._shape(item)

    async def aclose(self) -> None:
        """The reader is gone (disconnected): leave the hub."""
        self.closed = True
        self._hub.discard(self)


class LiveHub:
    """Fans journal records, health changes and start-up progress out to subscribers."""

    def __init__(
        self, *, queue_size: int = DEFAULT_QUEUE_SIZE, heartbeat_s: float = DEFAULT_HEARTBEAT_S,
    ) -> None:
        self.queue_size = queue_size
        self.heartbeat_s = heartbeat_s
        self._subscribers: set[LiveSubscription] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._journal: SessionJournal | None = None
        self.lagged_total = 0

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran (the service stops)."""
        return self._closed

    @property
    def subscribers(self) -> int:
        """How many readers are subscribed now."""
        return len(self._subscribers)

    def attach(self, service: LocalService) -> None:
        """Start publishing every durable append of ``service``'s journal."""
        self._remember_loop()
        self._journal = service.journal
        service.journal.add_listener(self._on_append)

    def subscribe(
        self, *, initial: Sequence[LiveEvent] = (), shape: Shape | None = None,
    ) -> LiveSubscription:
        """A new subscription from now on (already ended if the hub is closed): first
        ``initial``, then every event published, each through ``shape``."""
        self._remember_loop()
        sub = LiveSubscription(self, queue_size=self.queue_size, heartbeat_s=self.heartbeat_s,
                               initial=initial, shape=shape)
        if self._closed:
            sub.end()
        else:
            self._subscribers.add(sub)
        return sub

    def discard(self, sub: LiveSubscription) -> None:
        """Forget ``sub`` (it ended or its reader left)."""
        if sub.lagged and sub in self._subscribers:
            self.lagged_total += 1
        self._subscribers.discard(sub)

    def publish(self, name: str, data: Json) -> None:
        """Hand ``(name, data)`` to every subscriber (never blocks; any thread)."""
        loop = self._loop
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is None or running is loop or not loop.is_running():
            self._deliver((name, data))
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody listens
            loop.call_soon_threadsafe(self._deliver, (name, data))

    def close(self) -> None:
        """End every subscription (the service stops)."""
        if self._closed:
            return
        self._deliver(("status", {"change": "stopping"}))
        self._closed = True
        for sub in list(self._subscribers):
            sub.end()
        self._subscribers.clear()

    # --- internals -----------------------------------------------------------------------

    def _remember_loop(self) -> None:
        with contextlib.suppress(RuntimeError):
            self._loop = asyncio.get_running_loop()

    def _deliver(self, item: LiveEvent) -> None:
        for sub in tuple(self._subscribers):
            sub.offer(item)

    def _on_append(self, first_seq: int, events: Sequence[AnyEvent]) -> None:
        if not self._subscribers:
            return  # nobody reads: no encoding on the append path
        epoch = None if self._journal is None else self._journal.epoch
        changes: list[Json] = []
        for offset, event in enumerate(events):
            record = event_json(first_seq + offset, event, epoch=epoch)
            self._deliver(("journal", record))
            change = _RUN_CHANGES.get(record["type"])
            if change is not None:
                self._deliver(("status", {"change": change, "seq": record["seq"],
                                          "ts_ns": record["ts_ns"], **record["fields"]}))
            if isinstance(event, HealthChanged):
                changes.append({"check": event.check, "status": event.status,
                                "previous": event.previous, "value": event.value,
                                "detail": event.detail})
        if changes:
            self._deliver(("health", {"changes": changes}))

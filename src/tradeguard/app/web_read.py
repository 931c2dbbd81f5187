"""The read side of the runtime's web view: JSON-ready data read from the live session.

Every read runs on the event loop that changes the state (never a half-applied event)
and returns builtins only: decimals as strings, enums as their values, times as integer
nanoseconds (``*_ns``) beside ISO-8601 UTC text (``*_iso``). Reads of the store (the
journal, reconciliation reports) run in a worker thread. While the session is still
opening, :meth:`ReadView.status`, :meth:`ReadView.health` and the live stream answer
(with the start-up's phase); the other reads raise ``ServiceStartingError`` (503).

The runtime's ``marks`` job (:meth:`ReadView.read_jobs`) refreshes the mark prices
(:mod:`tradeguard.app.marks`) and samples the charts' series every
``marks_interval_s``.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from tradeguard.app.journal_reads import journal_page, recent_reconciliations
from tradeguard.app.marks import (
    MarkBook,
    Sample,
    Series,
    asset_price,
    symbols_to_mark,
    unrealized_pnl,
    valuation_asset,
    value_state,
)
from tradeguard.app.status import RunLine, status_of_state
from tradeguard.app.web_live import LiveHub, iso_utc
from tradeguard.domain.enums import FlagSeverity, OrderStatus
from tradeguard.domain.flags import Flag
from tradeguard.domain.orders import OPEN_STATUSES, Order
from tradeguard.errors import (
    InvalidRequestError,
    ServiceStartingError,
    StoreClosedError,
    StoreError,
)
from tradeguard.web.source import Json, LiveEvent

if TYPE_CHECKING:
    from tradeguard.app.runtime import Runtime
    from tradeguard.app.service import LocalService
    from tradeguard.domain.state import SessionState
    from tradeguard.session import Session

__all__ = ["JOURNAL_MAX_LIMIT", "ORDER_STATUS_FILTERS", "RECONCILIATIONS_MAX_LIMIT", "ReadView"]

JOURNAL_MAX_LIMIT = 1000
RECONCILIATIONS_MAX_LIMIT = 200
ORDER_STATUS_FILTERS = ("open", *(s.value for s in OrderStatus if s is not OrderStatus.OPEN))
"""What ``/api/orders?status=`` takes: ``open`` (every live order: pending_submit, open,
partially_filled) or one other order status."""

_Job = tuple[Callable[[], Awaitable[None]], float]
_T = TypeVar("_T")


def _with_iso(doc: dict[str, Any], *keys: str) -> dict[str, Any]:
    """Add ``<name>_iso`` beside each ``<name>_ns`` of ``keys``."""
    for key in keys:
        doc[key.removesuffix("_ns") + "_iso"] = iso_utc(doc.get(key))
    return doc


def order_json(order: Order) -> Json:
    """An order as the API shows it (with ``remaining`` and ISO times)."""
    doc: dict[str, Any] = msgspec.to_builtins(order)
    doc["remaining"] = str(order.remaining)
    return _with_iso(doc, "created_ns", "updated_ns")


def flag_json(flag: Flag) -> Json:
    """A flag with the actions that resolve it (none once resolved) and what it blocks."""
    doc: dict[str, Any] = msgspec.to_builtins(flag)
    doc["actions"] = list(flag.actions) if flag.is_open else []
    doc["allowed_actions"] = list(flag.actions)
    doc["blocks"] = (
        None if not flag.is_open
        else "everything" if flag.severity is FlagSeverity.CRITICAL or flag.symbol is None
        else flag.symbol
    )
    return _with_iso(doc, "raised_ns", "resolved_ns")


class ReadView:
    """Reads of :class:`~tradeguard.web.source.ServiceView` from a :class:`Runtime`."""

    runtime: Runtime
    hub: LiveHub
    pause_status: Callable[[], Json]  # the actions side's (ActionsView)
    marks_interval_s: float = 2.0
    """How often the ``marks`` job reads tickers and samples the series (set before
    the runtime starts)."""
    series_capacity: int = 1800
    """Samples the series keeps (an hour at the default interval)."""
    _status_cache: tuple[tuple[int, int], Json] | None = None

    @cached_property
    def marks(self) -> MarkBook:
        """The mark prices (refreshed by the ``marks`` job)."""
        return MarkBook()

    @cached_property
    def chart(self) -> Series:
        """The charts' samples (equity, journal append p99)."""
        return Series(self.series_capacity)

    # --- the runtime's hook --------------------------------------------------------------

    def read_jobs(self) -> dict[str, _Job]:
        """The jobs the runtime runs for the read side once the session is open (and the
        live stream hears that the run started)."""
        self.hub.publish("status", self._status_event("started"))
        self._run_started_ns  # noqa: B018 - read it now, while the store is surely open
        return {"marks": (self.refresh_marks, self.marks_interval_s)}

    async def refresh_marks(self) -> None:
        """One pass of the ``marks`` job: read the tickers, then take a chart sample
        (also when the tickers failed: equity at the last known marks)."""
        session = self.runtime.session
        await self.marks.refresh(session.gateway, symbols_to_mark(session.state, session.markets))
        valuation = value_state(session.state, self.marks)
        self.chart.add(Sample(
            ts_ns=time.time_ns(), equity=valuation.equity,
            journal_append_p99_s=self.runtime.service.append_latency.p99_seconds(),
        ))

    # --- reads ---------------------------------------------------------------------------

    def status(self) -> Json:
        session = self._session_or_none()
        if session is None:
            return self._starting_status()
        service = self.runtime.service
        state = session.state
        doc = dict(self._status_report(state, service))
        doc["phase"] = self._phase()
        doc["run"] = self._run_json(service)
        doc["leader"] = self._leader_json(service)
        doc.update(self.pause_status())
        doc["exchange"] = self.runtime.where
        doc["jobs"] = self._jobs_json()
        health = self.runtime.health
        doc["health_status"] = None if health is None else health.status
        valuation = value_state(state, self.marks)
        doc["equity"] = {"asset": valuation.asset, "equity": valuation.equity,
                         "unpriced": list(valuation.unpriced),
                         "marks_error": self.marks.last_error}
        doc["live_subscribers"] = self.hub.subscribers
        return doc

    def _status_report(self, state: SessionState, service: LocalService) -> Json:
        """``tradeguard status``'s report of ``state`` as builtins, made again only when
        the state changed: every change is an applied event, which moves ``last_seq``
        (with 10,000 open orders making it takes tens of milliseconds)."""
        key = (id(state), state.last_seq)
        cached = self._status_cache
        if cached is not None and cached[0] == key:
            return cached[1]
        report = status_of_state(state, clean_shutdown=None, last_run=self._run_line(service))
        doc: Json = msgspec.to_builtins(report)
        self._status_cache = (key, doc)
        return doc

    def health(self) -> Json:
        report = self.runtime.health
        if report is None:
            return {"status": "unknown", "ts_ns": None, "ts_iso": None, "checks": [],
                    "detail": "no health round has run yet"}
        doc: dict[str, Any] = msgspec.to_builtins(report)
        return _with_iso(doc, "ts_ns")

    def orders(self, *, status: str | None = None, symbol: str | None = None) -> list[Json]:
        state = self._session().state
        if status is not None and status not in ORDER_STATUS_FILTERS:
            raise InvalidRequestError(
                f"status: {status!r} is not an order status; use one of "
                f"{', '.join(ORDER_STATUS_FILTERS)}"
            )
        if symbol is not None and not symbol.strip():
            raise InvalidRequestError("symbol: must not be empty (e.g. BTC/USDT)")
        wanted = (
            None if status is None
            else OPEN_STATUSES if status == "open"
            else frozenset({OrderStatus(status)})
        )
        return [
            order_json(o) for o in reversed(state.orders.values())
            if (wanted is None or o.status in wanted) and (symbol is None or o.symbol == symbol)
        ]

    def positions(self) -> list[Json]:
        state = self._session().state
        rows: list[Json] = []
        for symbol, position in state.positions.items():
            mark = self.marks.marks.get(str(symbol))
            price = None if mark is None else mark.price
            instrument = state.instruments.get(symbol)
            doc: dict[str, Any] = msgspec.to_builtins(position)
            doc.update(
                kind=None if instrument is None else instrument.kind.value,
                flat=position.size == 0,
                notional=str(position.notional),
                mark_price=None if price is None else str(price),
                mark_ts_ns=None if mark is None else mark.ts_ns,
                unrealized_pnl=_text(unrealized_pnl(position.size, position.entry_price, price)),
                pnl_asset=None if instrument is None else str(instrument.quote),
            )
            rows.append(_with_iso(doc, "updated_ns", "mark_ts_ns"))
        rows.sort(key=lambda r: (r["flat"], r["symbol"]))
        return rows

    def balances(self) -> list[Json]:
        state = self._session().state
        quote = valuation_asset(state)
        rows: list[Json] = []
        for asset in sorted(state.balances):
            balance = state.balances[asset]
            price = asset_price(str(asset), quote, self.marks)
            doc: dict[str, Any] = msgspec.to_builtins(balance)
            doc.update(
                price=_text(price), value=_text(None if price is None else balance.total * price),
                value_asset=quote,
            )
            rows.append(_with_iso(doc, "updated_ns"))
        return rows

    async def reconciliations(self, *, limit: int = 20) -> list[Json]:
        _check_range("limit", limit, 1, RECONCILIATIONS_MAX_LIMIT)
        session = self._session()
        reports = await self._read_store(recent_reconciliations, limit=limit)
        flags = session.state.flags
        for report in reports:
            report["flags"] = [
                flag_json(flags[f]) for f in report["flags_raised"] if f in flags
            ]
        return reports

    def flags(self, *, include_resolved: bool = False) -> list[Json]:
        state = self._session().state
        chosen = [f for f in state.flags.values() if include_resolved or f.is_open]
        chosen.sort(key=lambda f: (not f.is_open, -f.raised_ns))
        return [flag_json(f) for f in chosen]

    async def journal(self, *, after: int = 0, limit: int = 100) -> Json:
        _check_range("after", after, 0, None)
        _check_range("limit", limit, 1, JOURNAL_MAX_LIMIT)
        self._session()
        page: Json = await self._read_store(journal_page, after=after, limit=limit)
        return page

    def series(self) -> Json:
        """``{"interval_s", "capacity", "valuation_asset", "ts_ns": [...], "equity":
        [decimal strings or null], "journal_append_p99_s": [floats or null]}``: equal
        length columns, oldest first, one sample per ``marks`` pass (``equity`` in
        ``valuation_asset``: balances at their marks plus perpetuals' unrealized PnL;
        ``journal_append_p99_s`` over the last minute's appends, null when idle)."""
        session = self._session_or_none()
        doc: dict[str, Any] = {
            "interval_s": self.marks_interval_s,
            "capacity": self.series_capacity,
            "valuation_asset": None if session is None else valuation_asset(session.state),
        }
        doc.update(self.chart.columns())
        return doc

    def live(self) -> AsyncIterator[LiveEvent]:
        """A :class:`~tradeguard.app.web_live.LiveSubscription`: first a ``status``
        (``subscribed``) and, while starting, the start-up's progress; then the hub's
        events (a ``health`` one with the latest report merged in)."""
        self._follow_startup()
        initial: list[LiveEvent] = [("status", self._status_event("subscribed"))]
        if self._session_or_none() is None:
            initial.append(("recovery", self.runtime.startup_progress.as_json()))
        return self.hub.subscribe(initial=initial, shape=self._shape_live)

    def _shape_live(self, item: LiveEvent) -> LiveEvent:
        name, data = item
        return (name, {**self.health(), **data}) if name == "health" else item

    def metrics(self) -> bytes:
        return self.runtime.metrics.exposition()

    # --- internals -----------------------------------------------------------------------

    async def _read_store(self, read: Callable[..., _T], **kwargs: Any) -> _T:
        """``read(store, **kwargs)`` in a worker thread; a store closed under it (the
        service stopping) is a 503, not an internal error."""
        try:
            return await asyncio.to_thread(read, self.runtime.service.store, **kwargs)
        except StoreClosedError as exc:
            raise ServiceStartingError(f"the service is stopping: {exc}") from exc

    def _follow_startup(self) -> None:
        """Have the start-up tracker's progress reach the live stream (once)."""
        tracker = self.runtime.startup_progress
        if tracker.listener is None:  # one listener for every reader: the hub
            hub = self.hub
            tracker.listener = lambda doc: hub.publish("recovery", doc)

    def _session_or_none(self) -> Session | None:
        try:
            return self.runtime.session
        except RuntimeError:
            return None

    def _session(self) -> Session:
        session = self._session_or_none()
        if session is None:
            raise ServiceStartingError(
                f"the service is starting ({self._startup_phase()}): try again in a moment"
            )
        return session

    def _startup_phase(self) -> str:
        doc = self.runtime.startup_progress.as_json()
        return str(doc.get("phase") or doc.get("state") or "starting")

    def _phase(self) -> str:
        runtime = self.runtime
        if runtime.failure is not None:
            return "failed"
        if self.hub.closed:
            return "stopped"
        if runtime.stop_requested:
            return "stopping"
        return "running" if self._session_or_none() is not None else "starting"

    def _status_event(self, change: str) -> Json:
        session = self._session_or_none()
        return {"change": change, "phase": self._phase(),
                "last_seq": None if session is None else session.state.last_seq,
                "ts_ns": time.time_ns()}

    def _starting_status(self) -> Json:
        runtime = self.runtime
        service: LocalService | None
        try:
            service = runtime.service
        except RuntimeError:
            service = None
        return {
            "phase": "starting",
            "startup": runtime.startup_progress.as_json(),
            "exchange": runtime.where,
            "run": None if service is None else self._run_json(service),
            "leader": None if service is None else self._leader_json(service),
            "last_seq": None if service is None else service.state.last_seq,
            "jobs": self._jobs_json(),
            "pid": os.getpid(),
            "host": socket.gethostname(),
            **self.pause_status(),
        }

    @cached_property
    def _run_started_ns(self) -> int:
        """When this run began (its run marker, read once: at start, by ``read_jobs``)."""
        service = self.runtime.service
        try:
            run = service.store.last_run()
        except StoreError:
            run = None  # closed already: the start as the monotonic clock saw it
        if run is not None and run.run_id == service.run_id:
            return run.started_ns
        started = self.runtime.started_monotonic
        ago = 0.0 if started is None else time.monotonic() - started
        return time.time_ns() - int(ago * 1e9)

    def _run_line(self, service: LocalService) -> RunLine:
        return RunLine("running", service.run_id, os.getpid(), socket.gethostname(),
                       self._run_started_ns, None)

    def _run_json(self, service: LocalService) -> Json:
        recovery = service.recovery
        previous = recovery.previous_run
        started_ns = self._run_started_ns
        return _with_iso({
            "run_id": service.run_id,
            "session_id": self.runtime.config.storage.session_id,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_ns": started_ns,
            "uptime_s": round(max(0, time.time_ns() - started_ns) / 1e9, 3),
            "start": "recovered" if recovery.unclean_shutdown else "clean",
            "unclean_shutdown": recovery.unclean_shutdown,
            "previous_run_id": None if previous is None else previous.run_id,
            "epoch": service.journal.epoch,
        }, "started_ns")

    def _leader_json(self, service: LocalService) -> Json:
        return {"holder": f"{service.run_id} {os.getpid()}@{socket.gethostname()}",
                "epoch": service.journal.epoch, "role": "leader"}

    def _jobs_json(self) -> Json:
        return {
            name: _with_iso(msgspec.to_builtins(job), "last_run_ns", "last_success_ns",
                            "last_error_ns")
            for name, job in self.runtime.job_statuses().items()
        }


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _check_range(name: str, value: int, low: int, high: int | None) -> None:
    if value < low or (high is not None and value > high):
        bound = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise InvalidRequestError(f"{name}: must be {bound}, got {value}")

"""What the runtime's start-up is doing and what it found (``/api/recovery``).

:class:`StartupTracker` follows one start-up in phases, in the order they run: ``store
recovery`` (local recovery: its steps, the journal replay's done/total), then the
session's ``exchange account``, ``markets``, ``reconcile``, ``resolve unknown``,
``replay fills``, ``recovery actions`` and finally ``ready``. Each phase keeps its
start and end (wall-clock ns), its duration and its outcome; the final figures come
from local recovery's :class:`RecoveryReport` and the session's ``StartupReport``.

Local recovery reports from a worker thread (``asyncio.to_thread``), the session from
the event loop: the tracker takes a lock for its own state and hands every change to
``listener`` on the loop (``call_soon_threadsafe`` from another thread), at each phase
change and at most every ``min_interval_s`` in between (replay progress, actions).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from tradeguard.logs import get_logger
from tradeguard.recovery.manager import RECOVERED, RecoveryProgress, RecoveryReport
from tradeguard.web.source import Json

if TYPE_CHECKING:
    from tradeguard.session.recovery import RecoveryActionResult
    from tradeguard.session.session import StartupReport

__all__ = ["STORE_RECOVERY", "StartupTracker"]

_log = get_logger("tradeguard.startup")

STORE_RECOVERY = "store recovery"
"""The first phase: local recovery of the store (run marker, snapshot, replay)."""

READY = "ready"

Listener = Callable[[Json], None]


@dataclass
class _Phase:
    name: str
    started_ns: int
    started_mono: float
    finished_ns: int | None = None
    duration_ms: float | None = None
    outcome: str | None = None  # None while it runs
    detail: str = ""
    step: str | None = None
    done: int | None = None
    total: int | None = None

    def finish(self, now_ns: int, now_mono: float, outcome: str, detail: str) -> None:
        self.finished_ns = now_ns
        self.duration_ms = round((now_mono - self.started_mono) * 1000, 3)
        self.outcome = outcome
        self.detail = detail

    def as_json(self) -> Json:
        return {
            "name": self.name,
            "started_ns": self.started_ns,
            "finished_ns": self.finished_ns,
            "duration_ms": self.duration_ms,
            "outcome": self.outcome,
            "detail": self.detail,
            "step": self.step,
            "done": self.done,
            "total": self.total,
        }


class StartupTracker:
    """Follows one start-up: the store's recovery, then the session's (reconcile,
    UNKNOWN resolution, missed fills, recovery actions). A ``StartupObserver``.

    ``as_json()`` may be called at any time from any thread. ``listener`` (settable;
    set it from the event loop, or the loop running when the tracker was made is used)
    gets ``as_json()`` on the loop after every change, throttled to one call per
    ``min_interval_s`` except at phase changes. A listener that raises is logged.
    """

    def __init__(
        self,
        *,
        min_interval_s: float = 0.1,
        clock_ns: Callable[[], int] = time.time_ns,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lock = threading.Lock()
        self._min_interval_s = min_interval_s
        self._clock_ns = clock_ns
        self._monotonic = monotonic
        self._listener: Listener | None = None
        self._loop: asyncio.AbstractEventLoop | None = _running_loop()
        self._state = "waiting"
        self._started_ns: int | None = None
        self._started_mono = 0.0
        self._finished_ns: int | None = None
        self._duration_ms: float | None = None
        self._error: str | None = None
        self._phases: list[_Phase] = []
        self._recovery: RecoveryReport | None = None
        self._startup: StartupReport | None = None
        self._actions: list[RecoveryActionResult] = []
        self._version = 0  # bumped on every change; the listener never goes back
        self._delivered = 0
        self._last_emit_mono: float | None = None
        self._undelivered = False  # a thread's change the loop has not heard yet

    # --- the listener --------------------------------------------------------------------

    @property
    def listener(self) -> Listener | None:
        """Called with ``as_json()`` on the event loop after changes (None: nobody)."""
        return self._listener

    @listener.setter
    def listener(self, listener: Listener | None) -> None:
        loop = _running_loop()
        with self._lock:
            self._listener = listener
            if loop is not None:
                self._loop = loop

    # --- what reports to it --------------------------------------------------------------

    def on_recovery(self, progress: RecoveryProgress) -> None:
        """``LocalService.start``'s progress callback (on the loop's thread or not)."""
        with self._lock:
            now_ns, now_mono = self._clock_ns(), self._monotonic()
            phase = self._current()
            if phase is None or phase.name != STORE_RECOVERY:
                self._begin(now_ns, now_mono)
                phase = self._start_phase(STORE_RECOVERY, now_ns, now_mono)
            urgent = progress.phase != phase.step
            if progress.phase == RECOVERED:
                phase.step, phase.done, phase.total = None, None, None
                phase.finish(now_ns, now_mono, "ok", "")
            else:
                phase.step, phase.done, phase.total = progress.phase, progress.done, progress.total
        self._changed(urgent=urgent)

    def store_recovered(self, report: RecoveryReport) -> None:
        """Local recovery's report: its figures (and the end of ``store recovery``)."""
        with self._lock:
            now_ns, now_mono = self._clock_ns(), self._monotonic()
            self._begin(now_ns, now_mono)
            self._recovery = report
            phase = next((p for p in self._phases if p.name == STORE_RECOVERY), None)
            if phase is None:  # no progress was heard: the phase is known from the report
                phase = self._start_phase(STORE_RECOVERY, now_ns, now_mono)
                phase.finish(now_ns, now_mono, "ok", "")
                phase.duration_ms = round(report.duration_ms, 3)
            elif phase.outcome is None:
                phase.finish(now_ns, now_mono, "ok", "")
            phase.detail = _describe_recovery(report)
        self._changed(urgent=True)

    def phase_started(self, name: str, *, total: int | None = None) -> None:
        """A phase of opening the session began (``total`` items, if counted)."""
        with self._lock:
            now_ns, now_mono = self._clock_ns(), self._monotonic()
            self._begin(now_ns, now_mono)
            phase = self._start_phase(name, now_ns, now_mono)
            if total is not None:
                phase.done, phase.total = 0, total
        self._changed(urgent=True)

    def phase_finished(self, name: str, *, outcome: str, detail: str) -> None:
        """A phase ended with ``outcome``; ``failed`` fails the start-up."""
        with self._lock:
            now_ns, now_mono = self._clock_ns(), self._monotonic()
            phase = next((p for p in reversed(self._phases) if p.name == name), None)
            if phase is None:
                phase = self._start_phase(name, now_ns, now_mono)
            phase.finish(now_ns, now_mono, outcome, detail)
            if outcome == "failed":  # an exception left it: opening the session failed
                self._end("failed", now_ns, now_mono, error=f"{name}: {detail}")
        self._changed(urgent=True)

    def action_finished(self, result: RecoveryActionResult) -> None:
        """One recovery action ran."""
        with self._lock:
            self._actions.append(result)
            phase = self._current()
            if phase is not None and phase.name == "recovery actions":
                phase.done = len(self._actions)
        self._changed(urgent=False)

    def session_ready(self, report: StartupReport) -> None:
        """The session is open: its report, and the ``ready`` phase."""
        with self._lock:
            now_ns, now_mono = self._clock_ns(), self._monotonic()
            self._begin(now_ns, now_mono)
            self._startup = report
            self._actions = list(report.action_results) or self._actions
            phase = self._start_phase(READY, now_ns, now_mono)
            phase.finish(now_ns, now_mono, "ok", "accepting orders")
            self._end(READY, now_ns, now_mono)
        self._changed(urgent=True)

    def failed(self, error: BaseException) -> None:
        """The start-up stopped with ``error`` (whoever runs it may say so)."""
        with self._lock:
            now_ns, now_mono = self._clock_ns(), self._monotonic()
            self._begin(now_ns, now_mono)
            phase = self._current()
            text = f"{type(error).__name__}: {error}"
            if phase is not None:
                phase.finish(now_ns, now_mono, "failed", text)
            self._end("failed", now_ns, now_mono, error=text)
        self._changed(urgent=True)

    # --- reading it ----------------------------------------------------------------------

    @property
    def state(self) -> str:
        """``waiting`` (not begun), ``running``, ``ready`` or ``failed``."""
        return self._state

    def as_json(self) -> Json:
        """The start-up so far: state, phases in order, the figures known yet."""
        with self._lock:
            return self._as_json()

    # --- internals (called with the lock held) -----------------------------------------

    def _begin(self, now_ns: int, now_mono: float) -> None:
        if self._started_ns is None:
            self._started_ns, self._started_mono, self._state = now_ns, now_mono, "running"

    def _end(self, state: str, now_ns: int, now_mono: float, *, error: str | None = None) -> None:
        if self._state in (READY, "failed"):
            return
        self._state = state
        self._error = error
        self._finished_ns = now_ns
        self._duration_ms = round((now_mono - self._started_mono) * 1000, 3)

    def _current(self) -> _Phase | None:
        return self._phases[-1] if self._phases else None

    def _start_phase(self, name: str, now_ns: int, now_mono: float) -> _Phase:
        current = self._current()
        if current is not None and current.outcome is None:  # nobody said it ended
            current.finish(now_ns, now_mono, "ok", current.detail)
        phase = _Phase(name=name, started_ns=now_ns, started_mono=now_mono)
        self._phases.append(phase)
        return phase

    def _as_json(self) -> Json:
        current = self._current()
        running = current is not None and current.outcome is None
        doc: Json = {
            "state": self._state,
            "phase": current.name if running and current is not None else self._state,
            "step": current.step if running and current is not None else None,
            "done": current.done if running and current is not None else None,
            "total": current.total if running and current is not None else None,
            "started_ns": self._started_ns,
            "started_iso": _iso(self._started_ns),
            "finished_ns": self._finished_ns,
            "finished_iso": _iso(self._finished_ns),
            "duration_ms": self._duration_ms,
            "error": self._error,
            "phases": [p.as_json() for p in self._phases],
        }
        doc.update(_recovery_figures(self._recovery))
        doc.update(_session_figures(self._startup))
        doc["recovery_actions"] = [_action_json(r) for r in self._actions]
        doc["version"] = self._version
        return doc

    # --- telling the listener ------------------------------------------------------------

    def _changed(self, *, urgent: bool) -> None:
        """After a change: hand the new document to the listener (throttled unless
        ``urgent``), on the loop."""
        with self._lock:
            self._version += 1
            running = _running_loop()
            if self._loop is None and running is not None:
                self._loop = running
            listener, loop = self._listener, self._loop
            if listener is None:
                return
            now = self._monotonic()
            due = (
                urgent
                or self._undelivered
                or self._last_emit_mono is None
                or now - self._last_emit_mono >= self._min_interval_s
            )
            if not due:
                return
            self._last_emit_mono = now
            doc = self._as_json()
            on_loop = loop is not None and running is loop
            if not on_loop and loop is None:
                self._undelivered = True  # no loop known yet: the next change on one says it
                return
            self._undelivered = False
        if on_loop:
            self._deliver(listener, doc)
            return
        assert loop is not None
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody listens any more
            loop.call_soon_threadsafe(self._deliver, listener, doc)

    def _deliver(self, listener: Listener, doc: Json) -> None:
        """On the loop: give ``doc`` to ``listener`` unless a newer one went already."""
        version: int = doc["version"]
        with self._lock:
            if version <= self._delivered:
                return
            self._delivered = version
        try:
            listener(doc)
        except Exception as exc:  # noqa: BLE001 - a display must never stop the start-up
            _log.warning("start-up progress listener failed", error=repr(exc))


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _iso(ts_ns: int | None) -> str | None:
    if ts_ns is None:
        return None
    moment = dt.datetime.fromtimestamp(ts_ns / 1e9, tz=dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _describe_recovery(report: RecoveryReport) -> str:
    if report.previous_run is None:
        before = "first run"
    else:
        before = f"{'unclean' if report.unclean_shutdown else 'clean'} shutdown before"
    snapshot = "no snapshot" if report.snapshot_seq is None else f"snapshot {report.snapshot_seq}"
    return (
        f"{before}; {snapshot}, replayed {report.replayed_events}, quarantined "
        f"{report.quarantined_records}, last seq {report.last_seq}"
    )


def _builtins(value: Any) -> Any:
    return msgspec.to_builtins(value)  # Decimal as str, enums as values


def _recovery_figures(report: RecoveryReport | None) -> Json:
    if report is None:
        return {
            "unclean_shutdown": None, "previous_run": None, "snapshot_seq": None,
            "skipped_snapshots": [], "replayed_events": None, "last_seq": None,
            "quarantined_records": None, "corrupt_records": [], "accepted_loss": None,
            "snapshot_taken_seq": None, "file_problems": [], "store_recovery_ms": None,
            "store_steps": [],
        }
    previous = report.previous_run
    return {
        "unclean_shutdown": report.unclean_shutdown,
        "previous_run": None if previous is None else {
            "run_id": previous.run_id, "started_ns": previous.started_ns,
            "started_iso": _iso(previous.started_ns), "stopped_ns": previous.stopped_ns,
            "stopped_iso": _iso(previous.stopped_ns), "pid": previous.pid,
            "hostname": previous.hostname, "clean": previous.clean,
        },
        "snapshot_seq": report.snapshot_seq,
        "skipped_snapshots": _builtins(report.skipped_snapshots),
        "replayed_events": report.replayed_events,
        "last_seq": report.last_seq,
        "quarantined_records": report.quarantined_records,
        "corrupt_records": list(report.corrupt_records),
        "accepted_loss": report.accepted_loss,
        "snapshot_taken_seq": report.snapshot_taken_seq,
        "file_problems": list(report.file_problems),
        "store_recovery_ms": round(report.duration_ms, 3),
        "store_steps": [
            {"name": s.name, "detail": s.detail, "duration_ms": round(s.duration_ms, 3)}
            for s in report.steps
        ],
    }


def _session_figures(report: StartupReport | None) -> Json:
    if report is None:
        return {
            "reconcile": None, "unknown": None, "fills_replayed": None,
            "recovery_errors": [], "session_open_ms": None,
        }
    rec = report.reconcile
    resolved = report.resolved
    return {
        "reconcile": {
            "at_ns": rec.at_ns,
            "complete": rec.complete,
            "discrepancies": rec.discrepancies,
            "found": {} if rec.report is None else dict(rec.report.found),
            "flags_raised": rec.flags_raised,
            "events_journaled": rec.events_journaled,
            "duration_ms": round(rec.duration_ms, 3),
            "error": rec.error,
        },
        "unknown": {
            "adopted": list(resolved.adopted),
            "not_placed": list(resolved.not_placed),
            "absent_within_grace": list(resolved.absent_within_grace),
            "unreachable": list(resolved.unreachable),
            "still_unknown": resolved.still_unknown,
        },
        "fills_replayed": report.fills_replayed,
        "recovery_errors": list(report.recovery_errors),
        "session_open_ms": round(report.duration_ms, 3),
    }


def _action_json(result: RecoveryActionResult) -> Json:
    doc: Json = _builtins(result.action)
    doc.update(
        outcome=result.outcome,
        error=result.error,
        started_ns=result.started_ns,
        finished_ns=result.finished_ns,
        duration_ms=round(result.duration_ms, 3),
    )
    return doc

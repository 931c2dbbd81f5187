"""Start-up exchange steps retried with backoff, then failed loudly.

``Session.open`` talks to the exchange before it trades: the account, the markets,
the start-up reconciliation. One bad answer there (a dropped connection, a garbled
payload the gateway refused) used to make ``run`` exit at once. Each of these steps
is now tried up to ``attempts`` times with exponential backoff; a step that still
fails raises one ``ExchangeError`` naming the step, the attempts and the last error.
Definite answers are not retried: a refused key cannot become valid by asking again.

The sleep is injected (``StartupRetry.sleep``), so tests retry without waiting.

What ``Session.open`` is doing is told, phase by phase, to an optional
:class:`StartupObserver` (the runtime's start-up tracker behind ``/api/recovery``):
:class:`StartupPhases` times each phase and reports its outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TypeVar

from tradeguard.domain.enums import OrderStatus
from tradeguard.domain.state import SessionState
from tradeguard.errors import AuthenticationError, ExchangeError
from tradeguard.logs import get_logger
from tradeguard.session.recovery import RecoveryAction, RecoveryActionResult

if TYPE_CHECKING:
    from tradeguard.recovery.manager import RecoveryProgress, RecoveryReport
    from tradeguard.session.reconciling import ReconcileStatus
    from tradeguard.session.session import StartupReport

__all__ = [
    "PhaseOutcome",
    "StartupObserver",
    "StartupPhases",
    "StartupRetry",
    "action_result",
    "describe_reconcile",
    "describe_unknown",
]

T = TypeVar("T")

_log = get_logger("tradeguard.session.startup")

_UNRESOLVED = frozenset({OrderStatus.UNKNOWN, OrderStatus.PENDING_SUBMIT})

# Answers that asking again cannot change.
_DEFINITE: tuple[type[ExchangeError], ...] = (AuthenticationError,)


@dataclass(frozen=True, kw_only=True)
class StartupRetry:
    """How ``Session.open`` retries its exchange steps.

    ``attempts`` tries in all (1 = no retry); the waits between them start at
    ``initial_backoff_seconds`` and double up to ``max_backoff_seconds`` (the defaults
    give 0.5 + 1 + 2 + 4 s over 5 tries). ``sleep`` is the seam tests replace.
    """

    attempts: int = 5
    initial_backoff_seconds: float = 0.5
    max_backoff_seconds: float = 8.0
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, compare=False)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("startup retry attempts must be >= 1")
        if self.initial_backoff_seconds < 0 or self.max_backoff_seconds < 0:
            raise ValueError("startup retry backoff must be >= 0")

    def backoff(self, failed_attempts: int) -> float:
        """The wait after the ``failed_attempts``-th failure (1-based)."""
        wait = self.initial_backoff_seconds * 2 ** (failed_attempts - 1)
        return float(min(wait, self.max_backoff_seconds))

    async def run(self, step: str, attempt: Callable[[], Awaitable[T]]) -> T:
        """``attempt()``'s result; retried on ``ExchangeError``, then raised as one."""
        for number in range(1, self.attempts + 1):
            try:
                return await attempt()
            except _DEFINITE:
                raise
            except ExchangeError as exc:
                if number == self.attempts:
                    raise ExchangeError(
                        f"start-up {step} failed {number} times; last error: {exc}"
                    ) from exc
                wait = self.backoff(number)
                _log.warning(
                    "start-up exchange step failed; retrying",
                    step=step,
                    attempt=number,
                    of=self.attempts,
                    retry_in_s=wait,
                    error=str(exc),
                )
                await self.sleep(wait)
        raise AssertionError("unreachable")  # the loop returns or raises

    async def until(
        self, step: str, attempt: Callable[[], Awaitable[T]], done: Callable[[T], bool]
    ) -> T:
        """Run ``attempt`` until ``done(result)``; the last result if it never is.

        For a step whose failure is a result, not an exception (a reconciliation
        that came back incomplete): after the last attempt the result is returned
        and logged at error level, so the caller reports it as not done.
        """
        result = await attempt()
        for number in range(1, self.attempts):
            if done(result):
                return result
            wait = self.backoff(number)
            _log.warning(
                "start-up exchange step incomplete; retrying",
                step=step,
                attempt=number,
                of=self.attempts,
                retry_in_s=wait,
            )
            await self.sleep(wait)
            result = await attempt()
        if not done(result):
            _log.error("start-up exchange step still incomplete", step=step, attempts=self.attempts)
        return result


# --- start-up progress: who hears what Session.open is doing ---------------------------


class StartupObserver(Protocol):
    """What hears ``Session.open``'s progress (the runtime's start-up tracker).

    Called on the event loop's thread, except ``on_recovery``: local recovery runs in a
    worker thread and reports from there.
    """

    def on_recovery(self, progress: RecoveryProgress) -> None:
        """Local recovery's progress (its steps; the journal replay's done/total)."""

    def store_recovered(self, report: RecoveryReport) -> None:
        """Local recovery is done: what it found (before the exchange is asked)."""

    def phase_started(self, name: str, *, total: int | None = None) -> None:
        """Phase ``name`` of opening the session began (``total`` items, if counted)."""

    def phase_finished(self, name: str, *, outcome: str, detail: str) -> None:
        """Phase ``name`` ended: ``outcome`` ``ok``, ``incomplete`` (done, not all of it:
        a reconciliation that could not check everything, orders still UNKNOWN, a
        recovery action that failed) or ``failed`` (it raised: opening fails)."""

    def action_finished(self, result: RecoveryActionResult) -> None:
        """One recovery action ran (in execution order), with its outcome and time."""

    def session_ready(self, report: StartupReport) -> None:
        """The session accepts orders: what opening it did."""


class StartupPhases:
    """Times the phases of ``Session.open`` and tells the observer, if there is one.

    ``with phases.phase("reconcile") as phase: ...; phase.finish("incomplete", why)``;
    a phase left by an exception is reported ``failed`` with the error.
    """

    def __init__(self, observer: StartupObserver | None = None) -> None:
        self.observer = observer

    @contextlib.contextmanager
    def phase(self, name: str, *, total: int | None = None) -> Iterator[PhaseOutcome]:
        """Phase ``name`` (of ``total`` items): started now, finished when the block ends."""
        outcome = PhaseOutcome()
        if self.observer is not None:
            self.observer.phase_started(name, total=total)
        try:
            yield outcome
        except BaseException as exc:
            if self.observer is not None:
                self.observer.phase_finished(
                    name, outcome="failed", detail=f"{type(exc).__name__}: {exc}"
                )
            raise
        if self.observer is not None:
            self.observer.phase_finished(name, outcome=outcome.outcome, detail=outcome.detail)


@dataclass
class PhaseOutcome:
    """How a phase ended (``ok`` unless the block says otherwise) and in a few words."""

    outcome: str = "ok"
    detail: str = ""

    def finish(self, outcome: str, detail: str = "") -> None:
        """Set the outcome and the detail the observer hears."""
        self.outcome = outcome
        self.detail = detail


def describe_reconcile(status: ReconcileStatus) -> tuple[str, str]:
    """A start-up reconciliation's outcome (``ok`` or ``incomplete``) and its figures."""
    figures = (
        f"{status.discrepancies} discrepancies, {status.flags_raised} flags raised, "
        f"{status.events_journaled} events journaled"
    )
    if status.complete:
        return "ok", figures
    return "incomplete", f"{status.error or 'incomplete'}; {figures}"


def describe_unknown(unresolved: Sequence[str], state: SessionState) -> tuple[str, str]:
    """How the orders unresolved at start ended up (``incomplete`` while some stay so),
    measured on the state: reconciliation may have settled some before the resolver."""
    orders = [state.order(cid) for cid in unresolved]
    not_placed = sum(1 for o in orders if o is not None and o.status is OrderStatus.NOT_PLACED)
    still = sum(1 for o in orders if o is not None and o.status in _UNRESOLVED)
    detail = (
        f"{len(orders)} unresolved at start: {len(orders) - not_placed - still} found on "
        f"the exchange, {not_placed} not placed, {still} still unknown"
    )
    return ("ok" if still == 0 else "incomplete"), detail


def action_result(
    action: RecoveryAction, started_ns: int, started: float, error: str | None
) -> RecoveryActionResult:
    """The result of one recovery action that started at ``started_ns`` (wall) and
    ``started`` (``time.perf_counter``) and ended now, with ``error`` if it failed."""
    return RecoveryActionResult(
        action=action,
        outcome="failed" if error else "done",
        error=error,
        started_ns=started_ns,
        finished_ns=time.time_ns(),
        duration_ms=(time.perf_counter() - started) * 1000,
    )

"""The actions of the runtime's web view: resolve a flag, reconcile now, pause, resume.

The web layer has checked the token; ``who`` is its name and goes into the journal
with every action (``FlagResolved.by``, ``TradingPaused.by``, an ``OperatorRequested``
before a reconciliation). Errors are the API's: ``ServiceStartingError`` (503) until
the session is open, ``NotFoundError`` (404) for an unknown flag, ``ConflictError``
(409) for a flag already resolved, an action the state refuses or a session that
stopped trading, ``InvalidRequestError`` (400) for an action the flag does not offer,
``UpstreamFailedError`` (502) when the exchange did not carry an action out.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import msgspec

from tradeguard.domain.events import OperatorRequested, TradingPaused, TradingResumed
from tradeguard.domain.ids import FlagId
from tradeguard.errors import (
    ConflictError,
    DomainError,
    ExchangeError,
    InvalidRequestError,
    NotFoundError,
    ServiceStartingError,
    UpstreamFailedError,
)
from tradeguard.session.ports import describe_store_failure
from tradeguard.web.source import Json

if TYPE_CHECKING:
    from tradeguard.app.runtime import Runtime
    from tradeguard.session.session import Session

__all__ = ["ActionsView"]


def _iso(ts_ns: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts_ns / 1e9))


class ActionsView:
    """Actions of :class:`~tradeguard.web.source.ServiceView` on a :class:`Runtime`."""

    runtime: Runtime

    def pause_status(self) -> Json:
        """Whether new orders are paused, since when and by whom (``/api/status``)."""
        session = self._session_or_none()
        paused = None if session is None else session.state.paused
        if paused is None:
            return {"paused": False}
        return {
            "paused": True, "since_ns": paused.since_ns, "since": _iso(paused.since_ns),
            "by": paused.by, "note": paused.note,
        }

    def _session_or_none(self) -> Session | None:
        try:
            return self.runtime.session
        except RuntimeError:  # not open yet (recovering)
            return None

    def _open_session(self, doing: str) -> Session:
        """The session, open and writing; else the error the API answers with."""
        session = self._session_or_none()
        if session is None:
            raise ServiceStartingError(
                f"cannot {doing} yet: the service is starting (recovering); try again "
                "in a moment (GET /api/recovery shows the progress)"
            )
        if (failure := session.failure) is not None:
            raise ConflictError(f"cannot {doing}: {describe_store_failure(failure)}")
        if self.runtime.stop_requested:
            raise ConflictError(f"cannot {doing}: the service is stopping")
        return session

    async def resolve_flag(self, flag_id: str, *, action: str, note: str, who: str) -> Json:
        """Carry out ``action`` on the flag, then journal its resolution ``by`` who."""
        session = self._open_session(f"resolve flag {flag_id}")
        flag = session.state.flags.get(FlagId(flag_id))
        if flag is None:
            known = ", ".join(sorted(f.flag_id for f in session.state.open_flags()))
            raise NotFoundError(f"no flag {flag_id!r} (open flags: {known or 'none'})")
        if not flag.is_open:
            raise ConflictError(
                f"flag {flag_id!r} is already resolved with {flag.resolution_action!r}"
                + (f" by {flag.resolved_by}" if flag.resolved_by else "")
            )
        if action not in flag.actions:
            raise InvalidRequestError(
                f"field 'action': {action!r} does not resolve flag {flag_id!r} "
                f"({flag.kind}); allowed: {', '.join(flag.actions)}"
            )
        try:
            result = await session.resolve_flag_steps(flag_id, action, note, by=who)
        except ExchangeError as exc:
            raise UpstreamFailedError(str(exc)) from exc
        except DomainError as exc:
            # Someone resolved it meanwhile, or the exchange's state no longer fits.
            raise ConflictError(str(exc)) from exc
        return {
            "ok": True, "flag": msgspec.to_builtins(result.flag), "steps": list(result.steps),
            "by": who,
        }

    async def reconcile_now(self, *, who: str) -> Json:
        """Journal who asked, run one reconciliation now, return its summary."""
        session = self._open_session("reconcile")
        asked = await session.service.append(
            [OperatorRequested(ts_ns=time.time_ns(), by=who, request="reconcile")]
        )
        # Like the periodic runs: the trades the poller has not read yet are taken in
        # first, so a normal fill is not reported as a missing one.
        status = await session.reconcile_now(poll_first=True)
        report: Any = status.report
        return {
            "requested_by": who,
            "requested_seq": asked.first_seq,
            "at_ns": status.at_ns,
            "at": _iso(status.at_ns),
            "complete": status.complete,
            "discrepancies": status.discrepancies,
            "flags_raised": list(report.flags_raised) if report is not None else [],
            "events_journaled": status.events_journaled,
            "duration_ms": round(status.duration_ms, 3),
            "error": status.error,
            "report": None if report is None else msgspec.to_builtins(report),
        }

    async def pause(self, *, who: str, note: str = "") -> Json:
        """Stop new orders (journaled ``by`` who); already paused: the state, unchanged."""
        session = self._open_session("pause new orders")
        changed = session.state.paused is None
        if changed:
            # No await between the check and the append (which applies at once): two
            # requests at the same time journal one pause.
            await session.service.append([TradingPaused(ts_ns=time.time_ns(), by=who, note=note)])
        return {**self.pause_status(), "changed": changed}

    async def resume(self, *, who: str, note: str = "") -> Json:
        """Allow new orders again (journaled ``by`` who); not paused: unchanged."""
        session = self._open_session("resume new orders")
        changed = session.state.paused is not None
        if changed:
            await session.service.append(
                [TradingResumed(ts_ns=time.time_ns(), by=who, note=note)]
            )
        return {**self.pause_status(), "changed": changed}

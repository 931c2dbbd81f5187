"""UNKNOWN resolution: settle orders whose submit got no definite answer.

Only the exchange settles an UNKNOWN order (DESIGN.md, principle 2). Each is looked up
by its client order id, with exponential backoff per order:

- found: its exchange id, fills (from trades) and status are adopted;
- provably absent (``OrderNotFoundError``) once the grace period since the intent has
  passed: ``OrderNotPlaced`` (before that the exchange may still be processing it);
- no answer (timeout, 5xx, exchange down): it stays UNKNOWN and is asked again later.

An intent left PENDING_SUBMIT by a previous run (crash between journaling and the
answer) is first marked UNKNOWN, then resolved the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Set

import msgspec

from tradeguard.domain.enums import OrderStatus
from tradeguard.domain.events import OrderNotPlaced, OrderOutcomeUnknown
from tradeguard.domain.orders import Order
from tradeguard.errors import ExchangeError, OrderNotFoundError
from tradeguard.exchange.gateway import ExchangeGateway
from tradeguard.logs import get_logger
from tradeguard.session.config import SessionSettings
from tradeguard.session.ingest import adopt_order_report
from tradeguard.session.ports import SessionJournalPort

__all__ = ["ResolveSummary", "UnknownResolver", "next_backoff_s"]

_log = get_logger("tradeguard.session.unknown")
_NS = 1_000_000_000


def next_backoff_s(previous_s: float | None, *, initial_s: float, max_s: float) -> float:
    """The wait before the next query of an UNKNOWN order: doubling, capped."""
    if previous_s is None:
        return initial_s
    return min(previous_s * 2, max_s)


class ResolveSummary(msgspec.Struct, frozen=True, kw_only=True):
    """What one resolution pass did (client order ids per outcome)."""

    adopted: tuple[str, ...] = ()
    not_placed: tuple[str, ...] = ()
    absent_within_grace: tuple[str, ...] = ()
    unreachable: tuple[str, ...] = ()
    still_unknown: int = 0


class _Backoff(msgspec.Struct, kw_only=True):
    wait_s: float
    due_mono: float


class UnknownResolver:
    """Resolves a session's UNKNOWN orders, each on its own backoff schedule.

    ``in_flight`` is the set of client ids whose request is on the wire right now (the
    session's sender owns it); those are never touched. ``clock_ns`` gives wall time for
    the grace period (the intent's ``ts_ns`` is wall time too).
    """

    def __init__(
        self,
        service: SessionJournalPort,
        gateway: ExchangeGateway,
        settings: SessionSettings,
        *,
        in_flight: Set[str] = frozenset(),
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.service = service
        self.gateway = gateway
        self.settings = settings
        self.in_flight = in_flight
        self._clock_ns = clock_ns
        self._backoff: dict[str, _Backoff] = {}

    def pending(self) -> list[Order]:
        """UNKNOWN orders (and PENDING_SUBMIT ones not in flight) waiting for an answer."""
        return [
            o
            for o in self.service.state.unresolved_orders()
            if o.client_order_id not in self.in_flight
        ]

    def next_due_in_s(self) -> float | None:
        """Seconds until the next order is due for a query; None when nothing waits."""
        pending = self.pending()
        if not pending:
            return None
        now = time.monotonic()
        dues = [
            self._backoff[o.client_order_id].due_mono if o.client_order_id in self._backoff else now
            for o in pending
        ]
        return max(min(dues) - now, 0.0)

    async def resolve(self, *, force: bool = False) -> ResolveSummary:
        """Query every pending order that is due (every one with ``force``)."""
        adopted: list[str] = []
        not_placed: list[str] = []
        within_grace: list[str] = []
        unreachable: list[str] = []
        now_mono = time.monotonic()
        for order in self.pending():
            cid = order.client_order_id
            backoff = self._backoff.get(cid)
            if not force and backoff is not None and backoff.due_mono > now_mono:
                continue
            outcome = await self._resolve_one(order)
            if outcome == "adopted":
                adopted.append(cid)
            elif outcome == "not_placed":
                not_placed.append(cid)
            elif outcome == "absent":
                within_grace.append(cid)
            else:
                unreachable.append(cid)
            if outcome in ("adopted", "not_placed"):
                self._backoff.pop(cid, None)
            else:
                wait = next_backoff_s(
                    None if backoff is None else backoff.wait_s,
                    initial_s=self.settings.resolve_backoff_initial_seconds,
                    max_s=self.settings.resolve_backoff_max_seconds,
                )
                self._backoff[cid] = _Backoff(wait_s=wait, due_mono=time.monotonic() + wait)
        return ResolveSummary(
            adopted=tuple(adopted),
            not_placed=tuple(not_placed),
            absent_within_grace=tuple(within_grace),
            unreachable=tuple(unreachable),
            still_unknown=len(self.pending()),
        )

    async def _resolve_one(self, order: Order) -> str:
        cid = order.client_order_id
        if order.status is OrderStatus.PENDING_SUBMIT:
            # A previous run journaled the intent and died before the answer.
            await self.service.append(
                [
                    OrderOutcomeUnknown(
                        ts_ns=self._clock_ns(),
                        client_order_id=cid,
                        reason="no outcome journaled before the restart",
                    )
                ]
            )
        try:
            report = await self.gateway.fetch_order(
                order.symbol,
                exchange_order_id=order.exchange_order_id,
                client_order_id=None if order.exchange_order_id else cid,
            )
        except OrderNotFoundError:
            return await self._absent(order)
        except ExchangeError as exc:
            _log.info("UNKNOWN order not resolved yet", client_order_id=cid, error=str(exc))
            return "unreachable"
        done = await adopt_order_report(
            self.service,
            self.gateway,
            cid,
            report,
            cause="UNKNOWN resolved: found on the exchange by client order id",
            in_flight=self.in_flight,
        )
        if done:
            _log.info(
                "UNKNOWN order found on the exchange",
                client_order_id=cid,
                status=report.status.value,
                exchange_order_id=report.exchange_order_id,
            )
        return "adopted" if done else "unreachable"

    async def _absent(self, order: Order) -> str:
        if order.exchange_order_id is not None or order.filled > 0:
            # Acknowledged once, unknown now (an ambiguous cancel): it existed, so it is
            # not "not placed"; reconciliation treats it as vanished and flags it.
            _log.warning(
                "UNKNOWN order with an exchange id is not found",
                client_order_id=order.client_order_id,
            )
            return "absent"
        age_s = (self._clock_ns() - order.created_ns) / _NS
        if age_s < self.settings.unknown_grace_seconds:
            return "absent"
        await self.service.append(
            [
                OrderNotPlaced(
                    ts_ns=self._clock_ns(),
                    client_order_id=order.client_order_id,
                    reason=f"not found on the exchange by client order id {age_s:.1f} s "
                    "after the intent",
                )
            ]
        )
        _log.info("UNKNOWN order was not placed", client_order_id=order.client_order_id)
        return "not_placed"

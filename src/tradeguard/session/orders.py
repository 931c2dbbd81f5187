"""Write-ahead submit and cancel: journal the intent durably, then send, then the outcome.

The client order id is derived from the journal sequence the intent gets
(``make_client_order_id(prefix, journal.next_seq)``), computed and appended with no
``await`` in between, so the id is always the intent's own sequence number: after a
crash every journaled intent can be looked up on the exchange by its id.

Outcomes (DESIGN.md, principle 2): an ack is ``OrderAcknowledged``; a definite refusal
is ``OrderRejected``; anything ambiguous (timeout, dropped connection, 5xx, an answer
without an order id) is ``OrderOutcomeUnknown``, never a rejection. Fills in an ack are
read from the trade list (``session.ingest``) right after an ack that shows them.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, MutableSet
from decimal import Decimal

from tradeguard.domain.enums import OrderStatus, OrderType, Side
from tradeguard.domain.events import (
    AnyEvent,
    CancelRequested,
    OrderAcknowledged,
    OrderCanceled,
    OrderIntended,
    OrderOutcomeUnknown,
    OrderRejected,
    OrderStateCorrected,
)
from tradeguard.domain.ids import ClientOrderId, Symbol, make_client_order_id
from tradeguard.domain.orders import Order
from tradeguard.errors import (
    AmbiguousOutcomeError,
    AuthenticationError,
    DomainError,
    ExchangeError,
    InvalidOrderError,
    OrderBlockedError,
    OrderNotFoundError,
    RateLimitedError,
    TradingPausedError,
)
from tradeguard.exchange.gateway import ExchangeGateway
from tradeguard.exchange.reports import OrderReport
from tradeguard.logs import get_logger
from tradeguard.session.ingest import adopt_order_report
from tradeguard.session.ports import SessionJournalPort

__all__ = ["OrderSender", "crash_point"]

_log = get_logger("tradeguard.session.orders")

# A definite "no": the exchange refused before creating anything.
_DEFINITE_REJECTIONS: tuple[type[ExchangeError], ...] = (
    InvalidOrderError,  # includes InsufficientFundsError
    RateLimitedError,
    AuthenticationError,
)


# --- test hook for crash torture (``tradeguard chaos``) ------------------------------
# TRADEGUARD_CRASH_POINT=name[,name...] makes the process SIGKILL itself at those named
# points on the TRADEGUARD_CRASH_AT-th passage through any of them (default 1). Points:
# after_intent_journaled, after_exchange_ack, after_cancel_journaled. Unset (always, in
# production) a crash point costs one set lookup. The harness learns the point from
# the "CRASH <name>" line written to stdout just before the kill.
_CRASH_POINTS = frozenset(p for p in os.environ.get("TRADEGUARD_CRASH_POINT", "").split(",") if p)
_crash_passages = [int(os.environ.get("TRADEGUARD_CRASH_AT", "1") or "1")]


def crash_point(name: str) -> None:
    """Test hook: SIGKILL this process here when ``TRADEGUARD_CRASH_POINT`` names it."""
    if name not in _CRASH_POINTS:
        return
    _crash_passages[0] -= 1
    if _crash_passages[0] <= 0:
        os.write(1, f"CRASH {name}\n".encode())
        os.kill(os.getpid(), signal.SIGKILL)


class OrderSender:
    """Submits and cancels orders for one session, write-ahead.

    ``in_flight`` holds the client ids whose request is on the wire: the background
    resolver and the status poller leave those alone until the answer is journaled.
    ``on_fill_hint`` is called with a symbol when an answer shows fills, so the fill
    poller can read the trades sooner.
    """

    def __init__(
        self,
        service: SessionJournalPort,
        gateway: ExchangeGateway,
        prefix: str,
        *,
        in_flight: MutableSet[str],
        on_fill_hint: Callable[[str], None] | None = None,
    ) -> None:
        self.service = service
        self.gateway = gateway
        self.prefix = prefix
        self.in_flight = in_flight
        self._on_fill_hint = on_fill_hint or (lambda symbol: None)

    def _check_not_paused(self) -> None:
        paused = self.service.state.paused
        if paused is None:
            return
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(paused.since_ns / 1e9))
        why = f" ({paused.note})" if paused.note else ""
        raise TradingPausedError(
            f"new orders are paused by {paused.by} since {since}{why}; cancels still go "
            "out; resume on the dashboard or with POST /api/resume"
        )

    def _check_not_blocked(self, symbol: str) -> None:
        state = self.service.state
        if not state.is_blocked(symbol):
            return
        blocking = [
            f
            for f in state.open_flags()
            if f.severity.value == "critical" or f.symbol in (None, symbol)
        ]
        described = "; ".join(
            f"{f.flag_id} ({f.severity.value} {f.kind}{' on ' + f.symbol if f.symbol else ''}: "
            f"{f.message}; resolve with one of {', '.join(f.actions)})"
            for f in blocking
        )
        raise OrderBlockedError(f"new orders on {symbol} are blocked by open flag(s): {described}")

    async def submit(
        self,
        symbol: str,
        side: Side,
        order_type: OrderType,
        amount: Decimal,
        price: Decimal | None = None,
        *,
        reduce_only: bool = False,
        trigger_price: Decimal | None = None,
    ) -> Order:
        """Journal the intent, send it, journal the outcome; returns the order after it.

        ``trigger_price`` is the stop price of a stop or take-profit ``order_type``.

        Raises ``TradingPausedError`` (nothing journaled) while a person paused new
        orders, ``OrderBlockedError`` while a flag blocks ``symbol``, and ``DomainError``
        for an intent that does not fit (unknown symbol, bad amount).
        Exchange errors do not propagate: they are the order's outcome.
        """
        self._check_not_paused()
        self._check_not_blocked(symbol)
        state = self.service.state
        instrument = state.instruments.get(Symbol(symbol))
        if instrument is None:
            raise DomainError(
                f"symbol {symbol!r} is not a registered instrument of this session; "
                f"known: {', '.join(sorted(state.instruments)) or 'none'}"
            )
        # No await between reading next_seq and append: the id is the intent's seq.
        client_id = make_client_order_id(self.prefix, self.service.next_seq)
        intent = OrderIntended(
            ts_ns=time.time_ns(),
            client_order_id=client_id,
            symbol=Symbol(symbol),
            kind=instrument.kind,
            side=Side(side),
            order_type=OrderType(order_type),
            amount=amount,
            price=price,
            reduce_only=reduce_only,
            trigger_price=trigger_price,
        )
        self.in_flight.add(client_id)
        try:
            await self.service.append([intent])
            crash_point("after_intent_journaled")
            await self._send(intent)
        finally:
            self.in_flight.discard(client_id)
        order = self.service.state.order(client_id)
        if order is None:  # pragma: no cover - an intent is never removed
            raise DomainError(f"order {client_id!r} vanished from the state")
        return order

    async def _send(self, intent: OrderIntended) -> None:
        cid = intent.client_order_id
        try:
            report = await self.gateway.create_order(
                intent.symbol,
                intent.side,
                intent.order_type,
                intent.amount,
                intent.price,
                client_order_id=cid,
                reduce_only=intent.reduce_only,
                trigger_price=intent.trigger_price,
            )
        except _DEFINITE_REJECTIONS as exc:
            await self._outcome(
                OrderRejected(ts_ns=time.time_ns(), client_order_id=cid, reason=_reason(exc))
            )
            return
        except ExchangeError as exc:
            # AmbiguousOutcomeError, ExchangeUnavailableError after sending, anything
            # else: the order may exist. Only the exchange's answer may settle it.
            await self._outcome(
                OrderOutcomeUnknown(ts_ns=time.time_ns(), client_order_id=cid, reason=_reason(exc))
            )
            return
        crash_point("after_exchange_ack")
        ack = OrderAcknowledged(
            ts_ns=time.time_ns(), client_order_id=cid, exchange_order_id=report.exchange_order_id
        )
        if not await self._outcome(ack):
            # Evidence raced ahead of the answer (a reconciliation settled the order while
            # the request hung): the ack is evidence too, adopt its exchange id.
            current = self.service.state.order(cid)
            if current is not None and current.exchange_order_id is None:
                await self._outcome(
                    OrderStateCorrected(
                        ts_ns=time.time_ns(),
                        client_order_id=cid,
                        status=OrderStatus.OPEN if current.filled == 0 else current.status,
                        filled=current.filled,
                        exchange_order_id=report.exchange_order_id,
                        average_fill_price=current.average_fill_price,
                        cause="late submit acknowledgement",
                    )
                )
        if report.filled > 0 or not report.is_open:
            await self._adopt_answer(cid, report)

    async def _adopt_answer(self, cid: ClientOrderId, report: OrderReport) -> None:
        """Apply an answer that already shows fills or a final state (a market order).

        Its fills are read from the trade list (de-duplicated by trade id), then its
        status and filled quantity adopted; if the trade list lags behind the answer,
        the status poll settles the order once the trades are there.
        """
        symbol = report.symbol
        try:
            await adopt_order_report(
                self.service,
                self.gateway,
                cid,
                report,
                cause="submit answer",
                in_flight=self.in_flight,
            )
        except ExchangeError as exc:
            _log.info("fills of a filled answer not read yet", client_order_id=cid, error=str(exc))
        order = self.service.state.order(cid)
        if order is None or order.filled != report.filled or order.status is not report.status:
            self._on_fill_hint(symbol)

    async def _outcome(self, event: AnyEvent) -> bool:
        """Journal an answer; False (logged) when the state moved on and refuses it.

        The answer is applied and queued at once but its fsync is not awaited: the
        intent before it is durable, and an answer lost in a crash is found again by
        client order id. This halves the write-ahead cost of a submit.
        """
        try:
            self.service.append_nowait([event])
        except DomainError as exc:
            _log.warning(
                "answer arrived after other evidence settled the order",
                event_type=type(event).__name__,
                error=str(exc),
            )
            return False
        return True

    async def cancel(self, client_order_id: str) -> Order:
        """Journal the cancel request, send it, journal what the exchange answered.

        A cancel of an order already finished is a no-op. ``OrderNotFound`` from the
        exchange: the order is fetched and its real state adopted. An ambiguous answer
        makes the order UNKNOWN for the resolver.
        """
        order = self.service.state.order(client_order_id)
        if order is None:
            raise DomainError(f"cancel: order {client_order_id!r} is not known")
        if order.is_terminal:
            return order
        cid = ClientOrderId(client_order_id)
        self.in_flight.add(cid)
        try:
            await self.service.append([CancelRequested(ts_ns=time.time_ns(), client_order_id=cid)])
            crash_point("after_cancel_journaled")
            await self._send_cancel(cid)
        finally:
            self.in_flight.discard(cid)
        after = self.service.state.order(cid)
        assert after is not None
        return after

    async def _send_cancel(self, cid: ClientOrderId) -> None:
        order = self.service.state.order(cid)
        assert order is not None
        try:
            report = await self.gateway.cancel_order(
                order.symbol,
                exchange_order_id=order.exchange_order_id,
                client_order_id=None if order.exchange_order_id else cid,
            )
        except OrderNotFoundError:
            await self._adopt_after_not_found(order)
            return
        except (AmbiguousOutcomeError, ExchangeError) as exc:
            await self._mark_cancel_unknown(order, exc)
            return
        if report.status is OrderStatus.CANCELED:
            current = self.service.state.order(cid)
            if current is not None and current.status in (
                OrderStatus.PENDING_SUBMIT,
                OrderStatus.OPEN,
                OrderStatus.PARTIALLY_FILLED,
                OrderStatus.UNKNOWN,
            ):
                await self.service.append(
                    [OrderCanceled(ts_ns=time.time_ns(), client_order_id=cid, reason="canceled")]
                )
            if report.filled > (current.filled if current else 0):
                self._on_fill_hint(order.symbol)
            return
        # Filled or expired before the cancel landed: adopt after its fills.
        await adopt_order_report(
            self.service, self.gateway, cid, report, cause="cancel answer", in_flight=self.in_flight
        )

    async def _adopt_after_not_found(self, order: Order) -> None:
        try:
            report = await self.gateway.fetch_order(
                order.symbol,
                exchange_order_id=order.exchange_order_id,
                client_order_id=None if order.exchange_order_id else order.client_order_id,
            )
        except OrderNotFoundError:
            # Unknown to the exchange by id too: an order never placed (the resolver
            # settles a PENDING/UNKNOWN one) or a vanished one (reconciliation flags it).
            _log.warning(
                "cancel: order unknown to the exchange", client_order_id=order.client_order_id
            )
            if order.status is OrderStatus.PENDING_SUBMIT:
                await self.service.append(
                    [
                        OrderOutcomeUnknown(
                            ts_ns=time.time_ns(),
                            client_order_id=order.client_order_id,
                            reason="cancel found no such order; resolver settles it",
                        )
                    ]
                )
            return
        except ExchangeError as exc:
            await self._mark_cancel_unknown(order, exc)
            return
        await adopt_order_report(
            self.service,
            self.gateway,
            order.client_order_id,
            report,
            cause="cancel: order not found as open; adopted its state",
            in_flight=self.in_flight,
        )

    async def _mark_cancel_unknown(self, order: Order, exc: BaseException) -> None:
        current = self.service.state.order(order.client_order_id)
        if current is None or current.status not in (
            OrderStatus.PENDING_SUBMIT,
            OrderStatus.OPEN,
            OrderStatus.PARTIALLY_FILLED,
        ):
            return
        _log.warning(
            "cancel outcome unknown", client_order_id=order.client_order_id, error=str(exc)
        )
        await self.service.append(
            [
                OrderOutcomeUnknown(
                    ts_ns=time.time_ns(),
                    client_order_id=order.client_order_id,
                    reason=f"cancel: {_reason(exc)}",
                )
            ]
        )


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]

"""The pure diff: local session state against an exchange snapshot -> corrections.

``diff(state, snapshot, policy, ts_now=...)`` implements DESIGN.md's reconciliation
table. It never does I/O and never changes ``state``: it works on a copy, applying
every event it decides on, so the events it returns are known to apply cleanly, in
this order: missing fills, order corrections (state mismatch, unknown resolved,
external orders), balances, positions, trade cursors, then flags.

Fail closed: whatever could not be compared (a failed fetch, an event the state
refuses) is listed as unchecked and makes the outcome incomplete; it is never counted
as "no difference". Flags carry deterministic ids (``discrepancies.flag_id``), and a
subject that already has an open flag, or a flag with the same id, is not flagged again,
so reconciling twice with the same snapshot changes nothing the second time.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from tradeguard.domain.enums import LIMIT_PRICE_TYPES, FlagSeverity, MarketKind, OrderStatus
from tradeguard.domain.events import (
    AnyEvent,
    ExternalOrderAdopted,
    FlagRaised,
    OrderNotPlaced,
    OrderOutcomeUnknown,
    OrderStateCorrected,
    OrderTermsCorrected,
    TradeCursorAdvanced,
)
from tradeguard.domain.flags import FLAG_ACTIONS
from tradeguard.domain.ids import Asset, ClientOrderId, ExchangeOrderId, Symbol
from tradeguard.domain.orders import OPEN_STATUSES, Order, order_shape_problem
from tradeguard.domain.state import SessionState
from tradeguard.errors import DomainError
from tradeguard.exchange.reports import OrderReport
from tradeguard.reconcile.balances_positions import check_balances, check_positions
from tradeguard.reconcile.discrepancies import (
    ACTION_ADOPTED,
    ACTION_ALREADY_FLAGGED,
    ACTION_CORRECTED,
    ACTION_CORRECTED_AND_FLAGGED,
    ACTION_FLAGGED,
    ACTION_NOT_PLACED,
    ACTION_WAITING,
    Discrepancy,
    ExternalOrder,
    Flagger,
    ReconcileOutcome,
    StateMismatch,
    TermsMismatch,
    Unchecked,
    UnknownResolved,
    VanishedOrder,
)
from tradeguard.reconcile.policy import ReconcilePolicy
from tradeguard.reconcile.snapshot import ExchangeSnapshot, OrderLookup
from tradeguard.reconcile.trades import encode_cursor, ingest_trades

__all__ = ["diff"]

_UNSETTLED: Final = frozenset({OrderStatus.PENDING_SUBMIT, OrderStatus.UNKNOWN})
_CHECKED_STATUSES: Final = OPEN_STATUSES | _UNSETTLED
# Every action offered is carried out by session.flag_actions (one list, domain.flags).
_EXTERNAL_ACTIONS: Final = FLAG_ACTIONS["external_order"]
_VANISHED_ACTIONS: Final = FLAG_ACTIONS["vanished_order"]
# The exchange's terms are already adopted: a person acknowledges or looks into it.
_TERMS_ACTIONS: Final = FLAG_ACTIONS["order_terms_mismatch"]


def diff(
    state: SessionState, snapshot: ExchangeSnapshot, policy: ReconcilePolicy, *, ts_now: int
) -> ReconcileOutcome:
    """Compare ``state`` with ``snapshot`` and decide the corrective events (pure)."""
    return _Diff(state, snapshot, policy, ts_now).run()


class _Diff:
    """One diff run; the working copy of the state absorbs every decided event."""

    def __init__(
        self, state: SessionState, snapshot: ExchangeSnapshot, policy: ReconcilePolicy, ts: int
    ) -> None:
        self.state = state
        self.snapshot = snapshot
        self.policy = policy
        self.ts = ts
        self.working = state.copy()
        self.flagger = Flagger(state, ts)
        self.found: list[Discrepancy] = []
        self.checked: list[str] = []
        self.unchecked: list[Unchecked] = [
            Unchecked(
                what=f.what,
                symbol=f.symbol,
                client_order_id=f.client_order_id,
                reason=f"fetch failed ({f.error_type}): {f.error}",
            )
            for f in snapshot.failures
        ]
        self.failed_lookups = {
            f.client_order_id for f in snapshot.failures if f.client_order_id is not None
        }
        self.waiting: list[str] = []
        # Reports by (symbol, exchange id); later sources (history, lookups) are newer.
        self.reports: dict[tuple[Symbol, ExchangeOrderId], OrderReport] = {}
        for report in snapshot.order_reports():
            key = (report.symbol, report.exchange_order_id)
            known = self.reports.get(key)
            if known is None or report.updated_ns >= known.updated_ns:
                self.reports[key] = report
        self.lookups: dict[ClientOrderId, OrderLookup] = {
            lookup.client_order_id: lookup for lookup in snapshot.lookups
        }
        # Exchange orders identified as ours, and the report each local order matched.
        self.ours: set[tuple[Symbol, ExchangeOrderId]] = set()
        self.matched: dict[ClientOrderId, OrderReport] = {}

    # --- the steps, in journal order ---------------------------------------------------

    def run(self) -> ReconcileOutcome:
        self._match_orders()
        fill_events, balance_moves = self._fills()
        order_events = self._orders()
        order_events += self._external_orders()
        balance_events = self._apply_all(
            check_balances(self.working, self.snapshot, self.policy, self.ts,
                           balance_moves, self.flagger, self.found, self.checked)
        )
        position_events = self._apply_all(
            check_positions(self.state, self.working, self.snapshot, self.policy, self.ts,
                            self.flagger, self.found, self.checked, self.unchecked)
        )
        cursor_events = self._apply_all(self._cursors())
        flag_events = self._apply_all(self.flagger.events)
        events: list[AnyEvent] = [
            *fill_events, *order_events, *balance_events, *position_events,
            *cursor_events, *flag_events,
        ]
        return ReconcileOutcome(
            discrepancies=tuple(self.found),
            events=tuple(events),
            checked=tuple(self.checked),
            unchecked=tuple(self.unchecked),
            waiting=tuple(self.waiting),
            complete=not self.unchecked,
        )

    def _apply_all(self, events: list[AnyEvent] | list[FlagRaised]) -> list[AnyEvent]:
        return [event for event in events if self._apply(event)]

    def _apply(self, event: AnyEvent) -> bool:
        """Apply to the working copy; an event that does not fit is dropped, unchecked."""
        try:
            self.working.apply(event)
        except DomainError as exc:
            self.unchecked.append(
                Unchecked(
                    what=type(event).__name__,
                    symbol=getattr(event, "symbol", None),
                    client_order_id=getattr(event, "client_order_id", None),
                    reason=f"correction refused by the state: {exc}",
                )
            )
            return False
        return True

    def _match_orders(self) -> None:
        """Pair local orders with exchange reports (by exchange id, else client id)."""
        by_client: dict[tuple[Symbol, ClientOrderId], OrderReport] = {}
        for known in self.reports.values():
            if known.client_order_id is not None:
                by_client[(known.symbol, known.client_order_id)] = known
        for lookup in self.snapshot.lookups:
            if lookup.report is not None:
                by_client[(lookup.symbol, lookup.client_order_id)] = self.reports[
                    (lookup.report.symbol, lookup.report.exchange_order_id)
                ]
        for order in self.state.orders.values():
            report: OrderReport | None = None
            if order.exchange_order_id is not None:
                report = self.reports.get((order.symbol, order.exchange_order_id))
            if report is None:
                candidate = by_client.get((order.symbol, order.client_order_id))
                # A reused client id with another exchange id is a different order.
                if candidate is not None and order.exchange_order_id in (
                    None,
                    candidate.exchange_order_id,
                ):
                    report = candidate
            if report is not None:
                self.matched[order.client_order_id] = report
                self.ours.add((report.symbol, report.exchange_order_id))

    def _fills(self) -> tuple[list[AnyEvent], dict[Asset, Decimal]]:
        owners = {
            (report.symbol, report.exchange_order_id): cid
            for cid, report in self.matched.items()
        }
        # Only a finished order's report is final: it counts every fill the order has.
        caps = {cid: r.filled for cid, r in self.matched.items() if not r.is_open}
        events: list[AnyEvent] = []
        moves: dict[Asset, Decimal] = {}
        for symbol in sorted(self.snapshot.symbols):
            part = self.snapshot.symbols[symbol]
            if part.trades is None:
                continue
            self.checked.append(f"trades:{symbol}")
            result = ingest_trades(
                self.working, part.trades, ts_ns=self.ts, owners=owners, caps=caps
            )
            events.extend(result.events)
            self.found.extend(result.found)
            self.unchecked.extend(result.refused)
            for key, moved in result.balance_moves.items():
                moves[key] = moves.get(key, Decimal(0)) + moved
        return events, moves

    def _orders(self) -> list[AnyEvent]:
        events: list[AnyEvent] = []
        open_fetched = {
            symbol for symbol, part in self.snapshot.symbols.items() if part.open_orders is not None
        }
        self.checked.extend(f"open_orders:{symbol}" for symbol in sorted(open_fetched))
        for order in self.state.orders.values():
            if order.updated_ns > self.snapshot.ts_ns:
                continue  # changed after the fetch began: the snapshot may predate it
            report = self.matched.get(order.client_order_id)
            if report is not None:
                events.extend(self._compare(order, report))
                continue
            if order.status not in _CHECKED_STATUSES:
                continue  # finished, and the exchange said nothing new about it
            lookup = self.lookups.get(order.client_order_id)
            if lookup is not None:  # found lookups are matched above: this is NOT_FOUND
                events.extend(self._absent(order))
            elif order.client_order_id not in self.failed_lookups:
                reason = (
                    "open orders not fetched"
                    if order.symbol not in open_fetched
                    else "not open on the exchange and not looked up"
                )
                self.unchecked.append(
                    Unchecked(what="order", symbol=order.symbol,
                              client_order_id=order.client_order_id, reason=reason)
                )
        return events

    def _compare(self, order: Order, report: OrderReport) -> list[AnyEvent]:
        terms = self._compare_terms(order, report)
        return terms + self._compare_state(order, report)

    def _compare_terms(self, order: Order, report: OrderReport) -> list[AnyEvent]:
        """A stop that is not a stop on the exchange (or a moved trigger) is adopted
        from the exchange and flagged: the protection the journal promises is not there.
        """
        current = self.working.orders[order.client_order_id]
        same_type = current.order_type is report.type
        if same_type and current.trigger_price == report.trigger_price:
            return []
        # Only a type change brings the exchange's limit price (ours may be None).
        price = (
            current.price
            if same_type
            else report.price if report.type in LIMIT_PRICE_TYPES else None
        )
        cause = (
            f"exchange holds {report.type.value} trigger {report.trigger_price}, journal "
            f"has {current.order_type.value} trigger {current.trigger_price}"
        )
        event = OrderTermsCorrected(
            ts_ns=self.ts, client_order_id=order.client_order_id, order_type=report.type,
            price=price, trigger_price=report.trigger_price, cause=cause,
        )
        if not self._apply(event):
            return []
        fid, raised = self.flagger.raise_flag(
            kind="order_terms_mismatch",
            subject=order.client_order_id,
            detail=f"{report.type.value}:{report.trigger_price}",
            severity=FlagSeverity.WARNING,
            symbol=order.symbol,
            message=f"order {order.client_order_id} on {order.symbol}: {cause}",
            actions=_TERMS_ACTIONS,
        )
        self.found.append(
            TermsMismatch(
                symbol=order.symbol,
                action=ACTION_CORRECTED_AND_FLAGGED if raised else ACTION_CORRECTED,
                client_order_id=order.client_order_id,
                exchange_order_id=report.exchange_order_id,
                local_type=current.order_type, exchange_type=report.type,
                local_trigger=current.trigger_price, exchange_trigger=report.trigger_price,
                local_price=current.price, exchange_price=report.price,
                flag_id=fid,
            )
        )
        return [event]

    def _compare_state(self, order: Order, report: OrderReport) -> list[AnyEvent]:
        current = self.working.orders[order.client_order_id]
        unsettled = order.status in _UNSETTLED
        if report.is_open and current.filled > report.filled:
            return []  # the open-order list predates trades fetched after it: stale
        if (
            not unsettled
            and current.status is report.status
            and current.filled == report.filled
            and current.exchange_order_id == report.exchange_order_id
        ):
            return []
        cause = (
            f"unknown resolved: found on the exchange as {report.status.value}"
            if unsettled
            else f"exchange reports {report.status.value} with {report.filled} filled"
        )
        event = OrderStateCorrected(
            ts_ns=self.ts,
            client_order_id=order.client_order_id,
            status=report.status,
            filled=report.filled,
            exchange_order_id=report.exchange_order_id,
            average_fill_price=report.average,
            cause=cause,
        )
        if not self._apply(event):
            return []
        if unsettled:
            self.found.append(
                UnknownResolved(
                    symbol=order.symbol, action=ACTION_ADOPTED,
                    client_order_id=order.client_order_id, local_status=order.status,
                    found=True, exchange_order_id=report.exchange_order_id,
                    exchange_status=report.status,
                )
            )
        else:
            self.found.append(
                StateMismatch(
                    symbol=order.symbol, action=ACTION_CORRECTED,
                    client_order_id=order.client_order_id,
                    exchange_order_id=report.exchange_order_id,
                    local_status=current.status, exchange_status=report.status,
                    local_filled=current.filled, exchange_filled=report.filled,
                )
            )
        return [event]

    def _absent(self, order: Order) -> list[AnyEvent]:
        """The exchange answered "no such order" for a local order we still track."""
        never_placed = (
            order.status in _UNSETTLED
            and order.exchange_order_id is None
            and order.filled == 0
            and self.working.orders[order.client_order_id].filled == 0
        )
        if never_placed:
            if self.ts - order.created_ns < self.policy.unknown_grace_ns:
                self.waiting.append(order.client_order_id)
                self.found.append(
                    UnknownResolved(
                        symbol=order.symbol, action=ACTION_WAITING,
                        client_order_id=order.client_order_id, local_status=order.status,
                        found=False,
                    )
                )
                return []
            reason = "absent on the exchange after the grace period"
            events: list[AnyEvent] = []
            if order.status is OrderStatus.PENDING_SUBMIT:
                # NOT_PLACED is only reachable from UNKNOWN: say first that we never knew.
                events.append(OrderOutcomeUnknown(
                    ts_ns=self.ts, client_order_id=order.client_order_id,
                    reason="intent without outcome found by reconciliation",
                ))
            events.append(OrderNotPlaced(
                ts_ns=self.ts, client_order_id=order.client_order_id, reason=reason
            ))
            kept = self._apply_all(events)
            if len(kept) == len(events):
                self.found.append(
                    UnknownResolved(
                        symbol=order.symbol, action=ACTION_NOT_PLACED,
                        client_order_id=order.client_order_id, local_status=order.status,
                        found=False,
                    )
                )
            return kept
        fid, raised = self.flagger.raise_flag(
            kind="vanished_order",
            subject=order.client_order_id,
            severity=FlagSeverity.CRITICAL,
            symbol=order.symbol,
            message=(
                f"order {order.client_order_id} ({order.status.value}, exchange id "
                f"{order.exchange_order_id}) on {order.symbol}: the exchange has no record of it"
            ),
            actions=_VANISHED_ACTIONS,
        )
        self.found.append(
            VanishedOrder(
                symbol=order.symbol,
                action=ACTION_FLAGGED if raised else ACTION_ALREADY_FLAGGED,
                client_order_id=order.client_order_id,
                exchange_order_id=order.exchange_order_id,
                local_status=order.status,
                flag_id=fid,
            )
        )
        return []

    def _external_orders(self) -> list[AnyEvent]:
        events: list[AnyEvent] = []
        for symbol in sorted(self.snapshot.symbols):
            part = self.snapshot.symbols[symbol]
            for report in part.open_orders or ():
                key = (report.symbol, report.exchange_order_id)
                if key in self.ours or self.working.order_by_exchange_id(*key) is not None:
                    continue
                events.extend(self._external(report, part.kind))
        return events

    def _external(self, report: OrderReport, kind: MarketKind | None) -> list[AnyEvent]:
        adoptable = (
            order_shape_problem(report.type, report.amount, report.price, report.trigger_price)
            is None
        )
        if self.policy.external_orders == "adopt" and adoptable:
            cid = report.client_order_id
            if cid is None or cid in self.working.orders:
                cid = ClientOrderId(f"ext:{report.symbol}:{report.exchange_order_id}")
            event = ExternalOrderAdopted(
                ts_ns=self.ts, client_order_id=cid,
                exchange_order_id=report.exchange_order_id, symbol=report.symbol,
                kind=kind or _kind_of(self.state, report.symbol), side=report.side,
                order_type=report.type, amount=report.amount, price=report.price,
                trigger_price=report.trigger_price, status=report.status, filled=report.filled,
                cause="open on the exchange, not placed by this session (policy: adopt)",
            )
            if self._apply(event):
                self.found.append(self._external_found(report, ACTION_ADOPTED, None))
                return [event]
            return []
        fid, raised = self.flagger.raise_flag(
            kind="external_order",
            subject=f"{report.symbol}:{report.exchange_order_id}",
            severity=FlagSeverity.WARNING,
            symbol=report.symbol,
            message=(
                f"order {report.exchange_order_id} ({report.side.value} {report.amount} "
                f"{report.symbol} {report.type.value} @ {report.price}"
                + (f" trigger {report.trigger_price}" if report.trigger_price else "")
                + ") is open on the exchange but was not placed by this session"
            ),
            actions=_EXTERNAL_ACTIONS,
        )
        action = ACTION_FLAGGED if raised else ACTION_ALREADY_FLAGGED
        self.found.append(self._external_found(report, action, fid))
        return []

    @staticmethod
    def _external_found(report: OrderReport, action: str, fid: str | None) -> ExternalOrder:
        return ExternalOrder(
            symbol=report.symbol, action=action, exchange_order_id=report.exchange_order_id,
            client_order_id=report.client_order_id, side=report.side, amount=report.amount,
            price=report.price, status=report.status, filled=report.filled, flag_id=fid,
            order_type=report.type, trigger_price=report.trigger_price,
        )

    def _cursors(self) -> list[AnyEvent]:
        refused = {u.symbol for u in self.unchecked if u.what == "trade"}
        events: list[AnyEvent] = []
        for symbol in sorted(self.snapshot.symbols):
            part = self.snapshot.symbols[symbol]
            if part.trades is None or part.trade_cursor is None or symbol in refused:
                continue  # a trade not journaled must be fetched again next time
            text = encode_cursor(part.trade_cursor)
            known = self.working.trade_cursors.get(symbol)
            if text == known or (known is None and part.trade_cursor == type(part.trade_cursor)()):
                continue
            events.append(TradeCursorAdvanced(ts_ns=self.ts, symbol=symbol, cursor=text))
        return events


def _kind_of(state: SessionState, symbol: str) -> MarketKind:
    instrument = state.instruments.get(Symbol(symbol))
    if instrument is not None:
        return instrument.kind
    # Unified ccxt symbols of swaps carry the settle currency: BTC/USDT:USDT.
    return MarketKind.PERPETUAL if ":" in symbol else MarketKind.SPOT

"""The order lifecycle table, exhaustively: every (event, status) pair allowed or refused."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from tradeguard.domain import (
    OPEN_STATUSES,
    TERMINAL_STATUSES,
    TRANSITIONS,
    Asset,
    CancelRequested,
    ClientOrderId,
    Event,
    ExchangeOrderId,
    FillRecorded,
    MarketKind,
    Order,
    OrderAcknowledged,
    OrderCanceled,
    OrderExpired,
    OrderNotPlaced,
    OrderOutcomeUnknown,
    OrderRejected,
    OrderStateCorrected,
    OrderStatus,
    OrderType,
    SessionState,
    Side,
    Symbol,
    TradeId,
    is_open,
    is_terminal,
)
from tradeguard.domain.orders import FILL_PARTIAL_STATUS
from tradeguard.errors import DomainError, InvalidTransitionError

CID = ClientOrderId("tg-7")
SYM = Symbol("BTC/USDT")


def _state_with(status: OrderStatus, **changes: object) -> SessionState:
    order = Order(
        client_order_id=CID,
        symbol=SYM,
        kind=MarketKind.SPOT,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        amount=Decimal("1.0"),
        price=Decimal(100),
        status=status,
        created_ns=1,
        updated_ns=1,
    )
    state = SessionState()
    state.orders[CID] = msgspec.structs.replace(order, **changes)
    state.rebuild_indexes()
    return state


_EVENTS: dict[str, Event] = {
    "order_acknowledged": OrderAcknowledged(
        ts_ns=5, client_order_id=CID, exchange_order_id=ExchangeOrderId("42")
    ),
    "order_rejected": OrderRejected(ts_ns=5, client_order_id=CID, reason="-2010"),
    "order_outcome_unknown": OrderOutcomeUnknown(ts_ns=5, client_order_id=CID, reason="timeout"),
    "order_not_placed": OrderNotPlaced(ts_ns=5, client_order_id=CID, reason="absent"),
    "cancel_requested": CancelRequested(ts_ns=5, client_order_id=CID),
    "order_canceled": OrderCanceled(ts_ns=5, client_order_id=CID, reason="user"),
    "order_expired": OrderExpired(ts_ns=5, client_order_id=CID),
}


def test_table_covers_every_lifecycle_event() -> None:
    assert set(TRANSITIONS) == set(_EVENTS)


@pytest.mark.parametrize("status", list(OrderStatus))
@pytest.mark.parametrize("tag", sorted(_EVENTS))
def test_every_transition_is_allowed_or_refused_by_the_table(tag: str, status: OrderStatus) -> None:
    # cancel_requested=True satisfies the "pending cancel" guard of outcome_unknown, so
    # what is tested here is the table itself; the guards have their own tests below.
    state = _state_with(status, cancel_requested=True)
    before = state.copy()
    expected = TRANSITIONS[tag].get(status)
    if expected is None:
        with pytest.raises(InvalidTransitionError) as info:
            state.apply(_EVENTS[tag])
        message = str(info.value)
        assert CID in message
        assert status.value in message
        assert tag in message
        assert state == before
    else:
        state.apply(_EVENTS[tag])
        assert state.orders[CID].status is expected
        assert state.orders[CID].updated_ns == 5


def test_terminal_states_refuse_every_ordinary_event_except_late_acks() -> None:
    for tag, row in TRANSITIONS.items():
        for status in (OrderStatus.REJECTED, OrderStatus.NOT_PLACED):
            assert status not in row, (tag, status)
        for status in TERMINAL_STATUSES:
            if tag != "order_acknowledged":
                assert status not in row, (tag, status)


def test_unknown_from_open_needs_a_pending_cancel() -> None:
    for status in (OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED):
        state = _state_with(status)
        with pytest.raises(InvalidTransitionError, match="tg-7"):
            state.apply(_EVENTS["order_outcome_unknown"])
        assert state.orders[CID].status is status


def test_not_placed_is_refused_for_an_order_the_exchange_acknowledged_or_filled() -> None:
    for changes in ({"exchange_order_id": ExchangeOrderId("1")}, {"filled": Decimal("0.1")}):
        state = _state_with(OrderStatus.UNKNOWN, **changes)
        with pytest.raises(InvalidTransitionError, match="was placed"):
            state.apply(_EVENTS["order_not_placed"])


def test_reject_is_refused_after_a_fill() -> None:
    state = _state_with(OrderStatus.UNKNOWN, filled=Decimal("0.5"))
    with pytest.raises(InvalidTransitionError, match="filled"):
        state.apply(_EVENTS["order_rejected"])


def test_ack_with_a_different_exchange_id_is_refused() -> None:
    state = _state_with(OrderStatus.OPEN, exchange_order_id=ExchangeOrderId("41"))
    with pytest.raises(InvalidTransitionError, match="differs"):
        state.apply(_EVENTS["order_acknowledged"])
    state = _state_with(OrderStatus.OPEN, exchange_order_id=ExchangeOrderId("42"))
    state.apply(_EVENTS["order_acknowledged"])  # the same id again is harmless
    assert state.order_by_exchange_id("BTC/USDT", "42") == state.orders[CID]


def test_cancel_requested_sets_the_flag_and_keeps_the_status() -> None:
    state = _state_with(OrderStatus.PARTIALLY_FILLED)
    state.apply(_EVENTS["cancel_requested"])
    assert state.orders[CID].cancel_requested
    assert state.orders[CID].status is OrderStatus.PARTIALLY_FILLED


def _fill(amount: str, trade: str = "t1") -> FillRecorded:
    return FillRecorded(
        ts_ns=9,
        client_order_id=CID,
        trade_id=TradeId(trade),
        symbol=SYM,
        side=Side.BUY,
        price=Decimal(100),
        amount=Decimal(amount),
        fee=Decimal(0),
        fee_asset=Asset("USDT"),
        is_maker=True,
        exchange_ts_ns=9,
    )


@pytest.mark.parametrize("status", list(OrderStatus))
def test_partial_fill_from_every_status(status: OrderStatus) -> None:
    filled = Decimal("1.0") if status is OrderStatus.FILLED else Decimal(0)
    state = _state_with(status, filled=filled)
    before = state.copy()
    if status in FILL_PARTIAL_STATUS:
        state.apply(_fill("0.4"))
        assert state.orders[CID].status is FILL_PARTIAL_STATUS[status]
        assert state.orders[CID].filled == Decimal("0.4")
    else:
        with pytest.raises(DomainError, match="overfill"):
            state.apply(_fill("0.4"))
        assert state == before


@pytest.mark.parametrize("status", sorted(set(OrderStatus) - {OrderStatus.FILLED}))
def test_completing_fill_gives_filled_from_every_status(status: OrderStatus) -> None:
    state = _state_with(status)
    state.apply(_fill("0.4", "a"))
    state.apply(_fill("0.6", "b"))
    order = state.orders[CID]
    assert order.status is OrderStatus.FILLED
    assert order.filled == order.amount
    assert state.trade_ids(CID) == ("a", "b")


def test_overfill_is_refused_and_changes_nothing() -> None:
    state = _state_with(OrderStatus.OPEN)
    state.apply(_fill("0.7", "a"))
    before = state.copy()
    with pytest.raises(DomainError, match=r"tg-7.*overfill"):
        state.apply(_fill("0.31", "b"))
    assert state == before


def test_fill_of_another_side_or_symbol_is_refused() -> None:
    state = _state_with(OrderStatus.OPEN)
    wrong_side = msgspec.structs.replace(_fill("0.1"), side=Side.SELL)
    wrong_symbol = msgspec.structs.replace(_fill("0.1"), symbol=Symbol("ETH/USDT"))
    for event in (wrong_side, wrong_symbol):
        with pytest.raises(InvalidTransitionError, match="tg-7"):
            state.apply(event)
    assert state.orders[CID].filled == 0


def test_average_fill_price_is_size_weighted() -> None:
    state = _state_with(OrderStatus.OPEN)
    state.apply(_fill("0.25", "a"))
    state.apply(msgspec.structs.replace(_fill("0.75", "b"), price=Decimal(104)))
    assert state.orders[CID].average_fill_price == Decimal(103)


@pytest.mark.parametrize("start", list(OrderStatus))
@pytest.mark.parametrize("target", list(OrderStatus))
def test_exchange_evidence_moves_any_state_to_any_state(
    start: OrderStatus, target: OrderStatus
) -> None:
    state = _state_with(start)
    state.apply(
        OrderStateCorrected(
            ts_ns=6,
            client_order_id=CID,
            status=target,
            filled=Decimal("0.3"),
            exchange_order_id=ExchangeOrderId("77"),
            cause="reconcile",
        )
    )
    order = state.orders[CID]
    assert (order.status, order.filled, order.exchange_order_id) == (target, Decimal("0.3"), "77")
    assert order.last_reason == "reconcile"


def test_correction_outside_the_amount_is_refused() -> None:
    state = _state_with(OrderStatus.OPEN)
    for filled in ("1.01", "-0.1"):
        with pytest.raises(DomainError, match="outside"):
            state.apply(
                OrderStateCorrected(
                    ts_ns=6,
                    client_order_id=CID,
                    status=OrderStatus.FILLED,
                    filled=Decimal(filled),
                    cause="reconcile",
                )
            )


def test_open_and_terminal_helpers() -> None:
    assert {s for s in OrderStatus if is_open(s)} == set(OPEN_STATUSES)
    assert {s for s in OrderStatus if is_terminal(s)} == {
        OrderStatus.FILLED,
        OrderStatus.REJECTED,
        OrderStatus.CANCELED,
        OrderStatus.EXPIRED,
        OrderStatus.NOT_PLACED,
    }
    assert not is_open(OrderStatus.UNKNOWN)
    assert not is_terminal(OrderStatus.UNKNOWN)


def test_events_for_an_unknown_order_are_refused() -> None:
    state = SessionState()
    for event in _EVENTS.values():
        with pytest.raises(DomainError, match="tg-7"):
            state.apply(event)
    assert state == SessionState()

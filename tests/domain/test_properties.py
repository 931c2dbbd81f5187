"""Property tests of the pure core: determinism and "a refused event changes nothing"."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradeguard.domain import (
    TRANSITIONS,
    Asset,
    CancelRequested,
    ClientOrderId,
    Event,
    ExchangeOrderId,
    FillRecorded,
    FlagResolved,
    OrderAcknowledged,
    OrderCanceled,
    OrderExpired,
    OrderNotPlaced,
    OrderOutcomeUnknown,
    OrderRejected,
    SessionState,
    Side,
)
from tradeguard.errors import DomainError, InvalidTransitionError

from .strategies import any_event, valid_event_sequences

PROPERTY = settings(
    max_examples=150, deadline=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow]
)


def _replay(events: list[Event]) -> SessionState:
    state = SessionState()
    for seq, event in enumerate(events, 1):
        state.apply(event, seq)
    return state


def _assert_unchanged(state: SessionState, before: SessionState) -> None:
    assert state == before
    assert state._by_exchange_id == before._by_exchange_id


@PROPERTY
@given(valid_event_sequences())
def test_valid_sequences_apply_deterministically(events: list[Event]) -> None:
    first = _replay(events)
    second = SessionState()
    second.apply_all(enumerate(events, 1))
    assert first == second
    assert first.last_seq == len(events)
    for order in first.orders.values():
        assert 0 <= order.filled <= order.amount


def _retarget(event: Event, state: SessionState, data: st.DataObject) -> Event:
    """Point an arbitrary event at ids the state knows, so it hits the real rules."""
    changes: dict[str, object] = {}
    fields = {f.name for f in msgspec.structs.fields(type(event))}
    if state.orders and "client_order_id" in fields and data.draw(st.booleans()):
        order = data.draw(st.sampled_from(list(state.orders.values())))
        changes["client_order_id"] = order.client_order_id
        if "symbol" in fields:
            changes["symbol"] = order.symbol
        if "side" in fields:
            changes["side"] = order.side
    if state.seen_trades and "trade_id" in fields and data.draw(st.booleans()):
        changes["symbol"], changes["trade_id"] = data.draw(
            st.sampled_from(sorted(state.seen_trades))
        )
    if state.flags and "flag_id" in fields and data.draw(st.booleans()):
        flag = data.draw(st.sampled_from(list(state.flags.values())))
        changes["flag_id"] = flag.flag_id
        if "action" in fields:
            changes["action"] = data.draw(st.sampled_from([*flag.actions, "bogus"]))
    return msgspec.structs.replace(event, **changes) if changes else event


@PROPERTY
@given(valid_event_sequences(max_size=40), st.data())
def test_any_event_either_applies_or_raises_a_domain_error_and_changes_nothing(
    events: list[Event], data: st.DataObject
) -> None:
    state = _replay(events)
    for _ in range(5):
        event = _retarget(data.draw(any_event()), state, data)
        before = state.copy()
        try:
            state.apply(event, state.last_seq + 1)
        except DomainError:
            _assert_unchanged(state, before)


_LIFECYCLE = {
    "order_acknowledged": lambda cid: OrderAcknowledged(
        ts_ns=1, client_order_id=cid, exchange_order_id=ExchangeOrderId("x-new")
    ),
    "order_rejected": lambda cid: OrderRejected(ts_ns=1, client_order_id=cid, reason="r"),
    "order_outcome_unknown": lambda cid: OrderOutcomeUnknown(
        ts_ns=1, client_order_id=cid, reason="r"
    ),
    "order_not_placed": lambda cid: OrderNotPlaced(ts_ns=1, client_order_id=cid, reason="r"),
    "cancel_requested": lambda cid: CancelRequested(ts_ns=1, client_order_id=cid),
    "order_canceled": lambda cid: OrderCanceled(ts_ns=1, client_order_id=cid),
    "order_expired": lambda cid: OrderExpired(ts_ns=1, client_order_id=cid),
}


@st.composite
def _forbidden_event(draw: st.DrawFn, state: SessionState) -> Event | None:
    """An event the rules must refuse in ``state``, or None if none can be built."""
    choices: list[Event] = []
    for order in state.orders.values():
        for tag, row in TRANSITIONS.items():
            if order.status not in row:
                choices.append(_LIFECYCLE[tag](ClientOrderId(order.client_order_id)))
    for symbol, trade_id in sorted(state.seen_trades):
        choices.append(
            FillRecorded(
                ts_ns=1,
                client_order_id=None,
                trade_id=trade_id,
                symbol=symbol,
                side=Side.BUY,
                price=Decimal(1),
                amount=Decimal(1),
                fee=Decimal(0),
                fee_asset=Asset("USDT"),
                is_maker=True,
                exchange_ts_ns=1,
            )
        )
    choices.extend(
        FlagResolved(ts_ns=1, flag_id=flag.flag_id, action="not-an-action")
        for flag in state.flags.values()
    )
    return draw(st.sampled_from(choices)) if choices else None


@PROPERTY
@given(valid_event_sequences(min_size=5, max_size=40), st.data())
def test_forbidden_events_raise_and_change_nothing(
    events: list[Event], data: st.DataObject
) -> None:
    state = _replay(events)
    event = data.draw(_forbidden_event(state))
    if event is None:
        return
    before = state.copy()
    with pytest.raises(DomainError) as info:
        state.apply(event, state.last_seq + 1)
    if isinstance(info.value, InvalidTransitionError):
        assert type(event).__struct_config__.tag in str(info.value)
    else:
        assert "already recorded" in str(info.value)
    _assert_unchanged(state, before)

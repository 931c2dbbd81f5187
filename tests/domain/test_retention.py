"""Retention: the state keeps open orders and only the most recently closed ones.

The rule must depend only on the event sequence (live apply == replay), keep the state
bounded however long a session runs, drop a retired order's trade ids from the dedupe
set, and refuse late evidence about a retired order with a clear error.
"""

from __future__ import annotations

import random
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradeguard.domain import (
    TERMINAL_STATUSES,
    Asset,
    ClientOrderId,
    Event,
    ExchangeOrderId,
    FillRecorded,
    MarketKind,
    OrderAcknowledged,
    OrderCanceled,
    OrderIntended,
    OrderStateCorrected,
    OrderStatus,
    OrderType,
    RetentionPolicy,
    SessionState,
    Side,
    Symbol,
    TradeCursorAdvanced,
    TradeId,
)
from tradeguard.errors import DomainError

from .strategies import valid_event_sequences

PROPERTY = settings(
    max_examples=150, deadline=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow]
)
SYM = Symbol("BTC/USDT")


def _tight() -> st.SearchStrategy[RetentionPolicy]:
    return st.builds(
        RetentionPolicy, closed_orders=st.integers(0, 3), external_trades=st.integers(0, 3)
    )


def _replay(events: list[Event], retention: RetentionPolicy) -> SessionState:
    state = SessionState(retention)
    state.apply_all(enumerate(events, 1))
    return state


def _assert_consistent(state: SessionState) -> None:
    """The retention invariants, checked against the state's own contents."""
    limit = state.retention
    assert len(state.closed_orders) <= limit.closed_orders
    closed = [cid for cid, o in state.orders.items() if o.status in TERMINAL_STATUSES]
    assert sorted(closed) == sorted(state.closed_orders)
    assert len(state.external_trades) <= limit.external_trades
    assert set(state.order_trades) <= set(state.orders)
    owned = sum(len(ids) for ids in state.order_trades.values())
    assert len(state.seen_trades) == owned + len(state.external_trades)
    # Derived indexes agree with a rebuild from scratch.
    rebuilt = state.copy()
    rebuilt.rebuild_indexes()
    assert rebuilt == state
    assert rebuilt.seen_trades == state.seen_trades
    assert rebuilt._by_exchange_id == state._by_exchange_id


@st.composite
def _tight_sequences(draw: st.DrawFn) -> tuple[RetentionPolicy, list[Event]]:
    retention = draw(_tight())
    return retention, draw(valid_event_sequences(max_size=80, retention=retention))


@PROPERTY
@given(_tight_sequences())
def test_replay_with_retention_gives_the_live_state(
    case: tuple[RetentionPolicy, list[Event]],
) -> None:
    retention, events = case
    live = SessionState(retention)
    for seq, event in enumerate(events, 1):
        live.apply(event, seq)
        _assert_consistent(live)
    assert _replay(events, retention) == live


@PROPERTY
@given(_tight_sequences())
def test_state_size_stays_bounded(case: tuple[RetentionPolicy, list[Event]]) -> None:
    retention, events = case
    state = SessionState(retention)
    for seq, event in enumerate(events, 1):
        state.apply(event, seq)
        not_closed = sum(1 for o in state.orders.values() if o.status not in TERMINAL_STATUSES)
        assert len(state.orders) <= not_closed + retention.closed_orders
        owned = sum(len(state.trade_ids(cid)) for cid in state.orders)
        assert len(state.seen_trades) <= owned + retention.external_trades
    assert state.fills_recorded == sum(1 for e in events if isinstance(e, FillRecorded))
    retired_or_held = len(state.orders) + state.retired_orders
    created = sum(
        1 for e in events if type(e).__name__ in {"OrderIntended", "ExternalOrderAdopted"}
    )
    assert retired_or_held == created


def test_a_long_session_keeps_a_bounded_state() -> None:
    sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))
    from flow import event_stream

    seed = random.randrange(2**32)
    retention = RetentionPolicy(closed_orders=50, external_trades=5)
    state = SessionState(retention)
    largest = 0
    for seq, event in enumerate(event_stream(20_000, seed=seed, open_orders=7), 1):
        state.apply(event, seq)
        largest = max(largest, len(state.orders))
    assert largest <= 7 + 1 + 50, f"seed {seed}"  # open ones, the one in flight, closed
    assert state.retired_orders > 4_000, f"seed {seed}"
    assert len(state.seen_trades) <= 2 * (7 + 1 + 50), f"seed {seed}"
    _assert_consistent(state)


# --- the rule, event by event --------------------------------------------------------


def _intent(n: int) -> OrderIntended:
    return OrderIntended(
        ts_ns=n,
        client_order_id=ClientOrderId(f"tg-{n}"),
        symbol=SYM,
        kind=MarketKind.SPOT,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        amount=Decimal(1),
        price=Decimal(100),
    )


def _ack(n: int) -> OrderAcknowledged:
    return OrderAcknowledged(
        ts_ns=n,
        client_order_id=ClientOrderId(f"tg-{n}"),
        exchange_order_id=ExchangeOrderId(f"x{n}"),
    )


def _fill(n: int, trade: str, amount: str = "1", cid: bool = True) -> FillRecorded:
    return FillRecorded(
        ts_ns=n,
        client_order_id=ClientOrderId(f"tg-{n}") if cid else None,
        trade_id=TradeId(trade),
        symbol=SYM,
        side=Side.BUY,
        price=Decimal(100),
        amount=Decimal(amount),
        fee=Decimal(0),
        fee_asset=Asset("USDT"),
        is_maker=True,
        exchange_ts_ns=n,
    )


def _cancel(n: int) -> OrderCanceled:
    return OrderCanceled(ts_ns=n, client_order_id=ClientOrderId(f"tg-{n}"))


def _correct(n: int, status: OrderStatus, filled: str = "0") -> OrderStateCorrected:
    return OrderStateCorrected(
        ts_ns=n,
        client_order_id=ClientOrderId(f"tg-{n}"),
        status=status,
        filled=Decimal(filled),
        cause="reconciliation",
    )


def _state(closed: int = 2, external: int = 2) -> SessionState:
    return SessionState(RetentionPolicy(closed_orders=closed, external_trades=external))


def _cids(state: SessionState) -> list[str]:
    return list(state.closed_orders)


def test_oldest_closed_order_is_retired_with_its_trade_ids_and_exchange_id() -> None:
    state = _state(closed=2)
    for n in (1, 2, 3):
        state.apply(_intent(n))
        state.apply(_ack(n))
    state.apply(_fill(1, "t1", "0.4"))
    state.apply(_fill(1, "t2", "0.6"))  # tg-1 FILLED: closes first
    state.apply(_cancel(3))  # then tg-3
    assert _cids(state) == ["tg-1", "tg-3"]
    assert state.trade_ids("tg-1") == ("t1", "t2")
    state.apply(TradeCursorAdvanced(ts_ns=9, symbol=SYM, cursor="t2"))
    state.apply(_cancel(2))  # the third close retires tg-1
    assert _cids(state) == ["tg-3", "tg-2"]
    assert state.order("tg-1") is None
    assert state.retired_orders == 1
    assert state.fills_recorded == 2  # a count of fills, not of ids still deduped
    assert not state.has_trade("BTC/USDT", "t1")
    assert not state.has_trade("BTC/USDT", "t2")
    assert state.trade_ids("tg-1") == ()
    assert state.order_by_exchange_id("BTC/USDT", "x1") is None
    assert state.order_by_exchange_id("BTC/USDT", "x2") is not None
    # Positions and cursors are not retired.
    assert state.position("BTC/USDT").size == Decimal(1)
    assert state.trade_cursors == {SYM: "t2"}


def test_staying_closed_keeps_the_place_and_reopening_leaves_the_queue() -> None:
    state = _state(closed=2)
    for n in (1, 2):
        state.apply(_intent(n))
        state.apply(_ack(n))
    state.apply(_cancel(1))
    state.apply(_cancel(2))
    # A partial fill that happened before the cancel: tg-1 stays CANCELED and first.
    state.apply(_fill(1, "late", "0.5"))
    assert state.orders[ClientOrderId("tg-1")].status is OrderStatus.CANCELED
    assert _cids(state) == ["tg-1", "tg-2"]
    # Exchange evidence reopens tg-1: out of the queue; closing again queues it last.
    state.apply(_correct(1, OrderStatus.OPEN, "0.5"))
    assert _cids(state) == ["tg-2"]
    state.apply(_correct(1, OrderStatus.CANCELED, "0.5"))
    assert _cids(state) == ["tg-2", "tg-1"]
    assert state.retired_orders == 0


@pytest.mark.parametrize(
    "late",
    [
        _fill(1, "t9", "0.5"),
        _correct(1, OrderStatus.FILLED, "1"),
        _cancel(1),
        OrderAcknowledged(
            ts_ns=9, client_order_id=ClientOrderId("tg-1"), exchange_order_id=ExchangeOrderId("x1")
        ),
    ],
    ids=["fill", "correction", "cancel", "ack"],
)
def test_late_evidence_for_a_retired_order_is_refused_clearly(late: Event) -> None:
    state = _state(closed=1)
    for n in (1, 2):
        state.apply(_intent(n))
        state.apply(_ack(n))
        state.apply(_cancel(n))
    assert state.order("tg-1") is None
    before = state.copy()
    with pytest.raises(DomainError, match=r"'tg-1' is not known; 1 closed orders were retired"):
        state.apply(late, seq=100)
    assert state == before
    assert state.last_seq == before.last_seq


def test_an_unknown_order_without_retirements_says_so_plainly() -> None:
    state = _state()
    with pytest.raises(DomainError, match=r"'tg-5' is not known; fill_recorded refused"):
        state.apply(_fill(5, "t"))


def test_external_trade_ids_are_dropped_oldest_first() -> None:
    state = _state(external=2)
    for trade in ("e1", "e2", "e3"):
        state.apply(_fill(0, trade, cid=False))
    assert [key[1] for key in state.external_trades] == ["e2", "e3"]
    assert not state.has_trade("BTC/USDT", "e1")
    assert state.position("BTC/USDT").size == Decimal(3)
    # A dropped id is no longer deduped: the trade cursor is what keeps it from coming back.
    state.apply(_fill(0, "e1", cid=False))
    assert [key[1] for key in state.external_trades] == ["e3", "e1"]


def test_zero_retention_keeps_no_closed_order() -> None:
    state = _state(closed=0)
    state.apply(_intent(1))
    state.apply(_fill(1, "t1"))
    assert state.orders == {}
    assert state.seen_trades == set()
    assert state.order_trades == {}
    assert state.retired_orders == 1
    _assert_consistent(state)


def test_negative_limits_are_refused() -> None:
    with pytest.raises(DomainError, match="closed_orders=-1"):
        RetentionPolicy(closed_orders=-1)
    with pytest.raises(DomainError, match="external_trades=-2"):
        RetentionPolicy(external_trades=-2)


def test_states_with_different_policies_differ() -> None:
    assert _state(closed=1) != _state(closed=2)
    assert SessionState() == SessionState(RetentionPolicy())

"""A pause of new orders: refused while paused, cancels still go out, a strategy keeps
ticking, and the pause survives a restart (replayed from the journal and kept in
snapshots). Real Session, ccxt and the simulator over 127.0.0.1; a real SQLite store."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Literal

import msgspec
import pytest
from sessionfixtures import SETTINGS, open_session

from tradeguard.config import Config
from tradeguard.domain import OrderStatus, SessionState
from tradeguard.domain.enums import FlagSeverity
from tradeguard.domain.events import (
    FlagRaised,
    FlagResolved,
    OperatorRequested,
    TradingPaused,
    TradingResumed,
)
from tradeguard.domain.ids import FlagId
from tradeguard.domain.orders import Order
from tradeguard.errors import DomainError, OrderBlockedError, TradingPausedError
from tradeguard.exchange.ccxt_gateway import CcxtGateway
from tradeguard.session import Session, SessionSettings
from tradeguard.storage import codec
from tradeguard.storage.records import NewRecord

PRICE = Decimal("20000")  # well under the simulator's BTC price: the order rests


def _paused(ts: int = 1, by: str = "alice") -> TradingPaused:
    return TradingPaused(ts_ns=ts, by=by, note="maintenance")


def test_pause_and_resume_change_the_state_and_refuse_what_does_not_fit() -> None:
    state = SessionState()
    state.apply(_paused(), seq=1)
    assert state.paused is not None
    assert (state.paused.by, state.paused.since_ns, state.paused.note) == ("alice", 1,
                                                                           "maintenance")
    with pytest.raises(DomainError, match="already paused"):
        state.apply(_paused(2, "bob"), seq=2)
    assert state.paused.by == "alice"  # a refused event changes nothing
    state.apply(OperatorRequested(ts_ns=3, by="bob", request="reconcile"), seq=3)
    state.apply(TradingResumed(ts_ns=4, by="bob"), seq=4)
    assert state.paused is None
    with pytest.raises(DomainError, match="not paused"):
        state.apply(TradingResumed(ts_ns=5, by="bob"), seq=5)


def test_snapshots_keep_the_pause_and_older_layouts_decode_unpaused() -> None:
    state = SessionState()
    state.apply(_paused(), seq=1)
    restored = codec.decode_state(*codec.encode_state(state))
    assert restored == state
    assert restored.paused == state.paused
    # A v4 snapshot (before pauses existed) decodes as not paused.
    v4 = msgspec.msgpack.decode(codec.encode_state(SessionState())[1])
    del v4["paused"]
    old = codec.decode_state(4, msgspec.msgpack.encode(v4))
    assert old.paused is None


def test_a_v1_flag_resolution_decodes_with_nobody_named() -> None:
    v1 = {"ts_ns": 5, "flag_id": "f-1", "action": "ignore", "note": "old"}
    event = codec.decode_event("flag_resolved", 1, msgspec.msgpack.encode(v1))
    assert isinstance(event, FlagResolved)
    assert (event.action, event.note, event.by) == ("ignore", "old", "")
    state = SessionState()
    state.apply(FlagRaised(ts_ns=1, flag_id=FlagId("f-1"), severity=FlagSeverity.WARNING,
                           kind="large_balance_change", message="m",
                           actions=("acknowledge",)), seq=1)
    state.apply(FlagResolved(ts_ns=2, flag_id=FlagId("f-1"), action="acknowledge",
                             by="operator"), seq=2)
    assert state.flags[FlagId("f-1")].resolved_by == "operator"
    record = codec.encode_event(FlagResolved(ts_ns=2, flag_id=FlagId("f"), action="a"))
    assert isinstance(record, NewRecord)
    assert record.version == 2


async def test_a_paused_session_refuses_new_orders_and_stays_paused_after_a_restart(
    store_config: Config, gateway: CcxtGateway,
) -> None:
    session = await open_session(store_config, gateway)
    try:
        resting = await session.submit_order("BTC/USDT", "buy", "limit", Decimal("0.001"),
                                             PRICE)
        await session.service.append([_paused(time.time_ns())])
        seq = session.state.last_seq
        with pytest.raises(TradingPausedError, match=r"paused by alice since .*maintenance"):
            await session.submit_order("BTC/USDT", "buy", "limit", Decimal("0.001"), PRICE)
        assert session.state.last_seq == seq  # nothing journaled, nothing sent
        canceled = await session.cancel_order(resting.client_order_id)
        assert canceled.status is OrderStatus.CANCELED  # cancels still go out
    finally:
        await session.close()

    again = await open_session(store_config, gateway)
    try:
        assert again.state.paused is not None
        assert again.state.paused.by == "alice"
        with pytest.raises(TradingPausedError):
            await again.submit_order("BTC/USDT", "buy", "limit", Decimal("0.001"), PRICE)
        await again.service.append([TradingResumed(ts_ns=time.time_ns(), by="alice")])
        placed = await again.submit_order("BTC/USDT", "buy", "limit", Decimal("0.001"), PRICE)
        assert placed.status is OrderStatus.OPEN
    finally:
        await again.close()


class _Placer:
    """Tries to place one order every tick; counts what it was refused."""

    symbols = ("BTC/USDT",)

    def __init__(self) -> None:
        self.ticks = 0
        self.refused: list[str] = []
        self.placed = 0

    async def on_start(self, session: Session) -> None:
        del session

    async def on_tick(self, session: Session) -> None:
        self.ticks += 1
        try:
            await session.submit_order("BTC/USDT", "buy", "limit", Decimal("0.001"), PRICE)
        except OrderBlockedError as exc:  # TradingPausedError is one
            self.refused.append(str(exc))
            return
        self.placed += 1

    def recovery_action(self, order: Order) -> Literal["resubmit", "drop"]:
        del order
        return "drop"


async def _until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(1500):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"never happened: {what}")


async def test_a_strategy_keeps_ticking_while_paused_and_only_cannot_place(
    store_config: Config, gateway: CcxtGateway,
) -> None:
    placer = _Placer()
    settings = SessionSettings(symbols=SETTINGS.symbols, tick_interval_seconds=0.02,
                               poll_interval_seconds=0.2, unknown_grace_seconds=0)
    session = await open_session(store_config, gateway, strategy=placer, settings=settings)
    try:
        session.start_background()
        await _until(lambda: placer.placed >= 1, "the strategy placed an order")
        await session.service.append([_paused(time.time_ns())])
        # The pause applied at once: an intent journaled before it may still be on the
        # wire, but no submit passes the check any more.
        orders = len(session.state.orders)
        ticks = placer.ticks
        await _until(lambda: len(placer.refused) >= 3 and placer.ticks >= ticks + 3,
                     "three ticks refused while paused")
        assert all("paused by alice" in why for why in placer.refused)
        assert len(session.state.orders) == orders  # no intent since the pause
        assert session.failure is None
        placed = placer.placed
        await session.service.append([TradingResumed(ts_ns=time.time_ns(), by="alice")])
        await _until(lambda: placer.placed > placed, "the strategy places again")
    finally:
        await session.close()

"""Hypothesis strategies for domain events, reusable by every test package.

``valid_event_sequences()`` simulates a small trading session: it keeps a real
``SessionState`` up to date while it draws, and only draws actions that the lifecycle
allows in the current state (intents, acks, partial fills, cancels, unknown outcomes
resolved either way, corrections, external orders and fills, balances, positions,
cursors, flags raised and resolved, restarts). Replaying what it yields never raises.
If the generator and the domain ever disagree, drawing fails loudly.

``any_event()`` draws one event of any type with arbitrary (type-correct) fields, for
round trips and for throwing unexpected events at a state.
"""

from __future__ import annotations

import enum
import types
import typing
from decimal import Decimal
from typing import Any

import msgspec
from hypothesis import strategies as st

from tradeguard.domain import (
    EVENT_TYPES,
    Asset,
    BalanceUpdated,
    CancelRequested,
    ClientOrderId,
    Event,
    ExchangeOrderId,
    ExternalOrderAdopted,
    FillRecorded,
    FlagId,
    FlagRaised,
    FlagResolved,
    FlagSeverity,
    InstrumentRegistered,
    MarketKind,
    Order,
    OrderAcknowledged,
    OrderCanceled,
    OrderExpired,
    OrderIntended,
    OrderNotPlaced,
    OrderOutcomeUnknown,
    OrderRejected,
    OrderStateCorrected,
    OrderStatus,
    OrderTermsCorrected,
    OrderType,
    PositionCorrected,
    RetentionPolicy,
    SessionStarted,
    SessionState,
    SessionStopped,
    Side,
    Symbol,
    TradeCursorAdvanced,
    TradeId,
)
from tradeguard.domain.enums import LIMIT_PRICE_TYPES, TRIGGER_TYPES

__all__ = [
    "INSTRUMENTS",
    "any_event",
    "decimals",
    "event_of_type",
    "valid_event_sequences",
]

INSTRUMENTS: tuple[InstrumentRegistered, ...] = (
    InstrumentRegistered(
        ts_ns=0,
        symbol=Symbol("BTC/USDT"),
        kind=MarketKind.SPOT,
        base=Asset("BTC"),
        quote=Asset("USDT"),
    ),
    InstrumentRegistered(
        ts_ns=0,
        symbol=Symbol("ETH/USDT"),
        kind=MarketKind.SPOT,
        base=Asset("ETH"),
        quote=Asset("USDT"),
    ),
    InstrumentRegistered(
        ts_ns=0,
        symbol=Symbol("BTC/USDT:USDT"),
        kind=MarketKind.PERPETUAL,
        base=Asset("BTC"),
        quote=Asset("USDT"),
        settle=Asset("USDT"),
    ),
)
_ASSETS = (Asset("USDT"), Asset("BTC"), Asset("ETH"), Asset("BNB"))
_ALL_STATUSES = tuple(OrderStatus)


def decimals(low: int = 1, high: int = 100_000, places: int = 3) -> st.SearchStrategy[Decimal]:
    """Positive decimals ``low..high`` units of ``10**-places`` (exact, no float)."""
    return st.integers(low, high).map(lambda n: Decimal(n).scaleb(-places))


class _Sim:
    """The generator's view of the session: a real state plus id counters."""

    def __init__(self, retention: RetentionPolicy | None = None) -> None:
        self.state = SessionState(retention)
        self.ts_ns = 1_700_000_000_000_000_000
        self.next_order = 0
        self.next_exchange_id = 1000
        self.next_trade = 0
        self.next_flag = 0
        self.runs = 0

    def tick(self, draw: st.DrawFn) -> int:
        self.ts_ns += draw(st.integers(0, 5_000_000_000))
        return self.ts_ns

    def orders_in(self, *statuses: OrderStatus) -> list[Order]:
        return [o for o in self.state.orders.values() if o.status in statuses]

    def exchange_id(self) -> ExchangeOrderId:
        self.next_exchange_id += 1
        return ExchangeOrderId(str(self.next_exchange_id))

    def trade_id(self) -> TradeId:
        self.next_trade += 1
        return TradeId(f"t{self.next_trade}")


_PS, _OPEN, _PF, _FILLED, _UNK, _NP, _REJ, _CAN, _EXP = (
    OrderStatus.PENDING_SUBMIT,
    OrderStatus.OPEN,
    OrderStatus.PARTIALLY_FILLED,
    OrderStatus.FILLED,
    OrderStatus.UNKNOWN,
    OrderStatus.NOT_PLACED,
    OrderStatus.REJECTED,
    OrderStatus.CANCELED,
    OrderStatus.EXPIRED,
)


def _terms(draw: st.DrawFn) -> tuple[OrderType, Decimal | None, Decimal | None]:
    """A type with a price and trigger price that fit it (stops need a trigger)."""
    order_type = draw(st.sampled_from(OrderType))
    price = draw(decimals(1_000, 100_000, 1))
    needs_price = order_type in LIMIT_PRICE_TYPES
    trigger = None
    if order_type in TRIGGER_TYPES and (
        order_type is not OrderType.TRAILING_STOP_MARKET or draw(st.booleans())
    ):
        trigger = draw(decimals(1_000, 100_000, 1))
    return order_type, price if needs_price or draw(st.booleans()) else None, trigger


def _intend(draw: st.DrawFn, sim: _Sim) -> Event | None:
    inst = draw(st.sampled_from(INSTRUMENTS))
    order_type, price, trigger = _terms(draw)
    sim.next_order += 1
    return OrderIntended(
        ts_ns=sim.tick(draw),
        client_order_id=ClientOrderId(f"tg-{sim.next_order}"),
        symbol=inst.symbol,
        kind=inst.kind,
        side=draw(st.sampled_from(Side)),
        order_type=order_type,
        amount=draw(decimals(1, 5_000, 3)),
        price=price,
        reduce_only=inst.kind is MarketKind.PERPETUAL and draw(st.booleans()),
        trigger_price=trigger,
    )


def _correct_terms(draw: st.DrawFn, sim: _Sim) -> Event | None:
    o = _pick(draw, list(sim.state.orders.values()))
    if o is None:
        return None
    order_type, price, trigger = _terms(draw)
    return OrderTermsCorrected(
        ts_ns=sim.tick(draw),
        client_order_id=o.client_order_id,
        order_type=order_type,
        price=price,
        trigger_price=trigger,
        cause="reconciliation: exchange holds other terms",
    )


def _pick(draw: st.DrawFn, orders: list[Order]) -> Order | None:
    return draw(st.sampled_from(orders)) if orders else None


def _ack(draw: st.DrawFn, sim: _Sim) -> Event | None:
    o = _pick(draw, sim.orders_in(_PS, _UNK))
    if o is None:
        return None
    return OrderAcknowledged(
        ts_ns=sim.tick(draw),
        client_order_id=o.client_order_id,
        exchange_order_id=o.exchange_order_id or sim.exchange_id(),
    )


def _reject(draw: st.DrawFn, sim: _Sim) -> Event | None:
    o = _pick(draw, [o for o in sim.orders_in(_PS, _UNK) if not o.filled])
    if o is None:
        return None
    return OrderRejected(
        ts_ns=sim.tick(draw),
        client_order_id=o.client_order_id,
        reason=draw(st.sampled_from(["-2010 insufficient", "-1013 filter"])),
    )


def _unknown(draw: st.DrawFn, sim: _Sim) -> Event | None:
    candidates = sim.orders_in(_PS) + [o for o in sim.orders_in(_OPEN, _PF) if o.cancel_requested]
    o = _pick(draw, candidates)
    if o is None:
        return None
    return OrderOutcomeUnknown(
        ts_ns=sim.tick(draw), client_order_id=o.client_order_id, reason="timeout"
    )


def _not_placed(draw: st.DrawFn, sim: _Sim) -> Event | None:
    o = _pick(
        draw, [o for o in sim.orders_in(_UNK) if o.exchange_order_id is None and not o.filled]
    )
    if o is None:
        return None
    return OrderNotPlaced(
        ts_ns=sim.tick(draw), client_order_id=o.client_order_id, reason="absent after grace period"
    )


def _cancel_request(draw: st.DrawFn, sim: _Sim) -> Event | None:
    o = _pick(draw, sim.orders_in(_PS, _OPEN, _PF, _UNK))
    if o is None:
        return None
    return CancelRequested(ts_ns=sim.tick(draw), client_order_id=o.client_order_id)


def _cancel_or_expire(draw: st.DrawFn, sim: _Sim) -> Event | None:
    o = _pick(draw, sim.orders_in(_PS, _OPEN, _PF, _UNK))
    if o is None:
        return None
    if draw(st.booleans()):
        return OrderCanceled(
            ts_ns=sim.tick(draw), client_order_id=o.client_order_id, reason="canceled"
        )
    return OrderExpired(ts_ns=sim.tick(draw), client_order_id=o.client_order_id)


def _fill(draw: st.DrawFn, sim: _Sim) -> Event | None:
    # Mostly working orders; sometimes late evidence on a finished or unknown one.
    o = _pick(draw, [o for o in sim.state.orders.values() if o.filled < o.amount])
    if o is None:
        return None
    remaining_units = int((o.amount - o.filled).scaleb(3))
    amount = Decimal(draw(st.integers(1, remaining_units))).scaleb(-3)
    return FillRecorded(
        ts_ns=sim.tick(draw),
        client_order_id=o.client_order_id,
        trade_id=sim.trade_id(),
        symbol=o.symbol,
        side=o.side,
        price=draw(decimals(1_000, 100_000, 1)),
        amount=amount,
        fee=draw(decimals(0, 1_000, 6)),
        fee_asset=draw(st.sampled_from(_ASSETS)),
        is_maker=draw(st.booleans()),
        exchange_ts_ns=sim.ts_ns,
    )


def _external_fill(draw: st.DrawFn, sim: _Sim) -> Event | None:
    inst = draw(st.sampled_from(INSTRUMENTS))
    return FillRecorded(
        ts_ns=sim.tick(draw),
        client_order_id=None,
        trade_id=sim.trade_id(),
        symbol=inst.symbol,
        side=draw(st.sampled_from(Side)),
        price=draw(decimals(1_000, 100_000, 1)),
        amount=draw(decimals(1, 5_000, 3)),
        fee=Decimal(0),
        fee_asset=inst.quote,
        is_maker=False,
        exchange_ts_ns=sim.ts_ns,
    )


def _correct(draw: st.DrawFn, sim: _Sim) -> Event | None:
    o = _pick(draw, list(sim.state.orders.values()))
    if o is None:
        return None
    status = draw(st.sampled_from(_ALL_STATUSES))
    filled = (
        o.amount
        if status is _FILLED
        else Decimal(draw(st.integers(0, int(o.amount.scaleb(3))))).scaleb(-3)
    )
    return OrderStateCorrected(
        ts_ns=sim.tick(draw),
        client_order_id=o.client_order_id,
        status=status,
        filled=filled,
        exchange_order_id=o.exchange_order_id or draw(st.sampled_from([None, sim.exchange_id()])),
        average_fill_price=draw(st.none() | decimals(1_000, 100_000, 1)),
        cause="reconciliation: state mismatch",
    )


def _adopt(draw: st.DrawFn, sim: _Sim) -> Event | None:
    inst = draw(st.sampled_from(INSTRUMENTS))
    amount = draw(decimals(1, 5_000, 3))
    order_type, price, trigger = _terms(draw)
    sim.next_order += 1
    return ExternalOrderAdopted(
        ts_ns=sim.tick(draw),
        client_order_id=ClientOrderId(f"ext-{sim.next_order}"),
        exchange_order_id=sim.exchange_id(),
        symbol=inst.symbol,
        kind=inst.kind,
        side=draw(st.sampled_from(Side)),
        order_type=order_type,
        amount=amount,
        price=price,
        trigger_price=trigger,
        status=draw(st.sampled_from([_OPEN, _PF])),
        filled=Decimal(draw(st.integers(0, int(amount.scaleb(3)) - 1))).scaleb(-3),
        cause="reconciliation: external order",
    )


def _balance(draw: st.DrawFn, sim: _Sim) -> Event | None:
    return BalanceUpdated(
        ts_ns=sim.tick(draw),
        asset=draw(st.sampled_from(_ASSETS)),
        free=draw(decimals(0, 10**9, 4)),
        used=draw(decimals(0, 10**6, 4)),
        cause="fetch_balance",
    )


def _position(draw: st.DrawFn, sim: _Sim) -> Event | None:
    size = Decimal(draw(st.integers(-5_000, 5_000))).scaleb(-3)
    return PositionCorrected(
        ts_ns=sim.tick(draw),
        symbol=draw(st.sampled_from(INSTRUMENTS)).symbol,
        size=size,
        entry_price=draw(decimals(1_000, 100_000, 1)) if size else Decimal(0),
        cause="reconciliation: position mismatch",
    )


def _cursor(draw: st.DrawFn, sim: _Sim) -> Event | None:
    return TradeCursorAdvanced(
        ts_ns=sim.tick(draw),
        symbol=draw(st.sampled_from(INSTRUMENTS)).symbol,
        cursor=str(sim.next_trade),
    )


def _raise_flag(draw: st.DrawFn, sim: _Sim) -> Event | None:
    sim.next_flag += 1
    return FlagRaised(
        ts_ns=sim.tick(draw),
        flag_id=FlagId(f"flag-{sim.next_flag}"),
        severity=draw(st.sampled_from(FlagSeverity)),
        kind=draw(st.sampled_from(["vanished_order", "position_mismatch", "balance_mismatch"])),
        symbol=draw(st.none() | st.sampled_from([i.symbol for i in INSTRUMENTS])),
        message="needs a person",
        actions=tuple(
            draw(
                st.lists(
                    st.sampled_from(["accept", "cancel", "adopt", "ignore"]),
                    min_size=1,
                    max_size=3,
                    unique=True,
                )
            )
        ),
    )


def _resolve_flag(draw: st.DrawFn, sim: _Sim) -> Event | None:
    open_flags = sim.state.open_flags()
    if not open_flags:
        return None
    flag = draw(st.sampled_from(open_flags))
    return FlagResolved(
        ts_ns=sim.tick(draw),
        flag_id=flag.flag_id,
        action=draw(st.sampled_from(flag.actions)),
        note="checked by hand",
    )


def _restart(draw: st.DrawFn, sim: _Sim) -> Event | None:
    if sim.state.running and sim.state.run_id is not None and draw(st.booleans()):
        return SessionStopped(ts_ns=sim.tick(draw), run_id=sim.state.run_id)
    sim.runs += 1  # a start while running is a restart after a crash
    return SessionStarted(ts_ns=sim.tick(draw), session_id="sess-1", run_id=f"run-{sim.runs}")


_ACTIONS = (
    (_intend, 6),
    (_ack, 5),
    (_fill, 6),
    (_cancel_request, 2),
    (_cancel_or_expire, 2),
    (_unknown, 2),
    (_not_placed, 1),
    (_reject, 1),
    (_correct, 1),
    (_correct_terms, 1),
    (_adopt, 1),
    (_external_fill, 1),
    (_balance, 1),
    (_position, 1),
    (_cursor, 1),
    (_raise_flag, 1),
    (_resolve_flag, 1),
    (_restart, 1),
)
_WEIGHTED = tuple(action for action, weight in _ACTIONS for _ in range(weight))


@st.composite
def valid_event_sequences(
    draw: st.DrawFn,
    min_size: int = 0,
    max_size: int = 60,
    retention: RetentionPolicy | None = None,
) -> list[Event]:
    """A valid event sequence of a session: session start, instruments, then
    ``min_size..max_size`` lifecycle events. Applying it to a fresh state (with the same
    ``retention``) never raises; only orders the state still holds are targeted."""
    sim = _Sim(retention)
    sim.runs = 1
    events: list[Event] = [
        SessionStarted(ts_ns=sim.tick(draw), session_id="sess-1", run_id="run-1")
    ]
    events += [msgspec.structs.replace(i, ts_ns=sim.tick(draw)) for i in INSTRUMENTS]
    for event in events:
        sim.state.apply(event)
    target = draw(st.integers(min_size, max_size))
    while len(events) - 1 - len(INSTRUMENTS) < target:
        event = draw(st.sampled_from(_WEIGHTED))(draw, sim)
        if event is None:
            continue
        sim.state.apply(event)  # raises if the generator drew something invalid
        events.append(event)
    return events


# --- arbitrary events ----------------------------------------------------------------

_TEXT = st.text(max_size=12)


def _for_type(tp: Any) -> st.SearchStrategy[Any]:
    supertype = getattr(tp, "__supertype__", None)
    if supertype is not None:  # NewType
        return _for_type(supertype)
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return st.one_of(*[_for_type(arg) for arg in typing.get_args(tp)])
    if origin is tuple:
        return st.lists(_TEXT, max_size=3).map(tuple)
    if tp is type(None):
        return st.none()
    if tp is bool:
        return st.booleans()
    if tp is int:
        return st.integers(-(2**63), 2**63 - 1)
    if tp is str:
        return _TEXT
    if tp is Decimal:
        return st.decimals(
            allow_nan=False, allow_infinity=False, places=8, min_value=-(10**12), max_value=10**12
        )
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return st.sampled_from(tp)
    raise TypeError(f"no strategy for field type {tp!r}")


def event_of_type(cls: type[Event]) -> st.SearchStrategy[Event]:
    """One event of class ``cls`` with arbitrary type-correct fields."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: _for_type(hints[f.name]) for f in msgspec.structs.fields(cls)}
    return st.fixed_dictionaries(fields).map(lambda kw: cls(**kw))


def any_event() -> st.SearchStrategy[Event]:
    """An event of any type (not necessarily valid for any state)."""
    return st.one_of(*[event_of_type(cls) for cls in EVENT_TYPES.values()])

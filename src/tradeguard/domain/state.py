"""The session state and the one way to change it: ``SessionState.apply(event)``.

``apply`` is deterministic and validates before it mutates: every handler (see
``handlers``) first builds the new (frozen) order, position, balance or flag values,
raising a ``DomainError`` if the event does not fit, and only then stores them. A
refused event leaves the state exactly as it was. Dispatch is a dict lookup on the
event's class; nothing is deep-copied (the stored values are immutable).

Closed orders and their trade ids are retired by the deterministic rule in
``retention``, so the state (and every snapshot of it) stays bounded however long the
session runs.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable
from decimal import Decimal, getcontext, setcontext
from typing import Any

from tradeguard.domain.balances import Balance, move_balance, spot_lock
from tradeguard.domain.enums import MarketKind, OrderStatus
from tradeguard.domain.events import Event
from tradeguard.domain.flags import Flag, blocks
from tradeguard.domain.handlers import HANDLERS
from tradeguard.domain.ids import Asset, ClientOrderId, ExchangeOrderId, FlagId, Symbol, TradeId
from tradeguard.domain.instruments import Instrument
from tradeguard.domain.orders import OPEN_STATUSES, TERMINAL_STATUSES, Order
from tradeguard.domain.pause import Pause
from tradeguard.domain.positions import DECIMAL_CONTEXT, Position, flat_position
from tradeguard.domain.retention import RetentionPolicy
from tradeguard.errors import DomainError

__all__ = ["Instrument", "SessionState", "TradeKey"]


def _spot_lock(order: Order, instrument: Instrument) -> tuple[Asset, Decimal] | None:
    return spot_lock(
        side=order.side,
        status=order.status,
        order_type=order.order_type,
        remaining=order.remaining,
        price=order.price,
        base=instrument.base,
        quote=instrument.quote,
    )


TradeKey = tuple[Symbol, TradeId]
"""A fill's identity: Binance trade ids are unique per symbol only."""

_CLOSED = TERMINAL_STATUSES
_DEFAULT_RETENTION = RetentionPolicy()


class SessionState:
    """Everything tradeguard knows about one session, rebuilt by replaying its events.

    The mappings hold frozen values; change them only through ``apply``. Equality is by
    value over everything ``apply`` sets, so a replayed state equals the live one.
    ``closed_orders`` lists the retained closed orders in the order they closed (the
    oldest is retired first). ``order_trades`` holds the trade ids of each retained
    order's fills and ``external_trades`` those of fills of no order (oldest first);
    ``seen_trades`` is the dedupe set derived from both.
    """

    __slots__ = (
        "__weakref__",  # storage keeps per-state caches (encoded snapshot parts)
        "_by_exchange_id",
        "account",
        "balances",
        "closed_orders",
        "external_trades",
        "fills_recorded",
        "flags",
        "instruments",
        "last_seq",
        "order_trades",
        "orders",
        "paused",
        "positions",
        "retention",
        "retired_orders",
        "run_id",
        "running",
        "seen_trades",
        "session_id",
        "trade_cursors",
    )

    def __init__(self, retention: RetentionPolicy | None = None) -> None:
        self.retention = _DEFAULT_RETENTION if retention is None else retention
        self.session_id: str | None = None
        self.run_id: str | None = None
        self.running = False
        # (exchange id, account fingerprint) the session is bound to (``AccountBound``).
        self.account: tuple[str, str] | None = None
        # New orders refused since a person paused them (``TradingPaused``), or None.
        self.paused: Pause | None = None
        self.last_seq = 0
        self.instruments: dict[Symbol, Instrument] = {}
        self.orders: dict[ClientOrderId, Order] = {}
        self.positions: dict[Symbol, Position] = {}
        self.balances: dict[Asset, Balance] = {}
        self.flags: dict[FlagId, Flag] = {}
        self.trade_cursors: dict[Symbol, str] = {}
        self.closed_orders: OrderedDict[ClientOrderId, None] = OrderedDict()
        self.retired_orders = 0
        # Every fill ever counted; unlike the dedupe set, never shrinks on retirement.
        self.fills_recorded = 0
        # Trade ids of the fills counted, by order (lists grow in place: no quadratic
        # copying for an order with many fills) and, for fills of no order, in order.
        self.order_trades: dict[ClientOrderId, list[TradeId]] = {}
        self.external_trades: deque[TradeKey] = deque()
        # Derived indexes, rebuilt by ``rebuild_indexes``; not part of equality.
        # (symbol, trade id) of every fill counted: Binance trade ids are per symbol.
        self.seen_trades: set[TradeKey] = set()
        self._by_exchange_id: dict[tuple[Symbol, ExchangeOrderId], ClientOrderId] = {}

    # --- applying events -------------------------------------------------------------

    def apply(self, event: Event, seq: int | None = None) -> None:
        """Apply one event; with ``seq`` (its journal sequence) also set ``last_seq``.

        Raises ``DomainError`` (``InvalidTransitionError`` for a forbidden lifecycle
        move) and changes nothing when the event does not fit the current state.
        """
        if seq is not None and seq <= self.last_seq:
            raise DomainError(
                f"event {type(event).__name__} has seq {seq}, not after last_seq {self.last_seq}"
            )
        handler = HANDLERS.get(type(event))
        if handler is None:
            raise DomainError(f"no handler for event type {type(event).__name__}")
        # Handlers compute with plain operators in the domain's fixed decimal context,
        # whatever context the host program has set.
        saved = getcontext()
        setcontext(DECIMAL_CONTEXT)
        try:
            handler(self, event)
        finally:
            setcontext(saved)
        if seq is not None:
            self.last_seq = seq

    def apply_all(self, events: Iterable[tuple[int, Event]]) -> None:
        """Apply ``(seq, event)`` pairs in order (replay).

        On a refused event, ``last_seq`` is the seq of the last event applied.
        """
        handlers = HANDLERS
        last = self.last_seq
        saved = getcontext()
        setcontext(DECIMAL_CONTEXT)
        try:
            for seq, event in events:
                if seq <= last:
                    raise DomainError(
                        f"event {type(event).__name__} has seq {seq}, not after last_seq {last}"
                    )
                handlers[type(event)](self, event)
                last = seq
        finally:
            self.last_seq = last
            setcontext(saved)

    # --- queries ---------------------------------------------------------------------

    def order(self, client_order_id: str) -> Order | None:
        """The order with this client id, or None (never seen, or retired)."""
        return self.orders.get(ClientOrderId(client_order_id))

    def order_by_exchange_id(self, symbol: str, exchange_order_id: str) -> Order | None:
        """The order the exchange knows as ``exchange_order_id`` on ``symbol``, or None."""
        cid = self._by_exchange_id.get((Symbol(symbol), ExchangeOrderId(exchange_order_id)))
        return None if cid is None else self.orders[cid]

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        """Orders PENDING_SUBMIT, OPEN or PARTIALLY_FILLED (optionally of one symbol)."""
        return [
            o
            for o in self.orders.values()
            if o.status in OPEN_STATUSES and (symbol is None or o.symbol == symbol)
        ]

    def orders_by_status(self, *statuses: OrderStatus) -> list[Order]:
        """Orders in any of ``statuses``, in the order they were first seen."""
        wanted = frozenset(statuses)
        return [o for o in self.orders.values() if o.status in wanted]

    def unresolved_orders(self) -> list[Order]:
        """Orders whose fate only the exchange can settle: PENDING_SUBMIT and UNKNOWN."""
        return self.orders_by_status(OrderStatus.PENDING_SUBMIT, OrderStatus.UNKNOWN)

    def trade_ids(self, client_order_id: str) -> tuple[TradeId, ...]:
        """Trade ids of the fills counted for this order, in the order recorded."""
        return tuple(self.order_trades.get(ClientOrderId(client_order_id), ()))

    def position(self, symbol: str) -> Position:
        """The position of ``symbol`` (flat if it never traded)."""
        found = self.positions.get(Symbol(symbol))
        return flat_position(Symbol(symbol)) if found is None else found

    def open_flags(self) -> list[Flag]:
        """Flags not yet resolved."""
        return [f for f in self.flags.values() if f.is_open]

    def is_blocked(self, symbol: str) -> bool:
        """True if an open flag stops new risk on ``symbol`` (critical: on everything)."""
        sym = Symbol(symbol)
        return any(blocks(f, sym) for f in self.flags.values())

    def has_trade(self, symbol: str, trade_id: str) -> bool:
        """Whether a fill with this trade id is in the dedupe set (callers dedupe)."""
        return (Symbol(symbol), TradeId(trade_id)) in self.seen_trades

    # --- value semantics -------------------------------------------------------------

    def copy(self) -> SessionState:
        """An independent copy (the stored values are immutable; lists are copied)."""
        other = SessionState(self.retention)
        other.session_id = self.session_id
        other.run_id = self.run_id
        other.running = self.running
        other.account = self.account
        other.paused = self.paused
        other.last_seq = self.last_seq
        other.instruments = dict(self.instruments)
        other.orders = dict(self.orders)
        other.positions = dict(self.positions)
        other.balances = dict(self.balances)
        other.flags = dict(self.flags)
        other.trade_cursors = dict(self.trade_cursors)
        other.closed_orders = OrderedDict(self.closed_orders)
        other.retired_orders = self.retired_orders
        other.fills_recorded = self.fills_recorded
        other.order_trades = {cid: list(ids) for cid, ids in self.order_trades.items()}
        other.external_trades = deque(self.external_trades)
        other.seen_trades = set(self.seen_trades)
        other._by_exchange_id = dict(self._by_exchange_id)
        return other

    def rebuild_indexes(self) -> None:
        """Recompute derived indexes after the mappings were filled directly (snapshots)."""
        self._by_exchange_id = {
            (o.symbol, o.exchange_order_id): cid
            for cid, o in self.orders.items()
            if o.exchange_order_id is not None
        }
        orders = self.orders
        self.seen_trades = {
            (orders[cid].symbol, trade_id)
            for cid, trade_ids in self.order_trades.items()
            for trade_id in trade_ids
        }
        self.seen_trades.update(self.external_trades)

    def enforce_retention(self) -> int:
        """Retire the oldest closed orders beyond the policy; return how many went.

        ``apply`` keeps the state within its policy by itself; this is for a state
        loaded from an older snapshot layout that did not retire anything.
        """
        retired = 0
        while len(self.closed_orders) > self.retention.closed_orders:
            self._retire_oldest_closed()
            retired += 1
        external = self.external_trades
        while len(external) > self.retention.external_trades:
            self.seen_trades.discard(external.popleft())
        return retired

    def _key(self) -> tuple[Any, ...]:
        return (
            self.retention,
            self.session_id,
            self.run_id,
            self.running,
            self.account,
            self.paused,
            self.last_seq,
            self.instruments,
            self.orders,
            self.positions,
            self.balances,
            self.flags,
            self.trade_cursors,
            self.closed_orders,  # OrderedDict: the retirement order counts
            self.retired_orders,
            self.fills_recorded,
            self.order_trades,
            self.external_trades,  # deque: its order decides the next drop
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SessionState):
            return NotImplemented
        return self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]  # mutable container

    def __repr__(self) -> str:
        return (
            f"SessionState(session_id={self.session_id!r}, last_seq={self.last_seq}, "
            f"orders={len(self.orders)}, closed={len(self.closed_orders)}, "
            f"retired={self.retired_orders}, positions={len(self.positions)}, "
            f"balances={len(self.balances)}, flags={len(self.flags)})"
        )

    # --- primitives for the handlers (validation is done before these are called) -----

    def _existing_order(self, client_order_id: ClientOrderId, event_type: str) -> Order:
        found = self.orders.get(client_order_id)
        if found is None:
            raise self._unknown_order(client_order_id, event_type)
        return found

    def _unknown_order(self, client_order_id: ClientOrderId | None, event_type: str) -> DomainError:
        retired = (
            f"; {self.retired_orders} closed orders were retired (the state keeps the "
            f"{self.retention.closed_orders} most recently closed)"
            if self.retired_orders
            else ""
        )
        return DomainError(f"order {client_order_id!r} is not known{retired}; {event_type} refused")

    def _check_exchange_id_free(self, order: Order, event_type: str) -> None:
        if order.exchange_order_id is None:
            return
        owner = self._by_exchange_id.get((order.symbol, order.exchange_order_id))
        if owner is not None and owner != order.client_order_id:
            raise DomainError(
                f"order {order.client_order_id!r}: {event_type} gives exchange id "
                f"{order.exchange_order_id!r} on {order.symbol}, already used by order {owner!r}"
            )

    def _store_order(self, order: Order, previous: Order | None) -> None:
        """Store ``order`` (replacing ``previous``), keep indexes and the closed queue."""
        cid = order.client_order_id
        xid = order.exchange_order_id
        if previous is None:
            if xid is not None:
                self._by_exchange_id[(order.symbol, xid)] = cid
        elif previous.exchange_order_id != xid:
            if previous.exchange_order_id is not None:
                del self._by_exchange_id[(previous.symbol, previous.exchange_order_id)]
            if xid is not None:
                self._by_exchange_id[(order.symbol, xid)] = cid
        self.orders[cid] = order
        self._relock(order, previous)
        if order.status in _CLOSED:
            # Closing is the first move into a terminal status; staying there keeps the
            # order's place in the queue.
            closed = self.closed_orders
            if cid not in closed:
                closed[cid] = None
                if len(closed) > self.retention.closed_orders:
                    self._retire_oldest_closed()
        elif previous is not None and previous.status in _CLOSED:
            self.closed_orders.pop(cid, None)  # exchange evidence reopened it

    def _relock(self, order: Order, previous: Order | None) -> None:
        """Move the spot wallet's locked funds as the order's lock changes (never fails)."""
        instrument = self.instruments.get(order.symbol)
        if instrument is None or instrument.kind is not MarketKind.SPOT or not self.balances:
            return
        before = None if previous is None else _spot_lock(previous, instrument)
        after = _spot_lock(order, instrument)
        if before == after:
            return
        ts = order.updated_ns
        if before is not None:
            move_balance(self.balances, before[0], free=before[1], used=-before[1], ts_ns=ts)
        if after is not None:
            move_balance(self.balances, after[0], free=-after[1], used=after[1], ts_ns=ts)

    def _retire_oldest_closed(self) -> None:
        cid, _ = self.closed_orders.popitem(last=False)
        order = self.orders.pop(cid)
        xid = order.exchange_order_id
        if xid is not None:
            key = (order.symbol, xid)
            if self._by_exchange_id.get(key) == cid:
                del self._by_exchange_id[key]
        trades = self.order_trades.pop(cid, None)
        if trades:
            seen = self.seen_trades
            symbol = order.symbol
            for trade_id in trades:
                seen.discard((symbol, trade_id))
        self.retired_orders += 1

    def _record_trade(self, key: TradeKey, owner: ClientOrderId | None) -> None:
        """Add a counted fill to the dedupe set (the caller checked it is new)."""
        self.seen_trades.add(key)
        self.fills_recorded += 1
        if owner is None:
            external = self.external_trades
            external.append(key)
            if len(external) > self.retention.external_trades:
                self.seen_trades.discard(external.popleft())
            return
        ids = self.order_trades.get(owner)
        if ids is None:
            self.order_trades[owner] = [key[1]]
        else:
            ids.append(key[1])

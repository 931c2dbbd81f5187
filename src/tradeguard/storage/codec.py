"""Codec between domain events / session state and stored records (pure, no I/O).

Events are stored as msgpack maps (``msgspec.msgpack``; Decimals as strings), under the
record type = the event's tag and version = its class ``schema_version``. Reading the
current version goes through a cached typed decoder per type (the replay fast path).
An older version is decoded to a dict, passed through the registered upcasters
(v1 -> v2 -> ...) and converted to the event class. Snapshots work the same way with
their own version and upcaster registry.

Shipped changes: ``fill_recorded`` v1 stored ``qty`` and a fee string such as
``"0.0012 BNB"``; v2 stores ``amount``, ``fee`` and ``fee_asset``. ``order_intended``
and ``external_order_adopted`` v2 (and snapshot v3, whose orders carry it) added the
trigger price of stop and take-profit orders; older records had none.
``flag_resolved`` v2 added who resolved it (``by``; v1: not recorded). Snapshot v5
holds the pause of new orders (``paused``).
"""

from __future__ import annotations

import re
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any, Final, TypeVar, cast

import msgspec

from tradeguard.domain.balances import Balance
from tradeguard.domain.events import EVENT_TYPES, AnyEvent, Event, FillRecorded
from tradeguard.domain.flags import Flag
from tradeguard.domain.ids import ClientOrderId, Symbol, TradeId
from tradeguard.domain.instruments import Instrument
from tradeguard.domain.orders import TERMINAL_STATUSES, Order
from tradeguard.domain.pause import Pause
from tradeguard.domain.positions import Position
from tradeguard.domain.retention import RetentionPolicy
from tradeguard.domain.state import SessionState
from tradeguard.errors import (
    CorruptRecordError,
    CorruptSnapshotError,
    DomainError,
    UnsupportedVersionError,
)
from tradeguard.storage.records import NewRecord, StoredRecord

__all__ = [
    "EVENT_DECODERS",
    "EVENT_VERSIONS",
    "SNAPSHOT_UPCASTERS",
    "SNAPSHOT_VERSION",
    "UPCASTERS",
    "StateSnapshot",
    "decode_event",
    "decode_records",
    "decode_state",
    "encode_event",
    "encode_event_v1_for_fixture",
    "encode_state",
    "register_snapshot_upcaster",
    "register_upcaster",
    "upcast_fill_recorded_v1_v2",
    "upcast_flag_resolved_v1_v2",
    "upcast_no_trigger_v1_v2",
    "upcast_snapshot_v1_v2",
    "upcast_snapshot_v2_v3",
    "upcast_snapshot_v3_v4",
    "upcast_snapshot_v4_v5",
]

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
_F = TypeVar("_F", bound=Upcaster)

UPCASTERS: dict[tuple[str, int], Upcaster] = {}
"""(event type, from_version) -> function turning that version's dict into the next's."""

SNAPSHOT_UPCASTERS: dict[int, Upcaster] = {}
"""from_version -> function turning a snapshot dict of that version into the next's."""

SNAPSHOT_VERSION: Final = 5
"""Version of the snapshot layout this build writes (2: retention, trade owners;
3: orders carry a trigger price; 4: the exchange account the session is bound to;
5: the pause of new orders)."""

_encoder = msgspec.msgpack.Encoder()  # Decimal -> str is msgspec's default
_dict_decoder = msgspec.msgpack.Decoder(dict[str, Any])
_decoders: dict[str, msgspec.msgpack.Decoder[Any]] = {
    tag: msgspec.msgpack.Decoder(cls) for tag, cls in EVENT_TYPES.items()
}
_versions: dict[str, int] = {tag: cls.schema_version for tag, cls in EVENT_TYPES.items()}

EVENT_DECODERS: Final[Mapping[str, msgspec.msgpack.Decoder[Any]]] = MappingProxyType(_decoders)
"""Record type -> typed decoder of its current version, for replay loops that inline
``decode_event``'s fast path (other versions must go through ``decode_event``)."""

EVENT_VERSIONS: Final[Mapping[str, int]] = MappingProxyType(_versions)
"""Record type -> the schema version this build writes."""


def register_upcaster(event_type: str, from_version: int) -> Callable[[_F], _F]:
    """Decorator registering ``dict -> dict`` that upgrades ``event_type`` by one version."""

    def register(func: _F) -> _F:
        key = (event_type, from_version)
        if key in UPCASTERS:
            raise ValueError(f"an upcaster for {event_type} v{from_version} is registered")
        UPCASTERS[key] = func
        return func

    return register


def register_snapshot_upcaster(from_version: int) -> Callable[[_F], _F]:
    """Decorator registering ``dict -> dict`` that upgrades a snapshot by one version."""

    def register(func: _F) -> _F:
        if from_version in SNAPSHOT_UPCASTERS:
            raise ValueError(f"a snapshot upcaster for v{from_version} is registered")
        SNAPSHOT_UPCASTERS[from_version] = func
        return func

    return register


# --- events --------------------------------------------------------------------------


def encode_event(event: Event) -> NewRecord:
    """The journal record of ``event`` (current schema version)."""
    cls = type(event)
    return NewRecord(
        type=cls.__struct_config__.tag,  # type: ignore[arg-type]  # every event has a str tag
        version=cls.schema_version,
        ts_ns=event.ts_ns,
        payload=_encoder.encode(event),
    )


def decode_event(type: str, version: int, payload: bytes) -> AnyEvent:
    """The event stored as (``type``, ``version``, ``payload``), upcast if it is older.

    Raises ``UnsupportedVersionError`` for an unknown type, a version newer than this
    build or a missing upcaster, and ``CorruptRecordError`` for undecodable bytes.
    """
    current = _versions.get(type)
    if current is not None and version == current:
        try:
            return cast("AnyEvent", _decoders[type].decode(payload))
        except msgspec.DecodeError as exc:
            raise CorruptRecordError(
                f"record of type {type} v{version} cannot be decoded: {exc}"
            ) from exc
    return _decode_old(type, version, payload, current)


def _decode_old(type_: str, version: int, payload: bytes, current: int | None) -> AnyEvent:
    if current is None:
        raise UnsupportedVersionError(f"unknown record type {type_!r} (version {version})")
    if version > current or version < 1:
        raise UnsupportedVersionError(
            f"record type {type_} version {version} is not readable by this build "
            f"(current version {current})"
        )
    try:
        data = _dict_decoder.decode(payload)
    except msgspec.DecodeError as exc:
        raise CorruptRecordError(
            f"record of type {type_} v{version} cannot be decoded: {exc}"
        ) from exc
    for step in range(version, current):
        upcaster = UPCASTERS.get((type_, step))
        if upcaster is None:
            raise UnsupportedVersionError(
                f"no upcaster for record type {type_} version {step} -> {step + 1}"
            )
        data = upcaster(data)
    try:
        return cast("AnyEvent", msgspec.convert(data, EVENT_TYPES[type_]))
    except msgspec.ValidationError as exc:
        raise CorruptRecordError(
            f"record of type {type_} v{version} does not fit v{current} after upcasting: {exc}"
        ) from exc


def decode_records(records: Iterable[StoredRecord]) -> Iterator[tuple[int, AnyEvent]]:
    """``(seq, event)`` for each stored record, in the given order (replay fast path).

    Raised errors carry the record's ``seq`` when they are ``CorruptRecordError``.
    """
    decoders = _decoders
    versions = _versions
    for record in records:
        rtype = record.type
        if versions.get(rtype) == record.version:
            try:
                event = decoders[rtype].decode(record.payload)
            except msgspec.DecodeError as exc:
                raise CorruptRecordError(
                    f"record {record.seq} of type {rtype} v{record.version} cannot be "
                    f"decoded: {exc}",
                    seq=record.seq,
                ) from exc
        else:
            try:
                event = _decode_old(rtype, record.version, record.payload, versions.get(rtype))
            except CorruptRecordError as exc:
                raise CorruptRecordError(f"record {record.seq}: {exc}", seq=record.seq) from exc
        yield record.seq, event


# --- fill_recorded v1 -> v2 ----------------------------------------------------------

_V1_FEE = re.compile(r"\s*(\S+)\s+([A-Za-z0-9]+)\s*")


@register_upcaster("fill_recorded", 1)
def upcast_fill_recorded_v1_v2(data: dict[str, Any]) -> dict[str, Any]:
    """``fill_recorded`` v1 -> v2: ``qty`` becomes ``amount``; the fee string
    ``"<amount> <asset>"`` splits into ``fee`` and ``fee_asset``.

    A fee string that is not a decimal followed by an asset raises ``CorruptRecordError``.
    """
    out = dict(data)
    try:
        out["amount"] = out.pop("qty")
        fee_text = out.pop("fee")
    except KeyError as exc:
        raise CorruptRecordError(f"fill_recorded v1 record lacks field {exc.args[0]!r}") from exc
    match = _V1_FEE.fullmatch(fee_text) if isinstance(fee_text, str) else None
    if match is None:
        raise CorruptRecordError(
            f"fill_recorded v1 fee {fee_text!r} is not '<amount> <asset>' "
            f"(trade {data.get('trade_id')!r})"
        )
    amount_text, asset = match.groups()
    try:
        fee = Decimal(amount_text)
    except InvalidOperation as exc:
        raise CorruptRecordError(
            f"fill_recorded v1 fee {fee_text!r} has no decimal amount "
            f"(trade {data.get('trade_id')!r})"
        ) from exc
    if not fee.is_finite():
        raise CorruptRecordError(f"fill_recorded v1 fee {fee_text!r} is not a finite amount")
    out["fee"] = amount_text
    out["fee_asset"] = asset
    return out


# --- order_intended / external_order_adopted v1 -> v2 --------------------------------


@register_upcaster("order_intended", 1)
@register_upcaster("external_order_adopted", 1)
def upcast_no_trigger_v1_v2(data: dict[str, Any]) -> dict[str, Any]:
    """v1 -> v2 of the events that create orders: v1 knew only limit and market
    orders, so the order has no trigger price."""
    return {"trigger_price": None, **data}


# --- flag_resolved v1 -> v2 ----------------------------------------------------------


@register_upcaster("flag_resolved", 1)
def upcast_flag_resolved_v1_v2(data: dict[str, Any]) -> dict[str, Any]:
    """``flag_resolved`` v1 -> v2: ``by`` (who resolved it) empty: v1 did not record it."""
    return {"by": "", **data}


def encode_event_v1_for_fixture(event: FillRecorded) -> NewRecord:
    """Write ``event`` in the old v1 layout of ``fill_recorded``.

    Only for building the committed v1 fixture store and for tests of the upcaster;
    production code always writes the current version with ``encode_event``.
    """
    data = msgspec.to_builtins(event)
    data["qty"] = data.pop("amount")
    data["fee"] = f"{data.pop('fee')} {data.pop('fee_asset')}"
    return NewRecord(
        type="fill_recorded", version=1, ts_ns=event.ts_ns, payload=_encoder.encode(data)
    )


# --- snapshots -----------------------------------------------------------------------


@register_snapshot_upcaster(4)
def upcast_snapshot_v4_v5(data: dict[str, Any]) -> dict[str, Any]:
    """Snapshot v4 -> v5: ``paused`` (none: v4 knew no pause of new orders)."""
    return {**data, "paused": None}


@register_snapshot_upcaster(3)
def upcast_snapshot_v3_v4(data: dict[str, Any]) -> dict[str, Any]:
    """Snapshot v3 -> v4: ``account`` (none: v3 stores were bound to no account; the
    next start binds them)."""
    return {**data, "account": None}


class StateSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """The whole session state as stored in a snapshot (layout ``SNAPSHOT_VERSION``).

    ``closed_orders`` is the retirement queue (oldest close first); ``order_trades``
    the trade ids of each order's fills; ``external_trades`` those of fills of no
    order, oldest first (the order they are dropped in).
    """

    last_seq: int
    session_id: str | None
    run_id: str | None
    running: bool
    retention: RetentionPolicy
    instruments: list[Instrument]
    orders: list[Order]
    positions: list[Position]
    balances: list[Balance]
    flags: list[Flag]
    trade_cursors: dict[Symbol, str]
    closed_orders: list[ClientOrderId]
    retired_orders: int
    fills_recorded: int
    order_trades: dict[ClientOrderId, list[TradeId]]
    external_trades: list[tuple[Symbol, TradeId]]
    account: tuple[str, str] | None = None
    paused: Pause | None = None


class _SnapshotOut(msgspec.Struct, frozen=True, kw_only=True):
    """``StateSnapshot`` as written: the same fields in the same order (so the bytes
    decode as a ``StateSnapshot``), with orders pre-encoded."""

    last_seq: int
    session_id: str | None
    run_id: str | None
    running: bool
    retention: RetentionPolicy
    instruments: list[Instrument]
    orders: list[msgspec.Raw]
    positions: list[Position]
    balances: list[Balance]
    flags: list[Flag]
    trade_cursors: dict[Symbol, str]
    closed_orders: list[ClientOrderId]
    retired_orders: int
    fills_recorded: int
    order_trades: dict[ClientOrderId, list[TradeId]]
    external_trades: list[tuple[Symbol, TradeId]]
    account: tuple[str, str] | None = None
    paused: Pause | None = None


_snapshot_decoder = msgspec.msgpack.Decoder(StateSnapshot)

# Encoded orders of the last snapshot of each live state. Orders are immutable values
# and most of them (resting open orders, closed orders) are the very same objects at
# the next snapshot, so only the orders changed since are encoded again: snapshots are
# encoded on the event loop and must take milliseconds. Keyed by id(state) with a weak
# reference (a SessionState is unhashable); the entry goes when the state does.
class _OrderCache:
    """The orders last encoded for one state and their encodings, by client order id."""

    __slots__ = ("encoded", "orders", "ref")

    def __init__(self, ref: weakref.ref[SessionState]) -> None:
        self.ref = ref
        self.orders: dict[ClientOrderId, Order] = {}
        self.encoded: dict[ClientOrderId, msgspec.Raw] = {}


_order_caches: dict[int, _OrderCache] = {}


def _orders_encoded(state: SessionState) -> list[msgspec.Raw]:
    key = id(state)
    cache = _order_caches.get(key)
    if cache is None or cache.ref() is not state:

        def forget(_: weakref.ref[SessionState]) -> None:
            _order_caches.pop(key, None)

        cache = _order_caches[key] = _OrderCache(weakref.ref(state, forget))
    known, encoded = cache.orders, cache.encoded
    encode = _encoder.encode
    orders = state.orders
    for cid, order in orders.items():
        if known.get(cid) is not order:
            known[cid] = order
            encoded[cid] = msgspec.Raw(encode(order))
    for gone in known.keys() - orders.keys():  # retired since the last snapshot
        del known[gone], encoded[gone]
    return list(map(encoded.__getitem__, orders))


def encode_state(state: SessionState) -> tuple[int, bytes]:
    """``(SNAPSHOT_VERSION, payload)`` of the whole state, ``last_seq`` included."""
    snapshot = _SnapshotOut(
        last_seq=state.last_seq,
        session_id=state.session_id,
        run_id=state.run_id,
        running=state.running,
        retention=state.retention,
        instruments=list(state.instruments.values()),
        orders=_orders_encoded(state),
        positions=list(state.positions.values()),
        balances=list(state.balances.values()),
        flags=list(state.flags.values()),
        trade_cursors=state.trade_cursors,
        closed_orders=list(state.closed_orders),
        retired_orders=state.retired_orders,
        fills_recorded=state.fills_recorded,
        order_trades=state.order_trades,
        external_trades=list(state.external_trades),
        account=state.account,
        paused=state.paused,
    )
    return SNAPSHOT_VERSION, _encoder.encode(snapshot)


def decode_state(version: int, payload: bytes) -> SessionState:
    """The state stored in a snapshot payload of ``version`` (upcast if older).

    Raises ``UnsupportedVersionError`` for a newer version or a missing upcaster and
    ``CorruptSnapshotError`` for bytes that do not decode into a consistent state.
    """
    if version > SNAPSHOT_VERSION or version < 1:
        raise UnsupportedVersionError(
            f"snapshot version {version} is not readable by this build "
            f"(current version {SNAPSHOT_VERSION})"
        )
    try:
        if version == SNAPSHOT_VERSION:
            snapshot = _snapshot_decoder.decode(payload)
        else:
            data = _dict_decoder.decode(payload)
            for step in range(version, SNAPSHOT_VERSION):
                upcaster = SNAPSHOT_UPCASTERS.get(step)
                if upcaster is None:
                    raise UnsupportedVersionError(
                        f"no snapshot upcaster for version {step} -> {step + 1}"
                    )
                data = upcaster(data)
            snapshot = msgspec.convert(data, StateSnapshot)
    except (msgspec.DecodeError, DomainError) as exc:
        raise CorruptSnapshotError(f"snapshot v{version} cannot be decoded: {exc}") from exc
    return _state_from(snapshot)


def _state_from(snapshot: StateSnapshot) -> SessionState:
    state = SessionState(snapshot.retention)
    state.last_seq = snapshot.last_seq
    state.session_id = snapshot.session_id
    state.run_id = snapshot.run_id
    state.running = snapshot.running
    state.instruments = {i.symbol: i for i in snapshot.instruments}
    state.orders = {o.client_order_id: o for o in snapshot.orders}
    state.positions = {p.symbol: p for p in snapshot.positions}
    state.balances = {b.asset: b for b in snapshot.balances}
    state.flags = {f.flag_id: f for f in snapshot.flags}
    state.trade_cursors = dict(snapshot.trade_cursors)
    state.closed_orders = OrderedDict.fromkeys(snapshot.closed_orders)
    state.retired_orders = snapshot.retired_orders
    state.fills_recorded = snapshot.fills_recorded
    state.order_trades = snapshot.order_trades
    state.external_trades = deque(snapshot.external_trades)
    state.account = snapshot.account
    state.paused = snapshot.paused
    if len(state.orders) != len(snapshot.orders) or len(state.closed_orders) != len(
        snapshot.closed_orders
    ):
        raise CorruptSnapshotError("snapshot holds duplicate orders or closed order ids")
    _check_references(state)
    state.rebuild_indexes()
    trades = sum(len(ids) for ids in state.order_trades.values()) + len(state.external_trades)
    if len(state.seen_trades) != trades:
        raise CorruptSnapshotError("snapshot holds duplicate trade ids")
    # Only an upcast older snapshot can hold more closed orders than its policy allows.
    state.enforce_retention()
    return state


def _check_references(state: SessionState) -> None:
    orders = state.orders
    for cid in state.closed_orders:
        order = orders.get(cid)
        if order is None or order.status not in TERMINAL_STATUSES:
            raise CorruptSnapshotError(
                f"snapshot lists order {cid!r} as closed, but it is "
                f"{'missing' if order is None else order.status.value}"
            )
    for cid in state.order_trades:
        if cid not in orders:
            raise CorruptSnapshotError(f"snapshot has trade ids of order {cid!r}, not held")


@register_snapshot_upcaster(1)
def upcast_snapshot_v1_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Snapshot v1 -> v2: trade ids move from the orders into ``order_trades``; the
    other v1 trade ids (fills of no order) become ``external_trades`` in v1's order;
    closed orders form the retirement queue in the order v1 listed them (first seen:
    v1 did not record when they closed); nothing retired yet; default retention.
    Decoding then retires what the policy does not keep, oldest first.
    """
    out = dict(data)
    orders = []
    closed = []
    order_trades: dict[str, list[str]] = {}
    owned: set[tuple[str, str]] = set()
    terminal = {status.value for status in TERMINAL_STATUSES}
    try:
        for raw in data["orders"]:
            order = dict(raw)
            cid = order["client_order_id"]
            trade_ids = list(order.pop("trade_ids", ()))
            if trade_ids:
                order_trades[cid] = trade_ids
                owned.update((order["symbol"], trade_id) for trade_id in trade_ids)
            if order["status"] in terminal:
                closed.append(cid)
            orders.append(order)
        external = [
            [symbol, trade_id]
            for symbol, trade_id in data["seen_trades"]
            if (symbol, trade_id) not in owned
        ]
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptSnapshotError(f"snapshot v1 is malformed: {exc!r}") from exc
    out.pop("seen_trades")
    out["orders"] = orders
    out["closed_orders"] = closed
    out["retired_orders"] = 0
    out["fills_recorded"] = len(data["seen_trades"])
    out["order_trades"] = order_trades
    out["external_trades"] = external
    out["retention"] = {}
    return out


@register_snapshot_upcaster(2)
def upcast_snapshot_v2_v3(data: dict[str, Any]) -> dict[str, Any]:
    """Snapshot v2 -> v3: every order gains ``trigger_price`` (none: v2 knew only
    limit and market orders)."""
    try:
        orders = [{"trigger_price": None, **order} for order in data["orders"]]
    except (KeyError, TypeError) as exc:
        raise CorruptSnapshotError(f"snapshot v2 is malformed: {exc!r}") from exc
    return {**data, "orders": orders}

"""The event/snapshot codec: round trips, replay equivalence, upcasting, damage."""

from __future__ import annotations

import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# tests/ is on sys.path (rootdir conftest), as for the other shared test helpers.
from domain.strategies import event_of_type, valid_event_sequences
from tradeguard.domain import (
    EVENT_TYPES,
    TERMINAL_STATUSES,
    Asset,
    BalanceUpdated,
    ClientOrderId,
    Event,
    FillRecorded,
    RetentionPolicy,
    SessionState,
    Side,
    Symbol,
    TradeId,
)
from tradeguard.errors import CorruptRecordError, CorruptSnapshotError, UnsupportedVersionError
from tradeguard.storage import codec
from tradeguard.storage.codec import (
    SNAPSHOT_VERSION,
    decode_event,
    decode_records,
    decode_state,
    encode_event,
    encode_event_v1_for_fixture,
    encode_state,
    register_upcaster,
    upcast_fill_recorded_v1_v2,
)
from tradeguard.storage.records import StoredRecord

PROPERTY = settings(
    max_examples=100, deadline=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow]
)


def _stored(events: list[Event]) -> list[StoredRecord]:
    records = []
    for seq, event in enumerate(events, 1):
        rec = encode_event(event)
        records.append(
            StoredRecord(
                seq=seq,
                type=rec.type,
                version=rec.version,
                ts_ns=rec.ts_ns,
                epoch=1,
                payload=rec.payload,
                crc=0,
            )
        )
    return records


def _live(events: list[Event], retention: RetentionPolicy | None = None) -> SessionState:
    state = SessionState(retention)
    for seq, event in enumerate(events, 1):
        state.apply(event, seq)
    return state


@pytest.mark.parametrize("tag", sorted(EVENT_TYPES))
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_every_event_type_round_trips(tag: str, data: st.DataObject) -> None:
    event = data.draw(event_of_type(EVENT_TYPES[tag]))
    record = encode_event(event)
    assert (record.type, record.version, record.ts_ns) == (
        tag,
        type(event).schema_version,
        event.ts_ns,
    )
    decoded = decode_event(record.type, record.version, record.payload)
    assert type(decoded) is type(event)
    assert decoded == event


def test_decimals_are_stored_as_strings() -> None:
    fill = _fill_event(fee=Decimal("0.00000100"))
    raw = msgspec.msgpack.decode(encode_event(fill).payload)
    assert raw["fee"] == "0.00000100"
    assert raw["price"] == "64000.5"


@PROPERTY
@given(valid_event_sequences())
def test_replaying_the_decoded_journal_gives_the_live_state(events: list[Event]) -> None:
    live = _live(events)
    replayed = SessionState()
    replayed.apply_all(decode_records(_stored(events)))
    assert replayed == live


@PROPERTY
@given(valid_event_sequences(min_size=1), st.data())
def test_snapshot_plus_tail_equals_full_replay(events: list[Event], data: st.DataObject) -> None:
    cut = data.draw(st.integers(0, len(events)), label="cut")
    head = _live(events[:cut])
    version, payload = encode_state(head)
    assert version == SNAPSHOT_VERSION
    restored = decode_state(version, payload)
    assert restored == head
    assert restored.last_seq == cut
    restored.apply_all(decode_records(_stored(events)[cut:]))
    assert restored == _live(events)
    # Derived indexes are rebuilt too, not only the compared fields.
    assert restored._by_exchange_id == _live(events)._by_exchange_id


@st.composite
def _tight_sequences(draw: st.DrawFn) -> tuple[RetentionPolicy, list[Event]]:
    retention = RetentionPolicy(
        closed_orders=draw(st.integers(0, 3)), external_trades=draw(st.integers(0, 3))
    )
    return retention, draw(valid_event_sequences(min_size=1, max_size=80, retention=retention))


@PROPERTY
@given(_tight_sequences(), st.data())
def test_snapshot_plus_tail_equals_full_replay_while_orders_retire(
    case: tuple[RetentionPolicy, list[Event]], data: st.DataObject
) -> None:
    retention, events = case
    cut = data.draw(st.integers(0, len(events)), label="cut")
    head = _live(events[:cut], retention)
    restored = decode_state(*encode_state(head))
    assert restored == head
    assert restored.retention == retention
    restored.apply_all(decode_records(_stored(events)[cut:]))
    full = _live(events, retention)
    assert restored == full
    assert restored.seen_trades == full.seen_trades
    assert restored._by_exchange_id == full._by_exchange_id


@PROPERTY
@given(valid_event_sequences(min_size=1), st.data())
def test_snapshots_reusing_encoded_orders_are_byte_identical(
    events: list[Event], data: st.DataObject
) -> None:
    # The second encode reuses the first one's encoded orders where unchanged; it must
    # give the bytes a state encoded for the first time gives.
    cut = data.draw(st.integers(0, len(events)), label="cut")
    state = _live(events[:cut])
    encode_state(state)
    state.apply_all(decode_records(_stored(events)[cut:]))
    assert encode_state(state) == encode_state(state.copy())


# --- fill_recorded v1 -> v2 ---------------------------------------------------------


def _fill_event(fee: Decimal = Decimal("0.0012"), fee_asset: str = "BNB") -> FillRecorded:
    return FillRecorded(
        ts_ns=10,
        client_order_id=ClientOrderId("tg-1"),
        trade_id=TradeId("77"),
        symbol=Symbol("BTC/USDT"),
        side=Side.SELL,
        price=Decimal("64000.5"),
        amount=Decimal("0.25"),
        fee=fee,
        fee_asset=Asset(fee_asset),
        is_maker=True,
        exchange_ts_ns=9,
    )


def test_v1_fixture_record_has_the_old_shape_and_upcasts() -> None:
    fill = _fill_event()
    record = encode_event_v1_for_fixture(fill)
    assert (record.type, record.version) == ("fill_recorded", 1)
    raw = msgspec.msgpack.decode(record.payload)
    assert raw["qty"] == "0.25"
    assert raw["fee"] == "0.0012 BNB"
    assert "amount" not in raw
    assert "fee_asset" not in raw
    assert decode_event("fill_recorded", 1, record.payload) == fill


@settings(max_examples=100, deadline=None)
@given(
    fee=st.decimals(allow_nan=False, allow_infinity=False, places=8, min_value=-1, max_value=10**6),
    asset=st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=8),
)
def test_any_v1_fill_upcasts_to_the_same_event(fee: Decimal, asset: str) -> None:
    fill = _fill_event(fee=fee, fee_asset=asset)
    records = [encode_event_v1_for_fixture(fill)]
    stored = [
        StoredRecord(
            seq=1, type=r.type, version=r.version, ts_ns=r.ts_ns, epoch=0, payload=r.payload, crc=0
        )
        for r in records
    ]
    assert list(decode_records(stored)) == [(1, fill)]


@pytest.mark.parametrize(
    ("fee_text", "fee", "asset"),
    [
        ("0.0012 BNB", "0.0012", "BNB"),
        ("  1E-8   USDT ", "1E-8", "USDT"),
        ("-0.5 BNB", "-0.5", "BNB"),
        ("0 BTC", "0", "BTC"),
    ],
)
def test_v1_fee_strings_are_parsed(fee_text: str, fee: str, asset: str) -> None:
    out = upcast_fill_recorded_v1_v2({"qty": "1", "fee": fee_text, "trade_id": "5"})
    assert out == {"amount": "1", "fee": fee, "fee_asset": asset, "trade_id": "5"}


@pytest.mark.parametrize(
    "fee_text", ["0.0012", "BNB 0.0012", "abc BNB", "", "0.1 BNB extra", "NaN BNB", "Infinity BNB"]
)
def test_malformed_v1_fee_is_a_clear_error(fee_text: str) -> None:
    payload = msgspec.msgpack.encode(
        {
            "type": "fill_recorded",
            "ts_ns": 1,
            "client_order_id": None,
            "trade_id": "t9",
            "symbol": "BTC/USDT",
            "side": "buy",
            "price": "1",
            "qty": "1",
            "fee": fee_text,
            "is_maker": False,
            "exchange_ts_ns": 1,
        }
    )
    with pytest.raises(CorruptRecordError, match="fee") as info:
        decode_event("fill_recorded", 1, payload)
    assert repr(fee_text) in str(info.value)


def test_v1_fill_without_a_fee_field_is_a_clear_error() -> None:
    with pytest.raises(CorruptRecordError, match="'fee'"):
        upcast_fill_recorded_v1_v2({"qty": "1"})
    with pytest.raises(CorruptRecordError, match="fee 5"):
        upcast_fill_recorded_v1_v2({"qty": "1", "fee": 5})


# --- versions and damage -------------------------------------------------------------


def test_unknown_type_and_newer_version_are_unsupported() -> None:
    payload = encode_event(_fill_event()).payload
    with pytest.raises(UnsupportedVersionError, match="'no_such_event'"):
        decode_event("no_such_event", 1, payload)
    with pytest.raises(UnsupportedVersionError, match=r"fill_recorded version 3"):
        decode_event("fill_recorded", 3, payload)
    with pytest.raises(UnsupportedVersionError, match=r"fill_recorded version 0"):
        decode_event("fill_recorded", 0, payload)


def test_missing_upcaster_is_unsupported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(codec.UPCASTERS, ("fill_recorded", 1))
    record = encode_event_v1_for_fixture(_fill_event())
    with pytest.raises(UnsupportedVersionError, match=r"fill_recorded version 1 -> 2"):
        decode_event(record.type, record.version, record.payload)


def test_upcasters_register_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(codec, "UPCASTERS", dict(codec.UPCASTERS))
    with pytest.raises(ValueError, match="fill_recorded v1"):
        register_upcaster("fill_recorded", 1)(upcast_fill_recorded_v1_v2)

    @register_upcaster("order_intended", 7)
    def _noop(data: dict[str, object]) -> dict[str, object]:
        return data

    assert codec.UPCASTERS[("order_intended", 7)] is _noop


@pytest.mark.parametrize("payload", [b"", b"\xc1", b"\x92\x01", b"garbage bytes", b"\x81\xa1x\x01"])
def test_undecodable_bytes_are_corrupt_records(payload: bytes) -> None:
    with pytest.raises(CorruptRecordError, match="fill_recorded"):
        decode_event("fill_recorded", 2, payload)
    with pytest.raises(CorruptRecordError, match="fill_recorded"):
        decode_event("fill_recorded", 1, payload)
    stored = StoredRecord(
        seq=42, type="fill_recorded", version=2, ts_ns=1, epoch=0, payload=payload, crc=0
    )
    with pytest.raises(CorruptRecordError, match="record 42") as info:
        list(decode_records([stored]))
    assert info.value.seq == 42


def test_a_flipped_payload_byte_is_detected_or_decodes_to_a_valid_event() -> None:
    # Without the journal's crc, a flip may still decode; it must never crash oddly.
    payload = bytearray(encode_event(_fill_event()).payload)
    for i in range(len(payload)):
        damaged = bytearray(payload)
        damaged[i] ^= 0x55
        try:
            event = decode_event("fill_recorded", 2, bytes(damaged))
        except CorruptRecordError:
            continue
        assert isinstance(event, FillRecorded)


# --- snapshots -----------------------------------------------------------------------


def test_snapshot_of_an_empty_state_round_trips() -> None:
    version, payload = encode_state(SessionState())
    assert decode_state(version, payload) == SessionState()


@pytest.mark.parametrize("payload", [b"", b"\xc1", b"not a snapshot", b"\x80"])
def test_garbage_snapshot_is_corrupt(payload: bytes) -> None:
    with pytest.raises(CorruptSnapshotError, match="snapshot"):
        decode_state(SNAPSHOT_VERSION, payload)


def _balance_event() -> BalanceUpdated:
    return BalanceUpdated(
        ts_ns=1, asset=Asset("USDT"), free=Decimal(5), used=Decimal(1), cause="test"
    )


def test_snapshot_with_inconsistent_balance_is_corrupt() -> None:
    state = SessionState()
    state.apply(_balance_event())
    _, payload = encode_state(state)
    raw = msgspec.msgpack.decode(payload)
    raw["balances"][0]["total"] = "999"
    with pytest.raises(CorruptSnapshotError, match="total 999"):
        decode_state(SNAPSHOT_VERSION, msgspec.msgpack.encode(raw))


def test_snapshot_versions(monkeypatch: pytest.MonkeyPatch) -> None:
    state = SessionState()
    state.apply(_balance_event(), seq=3)
    version, payload = encode_state(state)
    with pytest.raises(UnsupportedVersionError, match=f"snapshot version {version + 1}"):
        decode_state(version + 1, payload)
    # Pretend this build writes the next version: the current one goes through upcasters.
    monkeypatch.setattr(codec, "SNAPSHOT_VERSION", version + 1)
    with pytest.raises(UnsupportedVersionError, match=f"{version} -> {version + 1}"):
        decode_state(version, payload)
    seen: list[int] = []

    def upcast(data: dict[str, object]) -> dict[str, object]:
        seen.append(1)
        return data

    monkeypatch.setitem(codec.SNAPSHOT_UPCASTERS, version, upcast)
    assert decode_state(version, payload) == state
    assert seen == [1]


def _v1_payload(state: SessionState) -> bytes:
    """``state`` in snapshot layout v1, as the previous build wrote it: trade ids on
    the orders, one flat ``seen_trades`` list, no retention fields."""
    orders = []
    for order in state.orders.values():
        raw = msgspec.to_builtins(order)
        raw["trade_ids"] = list(state.trade_ids(order.client_order_id))
        orders.append(raw)
    v1 = {
        "last_seq": state.last_seq,
        "session_id": state.session_id,
        "run_id": state.run_id,
        "running": state.running,
        "instruments": msgspec.to_builtins(list(state.instruments.values())),
        "orders": orders,
        "positions": msgspec.to_builtins(list(state.positions.values())),
        "balances": msgspec.to_builtins(list(state.balances.values())),
        "flags": msgspec.to_builtins(list(state.flags.values())),
        "trade_cursors": dict(state.trade_cursors),
        "seen_trades": [list(key) for key in sorted(state.seen_trades)],
    }
    return msgspec.msgpack.encode(v1)


@PROPERTY
@given(valid_event_sequences(min_size=1))
def test_v1_snapshot_upcasts_to_the_same_state(events: list[Event]) -> None:
    live = _live(events)
    restored = decode_state(1, _v1_payload(live))
    # v1 did not record when orders closed: the queue follows v1's order list.
    assert list(restored.closed_orders) == [
        cid for cid, o in live.orders.items() if o.status in TERMINAL_STATUSES
    ]
    assert restored.order_trades == live.order_trades
    assert set(restored.external_trades) == set(live.external_trades)
    assert restored.seen_trades == live.seen_trades
    assert restored.orders == live.orders
    assert restored.positions == live.positions
    assert restored.last_seq == live.last_seq


def test_v1_snapshot_with_more_closed_orders_than_kept_retires_the_oldest() -> None:
    sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))
    from flow import event_stream

    unbounded = SessionState(RetentionPolicy(closed_orders=10**9))
    unbounded.apply_all(enumerate(event_stream(2_000, seed=5), 1))
    closed = list(unbounded.closed_orders)
    assert len(closed) > 300
    monkey = RetentionPolicy(closed_orders=100)
    payload = msgspec.msgpack.decode(_v1_payload(unbounded))
    restored = codec.upcast_snapshot_v1_v2(payload)
    restored["retention"] = msgspec.to_builtins(monkey)
    state = codec.decode_state(SNAPSHOT_VERSION, msgspec.msgpack.encode(restored))
    assert list(state.closed_orders) == closed[-100:]
    assert state.retired_orders == len(closed) - 100
    assert all(state.trade_ids(cid) == () for cid in closed[:-100])


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda raw: raw["closed_orders"].append("nope"), "'nope' as closed, but it is missing"),
        (lambda raw: raw["order_trades"].update({"ghost": ["1"]}), "order 'ghost', not held"),
        (lambda raw: raw["external_trades"].append(raw["external_trades"][0]), "duplicate trade"),
        (lambda raw: raw["closed_orders"].append(raw["closed_orders"][0]), "duplicate orders"),
    ],
)
def test_snapshot_with_inconsistent_retention_data_is_corrupt(
    damage: Callable[[dict[str, Any]], None], message: str
) -> None:
    state = SessionState()
    state.apply(_intent_for_fill_event())
    state.apply(_fill_event())  # fills tg-1 completely: closed, with trade 77
    state.apply(msgspec.structs.replace(_fill_event(), client_order_id=None, trade_id="t2"))
    assert list(state.closed_orders) == ["tg-1"]
    raw = msgspec.msgpack.decode(encode_state(state)[1])
    damage(raw)
    with pytest.raises(CorruptSnapshotError, match=message):
        decode_state(SNAPSHOT_VERSION, msgspec.msgpack.encode(raw))


def _intent_for_fill_event() -> Event:
    from tradeguard.domain import MarketKind, OrderIntended, OrderType

    return OrderIntended(
        ts_ns=1,
        client_order_id=ClientOrderId("tg-1"),
        symbol=Symbol("BTC/USDT"),
        kind=MarketKind.SPOT,
        side=Side.SELL,
        order_type=OrderType.MARKET,
        amount=Decimal("0.25"),
    )

"""Stop and take-profit orders keep their type and trigger price (issue 7, item 27).

Through the domain (intents, external adoption, term corrections), the journal codec
(current records, v1 records of the events that create orders) and snapshots (current
and v2 layouts).
"""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from tradeguard.domain import (
    ClientOrderId,
    ExchangeOrderId,
    ExternalOrderAdopted,
    InstrumentRegistered,
    MarketKind,
    OrderIntended,
    OrderStatus,
    OrderTermsCorrected,
    OrderType,
    SessionStarted,
    SessionState,
    Side,
    Symbol,
)
from tradeguard.domain.ids import Asset
from tradeguard.domain.orders import order_shape_problem
from tradeguard.errors import DomainError, InvalidTransitionError
from tradeguard.storage import codec
from tradeguard.storage.records import StoredRecord

BTC = Symbol("BTC/USDT")


def _intent(cid: str = "tg-1", **kw: object) -> OrderIntended:
    fields: dict[str, object] = {
        "ts_ns": 10,
        "client_order_id": ClientOrderId(cid),
        "symbol": BTC,
        "kind": MarketKind.SPOT,
        "side": Side.SELL,
        "order_type": OrderType.STOP_MARKET,
        "amount": Decimal("0.5"),
        "trigger_price": Decimal("28000"),
    }
    fields.update(kw)
    return OrderIntended(**fields)  # type: ignore[arg-type]


def _state() -> SessionState:
    state = SessionState()
    state.apply(SessionStarted(ts_ns=1, session_id="s", run_id="r"), seq=1)
    state.apply(
        InstrumentRegistered(
            ts_ns=1, symbol=BTC, kind=MarketKind.SPOT, base=Asset("BTC"), quote=Asset("USDT")
        ),
        seq=2,
    )
    return state


def test_a_stop_intent_creates_a_stop_order_with_its_trigger() -> None:
    state = _state()
    state.apply(_intent(), seq=3)
    state.apply(
        _intent(
            "tg-2",
            order_type=OrderType.TAKE_PROFIT_LIMIT,
            price=Decimal("31000"),
            trigger_price=Decimal("30900"),
        ),
        seq=4,
    )
    stop = state.orders[ClientOrderId("tg-1")]
    assert stop.order_type is OrderType.STOP_MARKET
    assert stop.trigger_price == Decimal("28000")
    assert stop.price is None
    assert stop.is_trigger
    take = state.orders[ClientOrderId("tg-2")]
    assert (take.order_type, take.price, take.trigger_price) == (
        OrderType.TAKE_PROFIT_LIMIT,
        Decimal("31000"),
        Decimal("30900"),
    )


@pytest.mark.parametrize(
    ("order_type", "price", "trigger", "problem"),
    [
        (OrderType.STOP_MARKET, None, None, "needs a trigger price"),
        (OrderType.STOP_LIMIT, None, Decimal(1), "needs a price"),
        (OrderType.TAKE_PROFIT_LIMIT, Decimal(1), None, "needs a trigger price"),
        (OrderType.LIMIT, Decimal(1), Decimal(1), "takes no trigger price"),
        (OrderType.MARKET, None, Decimal(1), "takes no trigger price"),
        (OrderType.STOP_MARKET, None, Decimal(0), "trigger price must be > 0"),
    ],
)
def test_terms_that_cannot_exist_are_refused(
    order_type: OrderType, price: Decimal | None, trigger: Decimal | None, problem: str
) -> None:
    assert problem in (order_shape_problem(order_type, Decimal(1), price, trigger) or "")
    state = _state()
    with pytest.raises(DomainError, match=problem):
        state.apply(_intent(order_type=order_type, price=price, trigger_price=trigger), seq=3)
    assert state.orders == {}


def test_a_trailing_stop_may_have_no_activation_price() -> None:
    assert order_shape_problem(OrderType.TRAILING_STOP_MARKET, Decimal(1), None, None) is None


def test_an_adopted_external_stop_keeps_its_trigger() -> None:
    state = _state()
    state.apply(
        ExternalOrderAdopted(
            ts_ns=5,
            client_order_id=ClientOrderId("ext:1"),
            exchange_order_id=ExchangeOrderId("77"),
            symbol=BTC,
            kind=MarketKind.SPOT,
            side=Side.SELL,
            order_type=OrderType.STOP_LIMIT,
            amount=Decimal(1),
            price=Decimal("27900"),
            trigger_price=Decimal("28000"),
            status=OrderStatus.OPEN,
            filled=Decimal(0),
            cause="test",
        ),
        seq=3,
    )
    order = state.orders[ClientOrderId("ext:1")]
    assert (order.order_type, order.trigger_price) == (OrderType.STOP_LIMIT, Decimal("28000"))


def test_terms_corrected_adopts_the_exchange_terms_and_keeps_the_status() -> None:
    state = _state()
    state.apply(_intent(), seq=3)
    state.apply(
        OrderTermsCorrected(
            ts_ns=20,
            client_order_id=ClientOrderId("tg-1"),
            order_type=OrderType.STOP_MARKET,
            price=None,
            trigger_price=Decimal("27500"),
            cause="exchange holds trigger 27500",
        ),
        seq=4,
    )
    order = state.orders[ClientOrderId("tg-1")]
    assert order.trigger_price == Decimal("27500")
    assert order.status is OrderStatus.PENDING_SUBMIT
    assert order.last_reason == "exchange holds trigger 27500"
    with pytest.raises(InvalidTransitionError, match="needs a trigger price"):
        state.apply(
            OrderTermsCorrected(
                ts_ns=21,
                client_order_id=ClientOrderId("tg-1"),
                order_type=OrderType.STOP_MARKET,
                price=None,
                trigger_price=None,
                cause="impossible",
            ),
            seq=5,
        )
    assert state.orders[ClientOrderId("tg-1")].trigger_price == Decimal("27500")


def _stored(seq: int, record_type: str, version: int, payload: bytes) -> StoredRecord:
    return StoredRecord(
        seq=seq, type=record_type, version=version, ts_ns=1, epoch=0, payload=payload, crc=0
    )


def test_the_journal_keeps_type_and_trigger() -> None:
    intent = _intent(order_type=OrderType.STOP_LIMIT, price=Decimal(27900))
    record = codec.encode_event(intent)
    assert record.version == 2
    decoded = codec.decode_event(record.type, record.version, record.payload)
    assert decoded == intent
    [(_, replayed)] = codec.decode_records([_stored(7, record.type, 2, record.payload)])
    assert replayed == intent


@pytest.mark.parametrize("record_type", ["order_intended", "external_order_adopted"])
def test_v1_records_of_order_creating_events_still_decode(record_type: str) -> None:
    # The v1 layout: the same fields without trigger_price (v1 knew limit/market only).
    fields: dict[str, object] = {
        "ts_ns": 1,
        "client_order_id": "tg-1",
        "symbol": "BTC/USDT",
        "kind": "spot",
        "side": "buy",
        "order_type": "limit",
        "amount": "0.5",
        "price": "30000",
    }
    if record_type == "external_order_adopted":
        fields |= {"exchange_order_id": "9", "status": "open", "filled": "0", "cause": "x"}
    else:
        fields["reduce_only"] = False
    event = codec.decode_event(record_type, 1, msgspec.msgpack.encode(fields))
    assert event.order_type is OrderType.LIMIT  # type: ignore[union-attr]
    assert event.trigger_price is None  # type: ignore[union-attr]
    assert event.price == Decimal(30000)  # type: ignore[union-attr]


def test_snapshots_keep_trigger_orders_and_v2_snapshots_still_decode() -> None:
    state = _state()
    state.apply(_intent(), seq=3)
    version, payload = codec.encode_state(state)
    assert version >= 3  # v3 brought trigger prices (v4: the bound account)
    restored = codec.decode_state(version, payload)
    assert restored.orders == state.orders
    assert restored.orders[ClientOrderId("tg-1")].trigger_price == Decimal("28000")

    # A v2 snapshot (written before trigger prices existed) has orders without the field.
    plain = _state()
    plain.apply(_intent(order_type=OrderType.LIMIT, price=Decimal(30000), trigger_price=None))
    raw = msgspec.msgpack.decode(codec.encode_state(plain)[1])
    for order in raw["orders"]:
        del order["trigger_price"]
    old = codec.decode_state(2, msgspec.msgpack.encode(raw))
    assert old.orders == plain.orders

"""Stop and take-profit orders keep their type and trigger (issue 7, item 27), end to end.

The built-in simulator lists no trigger order types (its exchangeInfo ``orderTypes`` are
LIMIT, LIMIT_MAKER, MARKET), so the exchange side is exercised with Binance's own
payloads (the response layouts Binance documents for spot ``/api/v3/openOrders`` and
USD-M ``/fapi/v1/openOrders``, and ccxt's recorded algo order) through ccxt's real
``parse_order`` on the instance the gateway builds, then through tradeguard's parser,
the pure diff and the trade-recovery ordering. Sending is checked against ccxt's own
request builder (what would go on the wire) and, against the simulator, that a type
the exchange does not list is refused before anything is sent.
"""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tradeguard.config import Config, StorageSettings
from tradeguard.domain import (
    Asset,
    ClientOrderId,
    ExchangeOrderId,
    InstrumentRegistered,
    MarketKind,
    OrderAcknowledged,
    OrderIntended,
    OrderNotPlaced,
    OrderOutcomeUnknown,
    OrderStatus,
    OrderTermsCorrected,
    OrderType,
    PositionCorrected,
    SessionStarted,
    SessionState,
    Side,
    Symbol,
)
from tradeguard.domain.events import ExternalOrderAdopted, FlagRaised
from tradeguard.errors import InvalidOrderError
from tradeguard.exchange.ccxt_client import build_exchange
from tradeguard.exchange.ccxt_gateway import CcxtGateway
from tradeguard.exchange.orders import ccxt_order_type, validate_order
from tradeguard.exchange.parsing import PRECISION_TICK_SIZE, parse_market, parse_order
from tradeguard.exchange.reports import OrderReport
from tradeguard.reconcile.diff import diff
from tradeguard.reconcile.discrepancies import ExternalOrder, TermsMismatch
from tradeguard.reconcile.policy import ReconcilePolicy
from tradeguard.reconcile.snapshot import ExchangeSnapshot, SymbolSnapshot
from tradeguard.session import Session, SessionSettings
from tradeguard.session.recovery import build_recovery_actions, prioritise
from tradeguard.storage import open_store
from tradeguard.storage.codec import decode_records

PAYLOADS = Path(__file__).parent / "payloads"
NOW_NS = 1_800_000_000_000_000_000
D = Decimal
BTC = Symbol("BTC/USDT")
BTC_PERP = Symbol("BTC/USDT:USDT")
# What Binance lists for BTCUSDT spot (GET /api/v3/exchangeInfo), unlike the simulator.
BINANCE_SPOT_ORDER_TYPES = [
    "LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT",
    "TAKE_PROFIT_LIMIT",
]


def _markets() -> dict[str, Any]:
    markets: dict[str, Any] = json.loads((PAYLOADS / "markets.json").read_text())
    return markets


@pytest.fixture
def ccxt_binance() -> Any:
    """The ccxt instance exactly as the gateway configures it, with recorded markets
    whose spot symbol lists Binance's trigger order types."""
    markets = copy.deepcopy(_markets())
    for symbol in ("BTC/USDT", "ETH/USDT"):
        markets[symbol]["info"]["orderTypes"] = BINANCE_SPOT_ORDER_TYPES
    exchange = build_exchange(
        "binance", api_key="k", secret="s", url_override="http://127.0.0.1:9",
        sandbox=False, market_types=("spot", "linear"), timeout_ms=1000,
    )
    exchange.set_markets(list(markets.values()))
    return exchange


def _spot(order_type: str, *, price: str, stop: str, order_id: int = 11) -> dict[str, Any]:
    # Binance spot GET /api/v3/openOrders row (an untriggered stop is not working yet).
    return {
        "symbol": "BTCUSDT", "orderId": order_id, "orderListId": -1,
        "clientOrderId": f"tg-{order_id}", "price": price, "origQty": "0.50000000",
        "executedQty": "0.00000000", "cummulativeQuoteQty": "0.00000000", "status": "NEW",
        "timeInForce": "GTC", "type": order_type, "side": "SELL", "stopPrice": stop,
        "icebergQty": "0.00000000", "time": 1700000000000, "updateTime": 1700000000000,
        "isWorking": False, "workingTime": -1, "origQuoteOrderQty": "0.00000000",
        "selfTradePreventionMode": "EXPIRE_MAKER",
    }


def _futures(order_type: str, *, price: str, stop: str, **extra: Any) -> dict[str, Any]:
    # Binance USD-M GET /fapi/v1/openOrders row.
    return {
        "avgPrice": "0.00000", "clientOrderId": "tg-21", "cumQuote": "0", "executedQty": "0",
        "orderId": 21, "origQty": "0.010", "origType": order_type, "price": price,
        "reduceOnly": True, "side": "SELL", "positionSide": "BOTH", "status": "NEW",
        "stopPrice": stop, "closePosition": False, "symbol": "BTCUSDT", "time": 1700000000000,
        "timeInForce": "GTC", "type": order_type, "updateTime": 1700000000000,
        "workingType": "CONTRACT_PRICE", "priceProtect": False, "priceMatch": "NONE",
        "selfTradePreventionMode": "NONE", "goodTillDate": 0, **extra,
    }


def _through_ccxt(exchange: Any, raw: dict[str, Any], symbol: str) -> OrderReport:
    unified = exchange.parse_order(raw, exchange.market(symbol))
    return parse_order(unified, now_ns=NOW_NS, call="fetch_open_orders")


# --- reports: Binance payloads through ccxt's parser and ours ------------------------


@pytest.mark.parametrize(
    ("raw", "order_type", "price", "trigger"),
    [
        (_spot("STOP_LOSS", price="0.00000000", stop="28000.00000000"),
         OrderType.STOP_MARKET, None, D(28000)),
        (_spot("STOP_LOSS_LIMIT", price="27900.00000000", stop="28000.00000000"),
         OrderType.STOP_LIMIT, D(27900), D(28000)),
        (_spot("TAKE_PROFIT", price="0.00000000", stop="35000.00000000"),
         OrderType.TAKE_PROFIT_MARKET, None, D(35000)),
        (_spot("TAKE_PROFIT_LIMIT", price="35100.00000000", stop="35000.00000000"),
         OrderType.TAKE_PROFIT_LIMIT, D(35100), D(35000)),
        (_spot("LIMIT", price="30000.00000000", stop="0.00000000"),
         OrderType.LIMIT, D(30000), None),
    ],
    ids=["STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT", "LIMIT"],
)
def test_spot_trigger_orders_keep_type_and_trigger(
    ccxt_binance: Any,
    raw: dict[str, Any],
    order_type: OrderType,
    price: Decimal | None,
    trigger: Decimal | None,
) -> None:
    report = _through_ccxt(ccxt_binance, raw, "BTC/USDT")
    assert (report.type, report.price, report.trigger_price) == (order_type, price, trigger)
    assert report.symbol == "BTC/USDT"
    assert report.status is OrderStatus.OPEN


@pytest.mark.parametrize(
    ("raw", "order_type", "price", "trigger"),
    [
        (_futures("STOP_MARKET", price="0", stop="27000"), OrderType.STOP_MARKET, None, D(27000)),
        (_futures("STOP", price="26900", stop="27000"), OrderType.STOP_LIMIT, D(26900), D(27000)),
        (_futures("TAKE_PROFIT_MARKET", price="0", stop="36000"),
         OrderType.TAKE_PROFIT_MARKET, None, D(36000)),
        (_futures("TAKE_PROFIT", price="36100", stop="36000"),
         OrderType.TAKE_PROFIT_LIMIT, D(36100), D(36000)),
        # The trailing stop's stopPrice moves with the market; its term is activatePrice.
        (_futures("TRAILING_STOP_MARKET", price="0", stop="36135", activatePrice="36500",
                  priceRate="1.0"),
         OrderType.TRAILING_STOP_MARKET, None, D(36500)),
    ],
    ids=["STOP_MARKET", "STOP", "TAKE_PROFIT_MARKET", "TAKE_PROFIT", "TRAILING_STOP_MARKET"],
)
def test_futures_trigger_orders_keep_type_and_trigger(
    ccxt_binance: Any,
    raw: dict[str, Any],
    order_type: OrderType,
    price: Decimal | None,
    trigger: Decimal | None,
) -> None:
    report = _through_ccxt(ccxt_binance, raw, "BTC/USDT:USDT")
    assert (report.type, report.price, report.trigger_price) == (order_type, price, trigger)
    assert report.reduce_only is True


def test_a_usdm_algo_conditional_order_is_a_stop(ccxt_binance: Any) -> None:
    # ccxt's recorded answer of Binance's algo order API (linear conditional order).
    raw = {
        "algoId": 3358, "clientAlgoId": "yT58zmV3DSzMBQxc5tAJXU", "algoType": "CONDITIONAL",
        "orderType": "STOP", "symbol": "BTCUSDT", "side": "BUY", "positionSide": "BOTH",
        "timeInForce": "GTC", "quantity": "0.002", "algoStatus": "NEW",
        "triggerPrice": "100000.00", "price": "102000.00", "icebergQuantity": None,
        "selfTradePreventionMode": "EXPIRE_MAKER", "workingType": "CONTRACT_PRICE",
        "priceMatch": "NONE", "closePosition": False, "priceProtect": False,
        "reduceOnly": False, "createTime": 1763458576201, "updateTime": 1763458576201,
        "triggerTime": 0, "goodTillDate": 0,
    }
    report = _through_ccxt(ccxt_binance, raw, "BTC/USDT:USDT")
    assert (report.type, report.price, report.trigger_price) == (
        OrderType.STOP_LIMIT, D(102000), D(100000),
    )
    assert report.exchange_order_id == "3358"


def test_a_folded_order_with_a_trigger_is_a_stop_without_raw_type() -> None:
    # Another ccxt class: no Binance info, only ccxt's unified fields.
    unified = json.loads((PAYLOADS / "order_spot_limit_open.json").read_text())
    unified["info"] = {}
    unified.update(type="market", price=None, triggerPrice="28000", stopPrice="28000")
    stop = parse_order(unified, now_ns=NOW_NS)
    assert (stop.type, stop.price, stop.trigger_price) == (OrderType.STOP_MARKET, None, D(28000))
    unified.update(type="limit", price="35100", takeProfitPrice="35000", triggerPrice="35000")
    take = parse_order(unified, now_ns=NOW_NS)
    assert (take.type, take.price, take.trigger_price) == (
        OrderType.TAKE_PROFIT_LIMIT, D(35100), D(35000),
    )


# --- sending ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("order_type", "price", "wire_type"),
    [
        (OrderType.STOP_MARKET, None, "STOP_LOSS"),
        (OrderType.STOP_LIMIT, D(27900), "STOP_LOSS_LIMIT"),
        (OrderType.TAKE_PROFIT_MARKET, None, "TAKE_PROFIT"),
        (OrderType.TAKE_PROFIT_LIMIT, D(35100), "TAKE_PROFIT_LIMIT"),
    ],
)
def test_spot_trigger_orders_go_on_the_wire_with_their_stop_price(
    ccxt_binance: Any, order_type: OrderType, price: Decimal | None, wire_type: str
) -> None:
    trigger = D(28000) if order_type in (OrderType.STOP_MARKET, OrderType.STOP_LIMIT) else D(35000)
    unified, params = ccxt_order_type(order_type, trigger)
    request = ccxt_binance.create_order_request(
        "BTC/USDT", unified, "sell", "0.5", None if price is None else str(price),
        {**params, "clientOrderId": "tg-1"},
    )
    assert request["type"] == wire_type
    assert D(request["stopPrice"]) == trigger
    assert request["newClientOrderId"] == "tg-1"
    assert (D(request["price"]) if "price" in request else None) == price


def _market(symbol: str) -> Any:
    info = parse_market(_markets()[symbol], precision_mode=PRECISION_TICK_SIZE)
    assert info is not None
    return info


@pytest.mark.parametrize(
    ("symbol", "order_type", "price", "trigger", "problem"),
    [
        ("BTC/USDT", OrderType.STOP_MARKET, None, None, "needs a trigger price"),
        ("BTC/USDT", OrderType.LIMIT, D(30000), D(28000), "takes no trigger price"),
        ("BTC/USDT", OrderType.STOP_LIMIT, None, D(28000), "needs a price"),
        ("BTC/USDT", OrderType.STOP_MARKET, None, D("28000.001"), "tick size"),
        ("BTC/USDT", OrderType.TRAILING_STOP_MARKET, None, None, "trailing stops"),
        ("BTC/USDT:USDT", OrderType.STOP_MARKET, None, D(28000), "algo order API"),
    ],
)
def test_trigger_orders_that_cannot_be_sent_exactly_are_refused(
    symbol: str,
    order_type: OrderType,
    price: Decimal | None,
    trigger: Decimal | None,
    problem: str,
) -> None:
    with pytest.raises(InvalidOrderError, match=problem):
        validate_order(
            _market(symbol), order_type, D("0.001"), price, reduce_only=False,
            context="test", trigger_price=trigger,
        )


async def test_a_stop_is_refused_before_sending_where_the_exchange_lists_no_stops(
    gateway: CcxtGateway,
) -> None:
    # The simulator lists no stop types: ccxt itself refuses, nothing reaches it.
    with pytest.raises(InvalidOrderError, match="triggerPrice parameter is not allowed"):
        await gateway.create_order(
            "BTC/USDT", Side.SELL, OrderType.STOP_MARKET, D("0.001"),
            client_order_id="tg-stop-sim", trigger_price=D(20000),
        )
    assert await gateway.fetch_open_orders("BTC/USDT") == []


async def test_session_submit_journals_the_stop_and_its_trigger(
    gateway: CcxtGateway, tmp_path: Path
) -> None:
    config = Config(storage=StorageSettings(url=f"sqlite:///{tmp_path / 'data'}",
                                            backup_every_seconds=86_400.0,
                                            backup_dir=str(tmp_path / "backups")))
    settings = SessionSettings(symbols=("BTC/USDT",), unknown_grace_seconds=0)
    session = await Session.open(config, gateway=gateway, background=False, settings=settings)
    try:
        order = await session.submit_order(
            "BTC/USDT", "sell", "stop_market", D("0.001"), trigger_price=D(20000)
        )
    finally:
        await session.close()
    # The simulator cannot take it: a definite refusal, never a market order sent.
    assert order.status is OrderStatus.REJECTED
    assert (order.order_type, order.trigger_price) == (OrderType.STOP_MARKET, D(20000))
    with open_store(config.storage.url, session_id="default", readonly=True) as store:
        events = [event for _, event in decode_records(store.read())]
    [intent] = [e for e in events if isinstance(e, OrderIntended)]
    assert (intent.order_type, intent.trigger_price) == (OrderType.STOP_MARKET, D(20000))


# --- reconciliation -----------------------------------------------------------------


def _state_with_stop(trigger: Decimal) -> SessionState:
    state = SessionState()
    state.apply(SessionStarted(ts_ns=1, session_id="s", run_id="r"), seq=1)
    state.apply(InstrumentRegistered(ts_ns=1, symbol=BTC, kind=MarketKind.SPOT,
                                     base=Asset("BTC"), quote=Asset("USDT")), seq=2)
    state.apply(OrderIntended(ts_ns=3, client_order_id=ClientOrderId("tg-11"), symbol=BTC,
                              kind=MarketKind.SPOT, side=Side.SELL,
                              order_type=OrderType.STOP_MARKET, amount=D("0.5"),
                              trigger_price=trigger), seq=3)
    state.apply(OrderAcknowledged(ts_ns=4, client_order_id=ClientOrderId("tg-11"),
                                  exchange_order_id=ExchangeOrderId("11")), seq=4)
    return state


def _snapshot(*reports: OrderReport) -> ExchangeSnapshot:
    return ExchangeSnapshot(
        ts_ns=NOW_NS,
        symbols={BTC: SymbolSnapshot(symbol=BTC, kind=MarketKind.SPOT, open_orders=reports)},
    )


def test_a_matching_stop_reconciles_clean(ccxt_binance: Any) -> None:
    report = _through_ccxt(ccxt_binance, _spot("STOP_LOSS", price="0", stop="28000"), "BTC/USDT")
    outcome = diff(_state_with_stop(D(28000)), _snapshot(report), ReconcilePolicy(), ts_now=NOW_NS)
    assert outcome.discrepancies == ()
    assert outcome.events == ()


def test_a_moved_trigger_is_adopted_and_flagged(ccxt_binance: Any) -> None:
    report = _through_ccxt(ccxt_binance, _spot("STOP_LOSS", price="0", stop="27500"), "BTC/USDT")
    state = _state_with_stop(D(28000))
    outcome = diff(state, _snapshot(report), ReconcilePolicy(), ts_now=NOW_NS)
    [found] = outcome.discrepancies
    assert isinstance(found, TermsMismatch)
    assert (found.local_trigger, found.exchange_trigger) == (D(28000), D(27500))
    assert found.action == "corrected_and_flagged"
    corrected, flag = outcome.events
    assert isinstance(corrected, OrderTermsCorrected)
    assert isinstance(flag, FlagRaised)
    assert flag.kind == "order_terms_mismatch"
    for event in outcome.events:
        state.apply(event)
    assert state.orders[ClientOrderId("tg-11")].trigger_price == D(27500)
    assert state.is_blocked("BTC/USDT")
    again = diff(state, _snapshot(report), ReconcilePolicy(), ts_now=NOW_NS + 1)
    assert again.events == ()


def test_a_stop_the_exchange_holds_as_a_plain_order_is_reported(ccxt_binance: Any) -> None:
    raw = _spot("LIMIT", price="30000", stop="0")
    report = _through_ccxt(ccxt_binance, raw, "BTC/USDT")
    outcome = diff(_state_with_stop(D(28000)), _snapshot(report), ReconcilePolicy(),
                   ts_now=NOW_NS)
    [found] = outcome.discrepancies
    assert isinstance(found, TermsMismatch)
    assert (found.local_type, found.exchange_type) == (OrderType.STOP_MARKET, OrderType.LIMIT)
    assert found.exchange_trigger is None


def test_an_external_stop_is_adopted_with_its_trigger_or_flagged_naming_it(
    ccxt_binance: Any,
) -> None:
    report = _through_ccxt(
        ccxt_binance, _spot("STOP_LOSS_LIMIT", price="27900", stop="28000", order_id=99),
        "BTC/USDT",
    )
    fresh = SessionState()
    fresh.apply(SessionStarted(ts_ns=1, session_id="s", run_id="r"), seq=1)
    adopted = diff(fresh, _snapshot(report), ReconcilePolicy(external_orders="adopt"),
                   ts_now=NOW_NS)
    [event] = [e for e in adopted.events if isinstance(e, ExternalOrderAdopted)]
    assert (event.order_type, event.price, event.trigger_price) == (
        OrderType.STOP_LIMIT, D(27900), D(28000),
    )
    flagged = diff(fresh, _snapshot(report), ReconcilePolicy(), ts_now=NOW_NS)
    [found] = flagged.discrepancies
    assert isinstance(found, ExternalOrder)
    assert (found.order_type, found.trigger_price) == (OrderType.STOP_LIMIT, D(28000))
    [flag] = [e for e in flagged.events if isinstance(e, FlagRaised)]
    assert "stop_limit" in flag.message
    assert "trigger 28000" in flag.message


# --- trade recovery -----------------------------------------------------------------


def test_a_not_placed_protective_stop_is_resubmitted_as_a_stop_first() -> None:
    state = SessionState()
    state.apply(SessionStarted(ts_ns=1, session_id="s", run_id="r"), seq=1)
    state.apply(InstrumentRegistered(ts_ns=1, symbol=BTC_PERP, kind=MarketKind.PERPETUAL,
                                     base=Asset("BTC"), quote=Asset("USDT"),
                                     settle=Asset("USDT")), seq=2)
    state.apply(PositionCorrected(ts_ns=2, symbol=BTC_PERP, size=D(1), entry_price=D(30000),
                                  cause="test"), seq=3)
    seq = 3
    for cid, order_type, price, trigger, side in (
        ("tg-buy", OrderType.LIMIT, D(29000), None, Side.BUY),  # adds risk, bigger notional
        ("tg-stop", OrderType.STOP_MARKET, None, D(28000), Side.SELL),  # protects the long
    ):
        amount = D(2) if side is Side.BUY else D(1)
        for event in (
            OrderIntended(ts_ns=4, client_order_id=ClientOrderId(cid), symbol=BTC_PERP,
                          kind=MarketKind.PERPETUAL, side=side, order_type=order_type,
                          amount=amount, price=price, trigger_price=trigger),
            OrderOutcomeUnknown(ts_ns=5, client_order_id=ClientOrderId(cid), reason="timeout"),
            OrderNotPlaced(ts_ns=6, client_order_id=ClientOrderId(cid), reason="absent"),
        ):
            seq += 1
            state.apply(event, seq=seq)
    actions = prioritise(
        build_recovery_actions(state, ["tg-buy", "tg-stop"], lambda order: "resubmit")
    )
    first, second = actions
    assert first.client_order_id == "tg-stop"
    assert first.protective
    assert first.risk_reducing
    assert (first.order_type, first.trigger_price) == (OrderType.STOP_MARKET, D(28000))
    assert first.notional == D(28000)
    assert second.client_order_id == "tg-buy"
    assert not second.protective

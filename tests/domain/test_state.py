"""SessionState: session events, intents, external orders, balances, flags, blocking."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tradeguard.domain import (
    Asset,
    BalanceUpdated,
    ClientOrderId,
    ExchangeOrderId,
    ExternalOrderAdopted,
    FillRecorded,
    FlagId,
    FlagRaised,
    FlagResolved,
    FlagSeverity,
    FlagStatus,
    InstrumentRegistered,
    MarketKind,
    OrderAcknowledged,
    OrderCanceled,
    OrderIntended,
    OrderStatus,
    OrderType,
    SessionStarted,
    SessionState,
    SessionStopped,
    Side,
    Symbol,
    TradeCursorAdvanced,
    TradeId,
)
from tradeguard.domain.balances import Balance
from tradeguard.errors import DomainError, InvalidTransitionError

BTC = Symbol("BTC/USDT")
ETH = Symbol("ETH/USDT")


def _intent(cid: str = "tg-1", **kw: object) -> OrderIntended:
    fields: dict[str, object] = {
        "ts_ns": 1,
        "client_order_id": ClientOrderId(cid),
        "symbol": BTC,
        "kind": MarketKind.SPOT,
        "side": Side.BUY,
        "order_type": OrderType.LIMIT,
        "amount": Decimal("0.5"),
        "price": Decimal(30000),
    }
    fields.update(kw)
    return OrderIntended(**fields)  # type: ignore[arg-type]


def _flag(fid: str, severity: FlagSeverity, symbol: Symbol | None) -> FlagRaised:
    return FlagRaised(
        ts_ns=2,
        flag_id=FlagId(fid),
        severity=severity,
        kind="vanished_order",
        symbol=symbol,
        message="order tg-1 vanished",
        actions=("mark_canceled", "ignore"),
    )


def test_intent_creates_a_pending_order_and_a_duplicate_id_is_refused() -> None:
    state = SessionState()
    state.apply(_intent(), seq=1)
    order = state.orders[ClientOrderId("tg-1")]
    assert order.status is OrderStatus.PENDING_SUBMIT
    assert state.open_orders() == [order]
    assert state.unresolved_orders() == [order]
    before = state.copy()
    with pytest.raises(DomainError, match=r"tg-1.*already exists"):
        state.apply(_intent(amount=Decimal(9)), seq=2)
    assert state == before
    assert state.last_seq == 1


@pytest.mark.parametrize(
    "changes",
    [{"amount": Decimal(0)}, {"amount": Decimal(-1)}, {"price": Decimal(0)}, {"price": None}],
)
def test_malformed_intents_are_refused(changes: dict[str, object]) -> None:
    state = SessionState()
    with pytest.raises(DomainError, match="tg-1"):
        state.apply(_intent(**changes))
    assert state == SessionState()


def test_market_order_needs_no_price() -> None:
    state = SessionState()
    state.apply(_intent(order_type=OrderType.MARKET, price=None))
    assert state.orders[ClientOrderId("tg-1")].price is None


def test_seq_must_increase() -> None:
    state = SessionState()
    state.apply(_intent("a"), seq=5)
    with pytest.raises(DomainError, match="last_seq 5"):
        state.apply(_intent("b"), seq=5)
    assert set(state.orders) == {"a"}


def test_session_start_stop_and_crash_restart() -> None:
    state = SessionState()
    state.apply(SessionStarted(ts_ns=1, session_id="s", run_id="r1"))
    state.apply(SessionStarted(ts_ns=2, session_id="s", run_id="r2"))  # after a crash
    with pytest.raises(InvalidTransitionError, match="r1"):
        state.apply(SessionStopped(ts_ns=3, run_id="r1"))
    state.apply(SessionStopped(ts_ns=3, run_id="r2"))
    assert not state.running
    with pytest.raises(InvalidTransitionError):
        state.apply(SessionStopped(ts_ns=4, run_id="r2"))
    with pytest.raises(DomainError, match="other"):
        state.apply(SessionStarted(ts_ns=5, session_id="other", run_id="r3"))


def _fill(trade: str, cid: str | None = "tg-1", symbol: Symbol = BTC) -> FillRecorded:
    return FillRecorded(
        ts_ns=3,
        client_order_id=None if cid is None else ClientOrderId(cid),
        trade_id=TradeId(trade),
        symbol=symbol,
        side=Side.BUY,
        price=Decimal(30000),
        amount=Decimal("0.1"),
        fee=Decimal("0.01"),
        fee_asset=Asset("USDT"),
        is_maker=False,
        exchange_ts_ns=3,
    )


def test_duplicate_trade_is_refused_but_the_same_id_on_another_symbol_is_not() -> None:
    state = SessionState()
    state.apply(_intent())
    state.apply(_fill("900"))
    before = state.copy()
    with pytest.raises(DomainError, match="already recorded"):
        state.apply(_fill("900"))
    with pytest.raises(DomainError, match="already recorded"):
        state.apply(_fill("900", cid=None))
    assert state == before
    state.apply(_fill("900", cid=None, symbol=ETH))
    assert state.has_trade("ETH/USDT", "900")
    assert state.position("ETH/USDT").size == Decimal("0.1")
    assert state.position("BTC/USDT").size == Decimal("0.1")


def test_fill_for_an_order_not_known_is_refused() -> None:
    state = SessionState()
    with pytest.raises(DomainError, match="tg-404"):
        state.apply(_fill("1", cid="tg-404"))
    assert state == SessionState()


def test_external_fill_moves_only_the_position() -> None:
    state = SessionState()
    state.apply(_fill("1", cid=None))
    assert state.orders == {}
    assert state.position("BTC/USDT").size == Decimal("0.1")
    assert state.position("XRP/USDT").is_flat


def _adopt(cid: str, exchange_id: str) -> ExternalOrderAdopted:
    return ExternalOrderAdopted(
        ts_ns=4,
        client_order_id=ClientOrderId(cid),
        exchange_order_id=ExchangeOrderId(exchange_id),
        symbol=BTC,
        kind=MarketKind.SPOT,
        side=Side.SELL,
        order_type=OrderType.LIMIT,
        amount=Decimal(1),
        price=Decimal(31000),
        status=OrderStatus.OPEN,
        filled=Decimal(0),
        cause="external order",
    )


def test_external_orders_are_adopted_once_and_exchange_ids_stay_unique() -> None:
    state = SessionState()
    state.apply(_adopt("web_1", "555"))
    order = state.orders[ClientOrderId("web_1")]
    assert order.external
    assert state.order_by_exchange_id("BTC/USDT", "555") == order
    with pytest.raises(DomainError, match="already exists"):
        state.apply(_adopt("web_1", "556"))
    with pytest.raises(DomainError, match="already used"):
        state.apply(_adopt("web_2", "555"))
    state.apply(_intent())
    before = state.copy()
    with pytest.raises(DomainError, match="already used"):
        state.apply(
            OrderAcknowledged(
                ts_ns=5,
                client_order_id=ClientOrderId("tg-1"),
                exchange_order_id=ExchangeOrderId("555"),
            )
        )
    assert state == before


def test_balance_total_is_free_plus_used() -> None:
    state = SessionState()
    state.apply(
        BalanceUpdated(
            ts_ns=1,
            asset=Asset("USDT"),
            free=Decimal("70.5"),
            used=Decimal("29.5"),
            cause="fetch_balance",
        )
    )
    assert state.balances[Asset("USDT")].total == Decimal(100)
    with pytest.raises(DomainError, match="total"):
        Balance(asset=Asset("USDT"), free=Decimal(1), used=Decimal(1), total=Decimal(3))
    with pytest.raises(DomainError, match="used"):
        state.apply(
            BalanceUpdated(
                ts_ns=1, asset=Asset("BTC"), free=Decimal(1), used=Decimal(-1), cause="x"
            )
        )


def test_trade_cursor_is_kept_per_symbol() -> None:
    state = SessionState()
    state.apply(TradeCursorAdvanced(ts_ns=1, symbol=BTC, cursor="100"))
    state.apply(TradeCursorAdvanced(ts_ns=2, symbol=ETH, cursor="7"))
    state.apply(TradeCursorAdvanced(ts_ns=3, symbol=BTC, cursor="120"))
    assert state.trade_cursors == {"BTC/USDT": "120", "ETH/USDT": "7"}


def test_warning_blocks_its_symbol_and_critical_blocks_everything() -> None:
    state = SessionState()
    state.apply(_flag("w1", FlagSeverity.WARNING, BTC))
    assert state.is_blocked("BTC/USDT")
    assert not state.is_blocked("ETH/USDT")
    state.apply(_flag("c1", FlagSeverity.CRITICAL, BTC))
    assert state.is_blocked("ETH/USDT")
    state.apply(FlagResolved(ts_ns=3, flag_id=FlagId("c1"), action="ignore", note="ok"))
    assert not state.is_blocked("ETH/USDT")
    assert state.is_blocked("BTC/USDT")
    state.apply(FlagResolved(ts_ns=4, flag_id=FlagId("w1"), action="mark_canceled"))
    assert not state.is_blocked("BTC/USDT")
    assert state.open_flags() == []
    resolved = state.flags[FlagId("w1")]
    assert resolved.status is FlagStatus.RESOLVED
    assert resolved.resolution_action == "mark_canceled"


def test_warning_without_a_symbol_fails_closed() -> None:
    state = SessionState()
    state.apply(_flag("w", FlagSeverity.WARNING, None))
    assert state.is_blocked("BTC/USDT")
    assert state.is_blocked("ETH/USDT")


def test_flag_rules() -> None:
    state = SessionState()
    state.apply(_flag("f", FlagSeverity.WARNING, BTC))
    before = state.copy()
    with pytest.raises(DomainError, match="already exists"):
        state.apply(_flag("f", FlagSeverity.CRITICAL, None))
    with pytest.raises(InvalidTransitionError, match=r"'f' is open.*'delete'"):
        state.apply(FlagResolved(ts_ns=3, flag_id=FlagId("f"), action="delete"))
    with pytest.raises(DomainError, match="'nope'"):
        state.apply(FlagResolved(ts_ns=3, flag_id=FlagId("nope"), action="ignore"))
    assert state == before
    state.apply(FlagResolved(ts_ns=3, flag_id=FlagId("f"), action="ignore"))
    with pytest.raises(InvalidTransitionError, match="resolved"):
        state.apply(FlagResolved(ts_ns=4, flag_id=FlagId("f"), action="ignore"))
    with pytest.raises(DomainError, match="at least one"):
        state.apply(
            FlagRaised(
                ts_ns=1,
                flag_id=FlagId("g"),
                severity=FlagSeverity.WARNING,
                kind="k",
                message="m",
                actions=(),
            )
        )


def test_equality_is_by_value() -> None:
    a, b = SessionState(), SessionState()
    assert a == b
    a.apply(_intent())
    assert a != b
    b.apply(_intent())
    assert a == b
    assert a != object()
    assert "orders=1" in repr(a)


def _wallet(state: SessionState) -> dict[str, tuple[Decimal, Decimal]]:
    return {a: (b.free, b.used) for a, b in state.balances.items()}


def test_spot_balances_follow_locks_fills_fees_and_cancels() -> None:
    state = SessionState()
    state.apply_all(
        enumerate(
            [
                InstrumentRegistered(
                    ts_ns=1,
                    symbol=BTC,
                    kind=MarketKind.SPOT,
                    base=Asset("BTC"),
                    quote=Asset("USDT"),
                ),
                BalanceUpdated(
                    ts_ns=1, asset=Asset("BTC"), free=Decimal(1), used=Decimal(0), cause="exchange"
                ),
                BalanceUpdated(
                    ts_ns=1, asset=Asset("USDT"), free=Decimal(50000), used=Decimal(0), cause="x"
                ),
            ],
            start=1,
        )
    )
    # A resting buy locks price x amount of the quote; a resting sell its base.
    state.apply(_intent("tg-1"))
    assert _wallet(state)["USDT"] == (Decimal(50000), Decimal(0))  # not placed yet
    state.apply(OrderAcknowledged(ts_ns=2, client_order_id=ClientOrderId("tg-1"),
                                  exchange_order_id=ExchangeOrderId("1")))  # fmt: skip
    assert _wallet(state)["USDT"] == (Decimal(35000), Decimal(15000))
    state.apply(_intent("tg-2", side=Side.SELL, price=Decimal(40000), amount=Decimal("0.25")))
    state.apply(OrderAcknowledged(ts_ns=3, client_order_id=ClientOrderId("tg-2"),
                                  exchange_order_id=ExchangeOrderId("2")))  # fmt: skip
    assert _wallet(state)["BTC"] == (Decimal("0.75"), Decimal("0.25"))
    # A partial fill of the buy, below its limit: the lock of 0.2 goes, 0.2 x 29000 and
    # the fee (in USDT) are paid, 0.2 BTC arrives.
    state.apply(FillRecorded(ts_ns=4, client_order_id=ClientOrderId("tg-1"),
                             trade_id=TradeId("t1"), symbol=BTC, side=Side.BUY,
                             price=Decimal(29000), amount=Decimal("0.2"), fee=Decimal("5.8"),
                             fee_asset=Asset("USDT"), is_maker=True, exchange_ts_ns=4))  # fmt: skip
    paid = Decimal(5800) + Decimal("5.8")
    assert _wallet(state)["USDT"] == (Decimal(35000) + 6000 - paid, Decimal(9000))
    assert _wallet(state)["BTC"] == (Decimal("0.95"), Decimal("0.25"))
    # The sell fills whole: its base lock is consumed, the quote arrives.
    state.apply(FillRecorded(ts_ns=5, client_order_id=ClientOrderId("tg-2"),
                             trade_id=TradeId("t2"), symbol=BTC, side=Side.SELL,
                             price=Decimal(40000), amount=Decimal("0.25"), fee=Decimal(10),
                             fee_asset=Asset("USDT"), is_maker=True, exchange_ts_ns=5))  # fmt: skip
    assert _wallet(state)["BTC"] == (Decimal("0.95"), Decimal(0))
    # Canceling the rest of the buy unlocks it.
    state.apply(OrderCanceled(ts_ns=6, client_order_id=ClientOrderId("tg-1"), reason="x"))
    usdt = _wallet(state)["USDT"]
    assert usdt == (Decimal(50000) - paid + 10000 - 10, Decimal(0))
    assert state.balances[Asset("USDT")].total == usdt[0]

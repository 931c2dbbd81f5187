"""What happens on the exchange while tradeguard is down, found by one reconciliation.

Real ccxt over HTTP against the simulator, a real SQLite journal; the simulator's
admin API is the ground truth and the lever for "done by hand on the exchange".
"""

from __future__ import annotations

import time
from decimal import Decimal

from rechelpers import PERP, SPOT, Admin, place_journaled, register

from tradeguard.app.service import LocalService
from tradeguard.domain import (
    FlagSeverity,
    OrderAcknowledged,
    OrderIntended,
    OrderOutcomeUnknown,
    OrderStatus,
    OrderType,
    Side,
    TradeCursorAdvanced,
)
from tradeguard.domain.enums import MarketKind
from tradeguard.domain.ids import ClientOrderId, ExchangeOrderId, Symbol
from tradeguard.exchange.ccxt_gateway import CcxtGateway
from tradeguard.exchange.reports import PageCursor
from tradeguard.reconcile import ReconcilePolicy, encode_cursor, reconcile_once

D = Decimal
POLICY = ReconcilePolicy()


async def test_fills_and_cancel_while_down(
    service: LocalService, gateway: CcxtGateway, admin: Admin
) -> None:
    await register(service, SPOT)
    filled = await place_journaled(service, gateway, SPOT, Side.BUY, "0.01", "59000")
    canceled = await place_journaled(service, gateway, SPOT, Side.BUY, "0.02", "58000")
    resting = await place_journaled(service, gateway, SPOT, Side.BUY, "0.01", "50000")
    # While "down": the price falls through the first order, a person cancels the second.
    await admin.post("price", {"symbol": "BTCUSDT", "price": "58900", "market": "spot"})
    await gateway.cancel_order(SPOT, client_order_id=canceled)
    assert (await admin.order(filled))["status"] == "FILLED"

    report = await reconcile_once(service, gateway, POLICY)

    assert report.complete, report.unchecked
    state = service.state
    assert state.orders[filled].status is OrderStatus.FILLED
    assert state.orders[filled].filled == D("0.01")
    assert len(state.trade_ids(filled)) == 1  # the fill counted through its trade
    assert state.orders[canceled].status is OrderStatus.CANCELED
    assert state.orders[resting].status is OrderStatus.OPEN
    assert state.position(SPOT).size == D("0.01")
    truth = await admin.state()
    assert state.balances["USDT"].total == D(truth["spot"]["balances"]["USDT"]["free"]) + D(
        truth["spot"]["balances"]["USDT"]["locked"]
    )
    assert report.found["missing_fill"] == 1
    assert report.found["state_mismatch"] == 1
    assert not report.flags_raised
    assert SPOT in state.trade_cursors

    again = await reconcile_once(service, gateway, POLICY)
    assert again.complete
    assert again.events_planned == 0, again.discrepancies


async def test_external_order_flagged_by_default(
    service: LocalService, gateway: CcxtGateway, admin: Admin
) -> None:
    await register(service, SPOT)
    placed = await admin.post("order", {
        "market": "spot", "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
        "quantity": "0.01", "price": "50000", "clientOrderId": "by-hand-1",
    })
    report = await reconcile_once(service, gateway, POLICY)
    assert report.complete
    flag_id = f"external_order:{SPOT}:{placed['order']['orderId']}"
    assert report.flags_raised == (flag_id,)
    assert service.state.flags[flag_id].severity is FlagSeverity.WARNING
    assert service.state.is_blocked(SPOT)
    assert not service.state.is_blocked("ETH/USDT")
    assert "by-hand-1" not in service.state.orders

    again = await reconcile_once(service, gateway, POLICY)
    assert again.events_planned == 0
    assert [d.action for d in again.discrepancies] == ["already_flagged"]


async def test_external_order_adopted_with_policy_adopt(
    service: LocalService, gateway: CcxtGateway, admin: Admin
) -> None:
    await admin.post("order", {
        "market": "spot", "symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT",
        "quantity": "0.02", "price": "70000", "clientOrderId": "by-hand-2",
    })
    report = await reconcile_once(service, gateway, ReconcilePolicy(external_orders="adopt"))
    assert report.complete
    assert not report.flags_raised
    adopted = service.state.orders[ClientOrderId("by-hand-2")]
    assert adopted.external
    assert adopted.status is OrderStatus.OPEN
    assert adopted.amount == D("0.02")
    assert adopted.price == D("70000")
    # It fills later: the next run sees its trade and counts it on the adopted order.
    await admin.post("price", {"symbol": "BTCUSDT", "price": "70100", "market": "spot"})
    later = await reconcile_once(service, gateway, ReconcilePolicy(external_orders="adopt"))
    assert later.complete
    assert service.state.orders[ClientOrderId("by-hand-2")].status is OrderStatus.FILLED
    assert service.state.position(SPOT).size == D("-0.02")


async def test_deposits_corrected_and_a_large_one_flagged(
    service: LocalService, gateway: CcxtGateway, admin: Admin
) -> None:
    first = await reconcile_once(service, gateway, POLICY)
    assert first.complete
    assert not first.flags_raised
    assert service.state.balances["USDT"].total == D(100000)

    await admin.post("deposit", {"asset": "USDT", "amount": "25", "market": "spot"})
    small = await reconcile_once(service, gateway, POLICY)
    assert [(d.account, d.action) for d in small.discrepancies] == [("USDT", "corrected")]
    assert service.state.balances["USDT"].total == D(100025)
    assert not small.flags_raised

    await admin.post("deposit", {"asset": "USDT", "amount": "50000", "market": "usdm"})
    large = await reconcile_once(service, gateway, POLICY)
    assert [(d.account, d.action) for d in large.discrepancies] == [
        ("USDT@perpetual", "corrected_and_flagged")
    ]
    assert service.state.balances["USDT@perpetual"].total == D(150000)
    assert large.flags_raised == ("large_balance_change:USDT@perpetual@150000",)
    assert (await reconcile_once(service, gateway, POLICY)).events_planned == 0


async def test_position_changed_by_hand_explained_by_fills(
    service: LocalService, gateway: CcxtGateway, admin: Admin
) -> None:
    await register(service, PERP)
    await admin.post("trade", {"market": "usdm", "symbol": "BTCUSDT", "side": "BUY",
                               "quantity": "0.01", "price": "60000"})
    report = await reconcile_once(service, gateway, POLICY)
    assert report.complete, report.unchecked
    assert not report.flags_raised
    assert service.state.position(PERP).size == D("0.01")
    truth = (await admin.state())["usdm"]["positions"]
    assert D(truth[0]["positionAmt"]) == D("0.01")
    assert service.state.position(PERP).entry_price == D(truth[0]["entryPrice"])
    kinds = [d for d in report.discrepancies if type(d).__name__ == "PositionMismatch"]
    assert kinds
    assert kinds[0].explained
    assert (await reconcile_once(service, gateway, POLICY)).events_planned == 0


async def test_position_not_explained_by_fills_is_flagged(
    service: LocalService, gateway: CcxtGateway, admin: Admin
) -> None:
    await register(service, PERP)
    done = await admin.post("trade", {"market": "usdm", "symbol": "BTCUSDT", "side": "SELL",
                                      "quantity": "0.02", "price": "60000"})
    # The trade history before this cursor is gone (as if it had been counted already):
    # the fills cannot explain the exchange's position.
    last_id = str(done["trades"][-1]["id"])
    cursor = encode_cursor(PageCursor(after_id=last_id))
    await service.append(
        [TradeCursorAdvanced(ts_ns=time.time_ns(), symbol=Symbol(PERP), cursor=cursor)]
    )
    report = await reconcile_once(service, gateway, POLICY)
    assert report.complete
    assert report.flags_raised == (f"position_mismatch:{PERP}@-0.02/0",)
    assert service.state.position(PERP).size == 0  # never silently "corrected"
    assert service.state.is_blocked(PERP)
    assert (await reconcile_once(service, gateway, POLICY)).events_planned == 0


async def test_vanished_and_unknown_orders(
    service: LocalService, gateway: CcxtGateway, admin: Admin
) -> None:
    await register(service, SPOT)
    now = time.time_ns()
    intents = [
        OrderIntended(ts_ns=now, client_order_id=ClientOrderId(cid), symbol=Symbol(SPOT),
                      kind=MarketKind.SPOT, side=Side.BUY, order_type=OrderType.LIMIT,
                      amount=D("0.01"), price=D("50000"))
        for cid in ("tg-vanished", "tg-never-sent", "tg-pending")
    ]
    await service.append([
        *intents,
        OrderAcknowledged(ts_ns=now, client_order_id=ClientOrderId("tg-vanished"),
                          exchange_order_id=ExchangeOrderId("987654")),
        OrderOutcomeUnknown(ts_ns=now, client_order_id=ClientOrderId("tg-never-sent"),
                            reason="timeout"),
    ])
    # Sent, but its answer was lost: the exchange has it.
    lost = await place_journaled(service, gateway, SPOT, Side.BUY, "0.01", "51000",
                                 acknowledge=False)
    await service.append([OrderOutcomeUnknown(ts_ns=time.time_ns(), client_order_id=lost,
                                              reason="dropped connection")])

    report = await reconcile_once(service, gateway, ReconcilePolicy(unknown_grace_ns=0))

    assert report.complete, report.unchecked
    orders = service.state.orders
    assert orders[ClientOrderId("tg-never-sent")].status is OrderStatus.NOT_PLACED
    assert orders[ClientOrderId("tg-pending")].status is OrderStatus.NOT_PLACED
    assert orders[lost].status is OrderStatus.OPEN
    assert orders[lost].exchange_order_id == str((await admin.order(lost))["orderId"])
    assert report.critical_flags == ("vanished_order:tg-vanished",)
    assert service.state.is_blocked("ETH/USDT")  # critical: the whole session stops
    assert (await reconcile_once(service, gateway, POLICY)).events_planned == 0


async def test_unknown_within_grace_waits(service: LocalService, gateway: CcxtGateway) -> None:
    await register(service, SPOT)
    await service.append([OrderIntended(
        ts_ns=time.time_ns(), client_order_id=ClientOrderId("tg-young"), symbol=Symbol(SPOT),
        kind=MarketKind.SPOT, side=Side.BUY, order_type=OrderType.LIMIT, amount=D("0.01"),
        price=D("50000"),
    )])
    report = await reconcile_once(service, gateway, ReconcilePolicy(unknown_grace_ns=10**12))
    assert report.complete
    assert report.waiting == ("tg-young",)
    assert service.state.orders[ClientOrderId("tg-young")].status is OrderStatus.PENDING_SUBMIT


async def test_failed_fetch_makes_the_run_incomplete(
    service: LocalService, gateway: CcxtGateway, admin: Admin
) -> None:
    await register(service, SPOT)
    filled = await place_journaled(service, gateway, SPOT, Side.BUY, "0.01", "59000")
    await admin.post("price", {"symbol": "BTCUSDT", "price": "58900", "market": "spot"})
    await admin.post("deposit", {"asset": "USDT", "amount": "99", "market": "spot"})
    await admin.fault("/api/v3/myTrades", "status", method="GET", status=503)
    await admin.fault("/api/v3/account", "status", method="GET", status=503)

    report = await reconcile_once(service, gateway, POLICY)

    assert not report.complete
    failed = {(f.what, f.symbol) for f in report.failures}
    assert ("trades", SPOT) in failed
    assert ("balances", None) in failed
    assert f"trades:{SPOT}" not in report.checked
    assert "balances" not in report.checked
    assert {u.what for u in report.unchecked} >= {"trades", "balances"}
    assert not any(type(d).__name__ in ("MissingFill", "BalanceMismatch")
                   for d in report.discrepancies)
    assert not service.state.balances  # nothing claimed about balances
    assert SPOT not in service.state.trade_cursors
    assert service.state.position(SPOT).size == 0
    # The order's final state is exchange evidence fetched fine: adopted, fill pending.
    assert service.state.orders[filled].status is OrderStatus.FILLED

    healed = await reconcile_once(service, gateway, POLICY)
    assert healed.complete
    assert service.state.position(SPOT).size == D("0.01")
    assert healed.found.get("missing_fill") == 1

"""Free/locked splits: equal on a healthy session, a logged correction when they differ.

The session locks what Binance (and the simulator) lock: a limit buy price x remaining
of the quote, a sell the remaining base. So after our own orders, partial fills and
cancels the journal's free and locked equal the exchange's exactly, and reconciliation
finds no balance discrepancy. When the split differs while the totals agree (funds
locked by an order we do not track), it is a balance discrepancy: corrected and logged,
not flagged. Real ccxt over 127.0.0.1, a real SQLite journal.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

import pytest
from rechelpers import SPOT, Admin, place_journaled, register

from tradeguard.domain import Side
from tradeguard.domain.events import BalanceUpdated
from tradeguard.exchange.ccxt_gateway import CcxtGateway
from tradeguard.reconcile import ReconcilePolicy, reconcile_once
from tradeguard.reconcile.discrepancies import BalanceMismatch
from tradeguard.sim import SimulatorConfig
from tradeguard.storage.codec import decode_records

if TYPE_CHECKING:
    from tradeguard.app.service import LocalService

D = Decimal
POLICY = ReconcilePolicy()


@pytest.fixture
def sim_config() -> SimulatorConfig:
    """Shallow depth, so a crossed order fills in part; timer off."""
    return SimulatorConfig(seed=7, tick_interval_ms=0, depth_per_tick_quote=D(6000))


async def exchange_split(admin: Admin, asset: str) -> tuple[Decimal, Decimal]:
    balances = (await admin.state())["spot"]["balances"]
    return D(balances[asset]["free"]), D(balances[asset]["locked"])


def balance_mismatches(report: object) -> list[BalanceMismatch]:
    found = getattr(report, "discrepancies", ())
    return [d for d in found if isinstance(d, BalanceMismatch)]


async def test_own_orders_fills_and_cancels_leave_free_and_locked_exact(
    service: LocalService, gateway: CcxtGateway, admin: Admin
) -> None:
    await register(service, SPOT)
    first = await reconcile_once(service, gateway, POLICY)  # first sight of the wallet
    assert first.complete
    buy = await place_journaled(service, gateway, SPOT, Side.BUY, "0.25", "59000")
    await place_journaled(service, gateway, SPOT, Side.SELL, "0.3", "62000")
    canceled = await place_journaled(service, gateway, SPOT, Side.BUY, "0.1", "58000")
    await gateway.cancel_order(SPOT, client_order_id=canceled)
    # The price reaches the buy: one pass of depth fills part of it (a maker fill, its
    # fee paid in BTC); the reconciliation below journals that fill and the cancel.
    await admin.post("price", {"symbol": "BTCUSDT", "price": "59000", "market": "spot"})
    order = await admin.order(buy)
    assert order["status"] == "PARTIALLY_FILLED"

    report = await reconcile_once(service, gateway, POLICY)

    assert report.complete, report.unchecked
    assert report.found.get("missing_fill") == 1
    assert balance_mismatches(report) == []
    for asset in ("USDT", "BTC"):
        local = service.state.balances[asset]
        assert (local.free, local.used) == await exchange_split(admin, asset), asset
    remaining = D("0.25") - D(order["executedQty"])
    assert service.state.balances["USDT"].used == D(59000) * remaining
    assert service.state.balances["BTC"].used == D("0.3")
    assert (await reconcile_once(service, gateway, POLICY)).events_planned == 0


async def test_a_split_that_differs_with_equal_totals_is_corrected_and_logged(
    service: LocalService, gateway: CcxtGateway, admin: Admin
) -> None:
    await register(service, SPOT)
    assert (await reconcile_once(service, gateway, POLICY)).complete
    before = service.state.balances["USDT"]
    # Someone places an order by hand: 500 USDT move from free to locked on the
    # exchange, the total stays.
    await admin.post("order", {
        "market": "spot", "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
        "quantity": "0.01", "price": "50000", "clientOrderId": "by-hand-split",
    })

    report = await reconcile_once(service, gateway, POLICY)

    assert report.complete
    [mismatch] = balance_mismatches(report)
    assert mismatch.account == "USDT"
    assert mismatch.action == "corrected"
    assert not mismatch.large
    assert mismatch.flag_id is None
    assert mismatch.local_total == mismatch.exchange_total == before.total
    assert mismatch.unexplained_change == 0
    assert (mismatch.exchange_free, mismatch.exchange_used) == (
        before.free - D(500), before.used + D(500)
    )
    # Only the external order is flagged; the balance is corrected, not flagged.
    assert [f.split(":")[0] for f in report.flags_raised] == ["external_order"]
    local = service.state.balances["USDT"]
    assert (local.free, local.used) == await exchange_split(admin, "USDT")
    updates = [
        e for _, e in decode_records(service.store.read())
        if isinstance(e, BalanceUpdated) and e.asset == "USDT"
    ]
    assert updates[-1].cause == "exchange's split of free and locked (totals agree)"
    again = await reconcile_once(service, gateway, POLICY)
    assert balance_mismatches(again) == []
    assert again.events_planned == 0

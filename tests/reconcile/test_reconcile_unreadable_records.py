"""One unreadable order record leaves only itself unchecked (issue 7, item 25).

An order with a status the parser did not know (Binance's PENDING_NEW) used to make
the whole open-order fetch fail, so reconciliation could never complete and saw no
external order at all. Real ccxt over HTTP through a proxy that garbles chosen records
of the simulator's answers, a real SQLite journal.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from rechelpers import SPOT, Admin, place_journaled, register

from tradeguard.app.service import LocalService
from tradeguard.domain import OrderStatus, Side
from tradeguard.exchange.ccxt_gateway import CcxtGateway
from tradeguard.reconcile import (
    BalanceMismatch,
    ExternalOrder,
    ReconcilePolicy,
    VanishedOrder,
    reconcile_once,
)
from tradeguard.sim import SimulatorThread

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "exchange"))
from mutproxy import MutatingProxy

POLICY = ReconcilePolicy()
OPEN_ORDERS = "/api/v3/openOrders"


@pytest.fixture
async def proxy(sim: SimulatorThread) -> AsyncIterator[MutatingProxy]:
    """A garbling proxy in front of the simulator."""
    async with MutatingProxy(sim.url) as running:
        yield running


@pytest.fixture
async def proxied(proxy: MutatingProxy) -> AsyncIterator[CcxtGateway]:
    """A spot gateway whose every request goes through ``proxy``."""
    async with CcxtGateway(
        "binance", api_key="demo", secret="demo", url_override=proxy.url,
        markets=("spot",), timeout_ms=3000,
    ) as gw:
        await gw.load_markets()
        yield gw


def status_of(exchange_order_id: str, status: str) -> Callable[[Any], Any]:
    def mutate(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for row in rows:
            if str(row["orderId"]) == exchange_order_id:
                row["status"] = status
        return rows

    return mutate


def order_discrepancies(report: Any) -> list[type]:
    # Balances are first seen in this run (corrected, not about orders).
    return [type(d) for d in report.discrepancies if not isinstance(d, BalanceMismatch)]


async def _setup(
    service: LocalService, gateway: CcxtGateway, admin: Admin
) -> tuple[str, str, str, str]:
    """Two journaled open orders and one placed by hand; their cids and exchange ids."""
    await register(service, SPOT)
    first = await place_journaled(service, gateway, SPOT, Side.BUY, "0.001", "50000")
    second = await place_journaled(service, gateway, SPOT, Side.BUY, "0.001", "50100")
    await admin.post("order", {"market": "spot", "symbol": "BTCUSDT", "side": "BUY",
                               "type": "LIMIT", "quantity": "0.001", "price": "50200"})
    ids = {o.client_order_id: o.exchange_order_id for o in service.state.orders.values()}
    first_id, second_id = ids[first], ids[second]
    assert first_id is not None
    assert second_id is not None
    return first, first_id, second, second_id


async def test_a_garbled_record_is_unchecked_and_the_rest_reconciled(
    service: LocalService, proxied: CcxtGateway, proxy: MutatingProxy, admin: Admin
) -> None:
    first, first_id, second, _ = await _setup(service, proxied, admin)
    proxy.mutate("GET", OPEN_ORDERS, status_of(first_id, "HALF_BAKED"))

    report = await reconcile_once(service, proxied, POLICY)

    assert proxy.mutated == 1
    assert not report.complete
    unreadable = [u for u in report.unchecked if u.what == "open_orders"]
    assert len(unreadable) == 1
    assert unreadable[0].symbol == SPOT
    assert f"record {first_id} unreadable" in unreadable[0].reason
    assert "HALF_BAKED" in unreadable[0].reason
    # Everything else was compared: the order placed by hand is found ...
    assert f"open_orders:{SPOT}" in report.checked
    assert order_discrepancies(report) == [ExternalOrder]
    # ... and the garbled one, looked up on its own, is still open: nothing vanished.
    assert not any(isinstance(d, VanishedOrder) for d in report.discrepancies)
    assert service.state.orders[first].status is OrderStatus.OPEN  # type: ignore[index]
    assert service.state.orders[second].status is OrderStatus.OPEN  # type: ignore[index]

    healed = await reconcile_once(service, proxied, POLICY)
    assert healed.complete


async def test_pending_new_is_an_open_order(
    service: LocalService, proxied: CcxtGateway, proxy: MutatingProxy, admin: Admin
) -> None:
    first, first_id, _, second_id = await _setup(service, proxied, admin)
    mark_first = status_of(first_id, "PENDING_NEW")
    mark_second = status_of(second_id, "PENDING_NEW")
    proxy.mutate("GET", OPEN_ORDERS, lambda rows: mark_second(mark_first(rows)))

    report = await reconcile_once(service, proxied, POLICY)

    assert proxy.mutated == 1
    assert report.complete, report.unchecked
    assert order_discrepancies(report) == [ExternalOrder]
    assert service.state.orders[first].status is OrderStatus.OPEN  # type: ignore[index]

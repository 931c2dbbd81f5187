"""A periodic reconciliation of a healthy session finds no discrepancy.

A fill that lands between two fill polls is normal operation: the periodic run takes
in the trades the poller has not reached yet before it compares, so it does not report
them as "missing fills". Real ccxt against the simulator over 127.0.0.1; the bound
around the wait is a hang detector, not a timing assertion.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import msgspec
from gwhelpers import Admin
from sessionfixtures import SETTINGS

from tradeguard.config import Config, ReconcileSettings
from tradeguard.domain.events import FillRecorded, ReconciliationReported
from tradeguard.exchange.ccxt_gateway import CcxtGateway
from tradeguard.session import Session

HANG_BOUND_S = 60.0


async def test_a_fill_between_polls_is_not_a_discrepancy(
    store_config: Config,
    gateway: CcxtGateway,
    admin: Admin,
    journal_on_disk: Callable[[], list[tuple[int, Any]]],
) -> None:
    config = msgspec.structs.replace(
        store_config, reconcile=ReconcileSettings(interval_seconds=0.3)
    )
    # The poller never comes round on its own: only the periodic reconciliation runs.
    settings = msgspec.structs.replace(SETTINGS, poll_interval_seconds=3600.0)
    session = await Session.open(config, gateway=gateway, settings=settings, strategy=None)
    try:
        ticker = await session.ticker("BTC/USDT")
        assert ticker.mid is not None
        price = (ticker.mid * Decimal("0.99")).quantize(Decimal("0.01"))
        order = await session.submit_order("BTC/USDT", "buy", "limit", Decimal("0.001"), price)
        started_at = session.service.next_seq
        # The market trades through our bid while the session is not polling.
        await admin.post("price", {"symbol": "BTCUSDT", "price": str(price * Decimal("0.98"))})

        async def periodic_reports() -> list[ReconciliationReported]:
            while True:
                reports = [
                    e for seq, e in journal_on_disk()
                    if seq >= started_at and isinstance(e, ReconciliationReported)
                ]
                if reports:
                    return reports
                await asyncio.sleep(0.1)

        reports = await asyncio.wait_for(periodic_reports(), HANG_BOUND_S)
    finally:
        await session.close()
    fills = [e for _, e in journal_on_disk() if isinstance(e, FillRecorded)]
    assert [f.client_order_id for f in fills] == [order.client_order_id]
    assert reports[0].complete
    assert reports[0].found == (), reports[0].found

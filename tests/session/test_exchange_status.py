"""An exchange outage is visible: the session records every gateway call's outcome
(``Session.exchange_status``) and the live table says "exchange unreachable since ..."
with the last error, then "ok" again once the exchange answers.

Real ccxt against the simulator over 127.0.0.1; the outage is the simulator dropping
connections (its fault injection), the table is rendered by rich at 80 columns.
"""

from __future__ import annotations

import io
import time
from decimal import Decimal

import pytest
from gwhelpers import Admin
from rich.console import Console
from sessionfixtures import open_session

from tradeguard.cli.live_view import session_view
from tradeguard.config import Config
from tradeguard.domain.enums import OrderType, Side
from tradeguard.errors import OrderNotFoundError, TradeguardError
from tradeguard.exchange.ccxt_gateway import CcxtGateway
from tradeguard.session import Session


def render(session: Session, width: int = 80) -> str:
    out = io.StringIO()
    Console(file=out, width=width, color_system=None).print(
        session_view(session, time.monotonic()))
    return out.getvalue()


async def test_outage_is_shown_with_since_and_last_error(
    store_config: Config, gateway: CcxtGateway, admin: Admin
) -> None:
    session = await open_session(store_config, gateway)
    try:
        assert session.exchange_status.health().reachable is True
        assert "exchange unreachable" not in render(session)
        before = time.time_ns()
        await admin.fault("/api/v3/*", "drop", count=1000)
        with pytest.raises(TradeguardError):
            await session.poll_once()
        with pytest.raises(TradeguardError):
            await session.poll_once()
        health = session.exchange_status.health()
        assert health.reachable is False
        assert health.unreachable_since_ns is not None
        assert health.unreachable_since_ns >= before
        assert health.consecutive_failures >= 2
        assert health.last_error is not None
        first_since = health.unreachable_since_ns
        text = " ".join(render(session).split())
        assert "exchange unreachable since" in text
        assert "last error:" in text
        assert health.last_error.split(":")[0] in text
        status = await session.reconcile_now()  # reports the outage as not done
        assert status.complete is False
        text = " ".join(render(session).split())
        assert "INCOMPLETE" in text
        assert "exchange unreachable since" in text
        # The outage started at the first failure, not at the newest one.
        assert session.exchange_status.health().unreachable_since_ns == first_since
        await admin.post("faults", {"path": "/api/v3/*", "action": "drop", "count": 0})
        async with admin.session.delete(f"{admin.url}/_sim/faults") as response:
            assert response.status == 200
        await session.poll_once()
        health = session.exchange_status.health()
        assert health.reachable is True
        assert health.unreachable_since_ns is None
        assert "exchange unreachable" not in render(session)
    finally:
        await session.close()


async def test_a_refusal_is_an_answer_not_an_outage(
    store_config: Config, gateway: CcxtGateway
) -> None:
    session = await open_session(store_config, gateway)
    try:
        calls = session.exchange_status.health().calls
        with pytest.raises(OrderNotFoundError):  # the exchange answered: no such order
            await session.gateway.fetch_order("BTC/USDT", client_order_id="tg-no-such-order")
        health = session.exchange_status.health()
        assert (health.reachable, health.calls) == (True, calls + 1)
    finally:
        await session.close()


async def test_live_table_at_80_columns_shows_full_client_ids(
    store_config: Config, gateway: CcxtGateway, admin: Admin
) -> None:
    session = await open_session(store_config, gateway)
    try:
        placed = []
        for k in range(3):
            order = await session.submit_order(
                "BTC/USDT", Side.BUY, OrderType.LIMIT, Decimal("0.001"),
                Decimal("50000.10") - k)
            placed.append(order.client_order_id)
        text = render(session, 80)
        for line in text.splitlines():
            assert len(line) <= 80
        for client_id in placed:
            assert client_id in text  # on one line, not cut and not folded
        assert "…" not in text
        # Rounded to the market's tick (0.01) and lot size (0.00001), not raw decimals.
        assert session.market("BTC/USDT").tick_size == Decimal("0.01")
        assert "50000.10 " in text
        assert "0.00000 / 0.00100" in text
    finally:
        await session.close()


async def test_live_table_shows_a_pause_until_resumed(
    store_config: Config, gateway: CcxtGateway
) -> None:
    from tradeguard.domain.events import TradingPaused, TradingResumed

    session = await open_session(store_config, gateway)
    try:
        assert "PAUSED" not in render(session)
        await session.service.append(
            [TradingPaused(ts_ns=time.time_ns(), by="alice", note="[maintenance]")])
        table = render(session)
        assert "PAUSED by alice ([maintenance])" in table  # a note is text, not markup
        await session.service.append([TradingResumed(ts_ns=time.time_ns(), by="alice")])
        assert "PAUSED" not in render(session)
    finally:
        await session.close()

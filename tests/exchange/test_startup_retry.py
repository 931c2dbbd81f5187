"""Session.open survives a bad answer at start-up: retried with backoff, then loud.

One garbled answer at start-up used to end ``run`` with no retry (issue 7, item 21).
Real ccxt over HTTP through a proxy that garbles the simulator's answers; the backoff
sleep is injected, so the waits are recorded instead of slept.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from gwhelpers import make_gateway
from mutproxy import MutatingProxy

from tradeguard.config import Config, StorageSettings
from tradeguard.errors import ExchangeError
from tradeguard.session import Session, SessionSettings
from tradeguard.session.startup import StartupRetry
from tradeguard.sim import SimulatorThread

SETTINGS = SessionSettings(symbols=("BTC/USDT",), unknown_grace_seconds=0)


def _config(tmp_path: Path) -> Config:
    return Config(
        storage=StorageSettings(
            url=f"sqlite:///{tmp_path / 'data'}",
            backup_every_seconds=86_400.0,
            backup_dir=str(tmp_path / "backups"),
        )
    )


class Waits:
    """The injected sleep: records each backoff instead of waiting."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


def _garbled_exchange_info(payload: Any) -> Any:
    # A negative tick size: the gateway refuses the markets, so load_markets fails.
    for symbol in payload["symbols"]:
        for rule in symbol["filters"]:
            if rule["filterType"] == "PRICE_FILTER":
                rule["tickSize"] = "-0.01"
    return payload


def _order_id_zero(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"symbol": "BTCUSDT", "orderId": 0, "clientOrderId": "x", "price": "1",
         "origQty": "1", "executedQty": "0", "status": "NEW", "type": "LIMIT",
         "side": "BUY", "time": 1, "updateTime": 1},
        *rows,
    ]


async def _open(config: Config, gateway: Any, waits: Waits, attempts: int = 5) -> Session:
    return await Session.open(
        config, gateway=gateway, settings=SETTINGS, background=False,
        startup_retry=StartupRetry(attempts=attempts, sleep=waits),
    )


async def test_bad_market_answers_at_start_up_are_retried(
    sim: SimulatorThread, tmp_path: Path
) -> None:
    waits = Waits()
    async with MutatingProxy(sim.url) as proxy, make_gateway(
        sim, url_override=proxy.url, markets=("spot",)
    ) as gateway:
        proxy.mutate("GET", "/api/v3/exchangeInfo", _garbled_exchange_info, count=2)
        session = await _open(_config(tmp_path), gateway, waits)
        try:
            assert proxy.mutated == 2
            assert waits.seconds == [0.5, 1.0]
            assert "BTC/USDT" in session.markets
            assert session.startup is not None
            assert session.startup.reconcile.complete
        finally:
            await session.close()


async def test_markets_that_stay_bad_fail_loudly_after_the_last_try(
    sim: SimulatorThread, tmp_path: Path
) -> None:
    waits = Waits()
    async with MutatingProxy(sim.url) as proxy, make_gateway(
        sim, url_override=proxy.url, markets=("spot",)
    ) as gateway:
        proxy.mutate("GET", "/api/v3/exchangeInfo", _garbled_exchange_info, count=100)
        with pytest.raises(ExchangeError, match=r"start-up load_markets failed 3 times; last"):
            await _open(_config(tmp_path), gateway, waits, attempts=3)
        assert proxy.mutated == 3
        assert waits.seconds == [0.5, 1.0]


async def test_an_incomplete_start_up_reconciliation_is_retried(
    sim: SimulatorThread, tmp_path: Path
) -> None:
    waits = Waits()
    async with MutatingProxy(sim.url) as proxy, make_gateway(
        sim, url_override=proxy.url, markets=("spot",)
    ) as gateway:
        proxy.mutate("GET", "/api/v3/openOrders", _order_id_zero)
        session = await _open(_config(tmp_path), gateway, waits)
        try:
            assert proxy.mutated == 1
            assert waits.seconds == [0.5]
            assert session.startup is not None
            assert session.startup.reconcile.complete
            # The garbled order with id 0 was never adopted as an external order.
            assert session.state.orders == {}
        finally:
            await session.close()


def test_backoff_doubles_up_to_its_cap() -> None:
    retry = StartupRetry(attempts=8, initial_backoff_seconds=0.5, max_backoff_seconds=3)
    assert [retry.backoff(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    with pytest.raises(ValueError, match="attempts"):
        StartupRetry(attempts=0)

"""Reusable pytest fixtures for the exchange simulator and ccxt clients pointed at it.

Import the fixtures into a conftest (``from tests.simfixtures import sim``) or a test
module. ``sim`` is a running :class:`~tradeguard.sim.SimulatorThread` (function scope);
``make_ccxt(sim, "binance" | "binanceusdm")`` builds a real ccxt async client for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from tradeguard.sim import SimulatorConfig, SimulatorThread

__all__ = ["make_ccxt", "point_ccxt_at", "sim", "sim_config"]


@pytest.fixture
def sim_config() -> SimulatorConfig:
    """Default simulator config for tests: timer off so prices move only on command."""
    return SimulatorConfig(seed=7, tick_interval_ms=0)


@pytest.fixture
def sim(sim_config: SimulatorConfig) -> Iterator[SimulatorThread]:
    """A running simulator in its own thread, stopped after the test."""
    with SimulatorThread(sim_config) as running:
        yield running


def point_ccxt_at(exchange: Any, base_url: str) -> None:
    """Rewrite every API URL of a ccxt exchange to ``base_url``, keeping the paths."""
    def rewrite(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: rewrite(v) for k, v in value.items()}
        if isinstance(value, str) and value.startswith("http"):
            parts = urlsplit(value)
            return base_url + parts.path
        return value

    exchange.urls["api"] = rewrite(exchange.urls["api"])


def make_ccxt(sim_url: str, exchange_id: str = "binance", **options: Any) -> Any:
    """A real ``ccxt.async_support`` client (binance / binanceusdm) aimed at the sim."""
    import ccxt.async_support as ccxt_async

    opts: dict[str, Any] = {
        "fetchCurrencies": False,
        "fetchMargins": False,
        "fetchMarkets": {"types": ["spot"] if exchange_id == "binance" else ["linear"]},
        "fetchOpenOrders": {"warnWithoutSymbol": False},
        "warnOnFetchOpenOrdersWithoutSymbol": False,
        "maxRetriesOnFailure": 0,
    }
    opts.update(options)
    cls = getattr(ccxt_async, exchange_id)
    exchange = cls(
        {"apiKey": "demo", "secret": "demo", "enableRateLimit": False, "options": opts}
    )
    point_ccxt_at(exchange, sim_url)
    return exchange

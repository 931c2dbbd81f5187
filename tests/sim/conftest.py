"""Fixtures of the simulator tests: a running simulator and real ccxt clients for it."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

# simfixtures.py lives in tests/, which pytest does not put on sys.path by itself.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simfixtures import make_ccxt, sim, sim_config
from tradeguard.sim import SimulatorThread

__all__ = ["sim", "sim_config", "spot", "usdm"]


@pytest.fixture
async def spot(sim: SimulatorThread) -> AsyncIterator[Any]:
    """A real ``ccxt.async_support.binance`` client with markets loaded."""
    exchange = make_ccxt(sim.url, "binance")
    try:
        await exchange.load_markets()
        yield exchange
    finally:
        await exchange.close()


@pytest.fixture
async def usdm(sim: SimulatorThread) -> AsyncIterator[Any]:
    """A real ``ccxt.async_support.binanceusdm`` client with markets loaded."""
    exchange = make_ccxt(sim.url, "binanceusdm")
    try:
        await exchange.load_markets()
        yield exchange
    finally:
        await exchange.close()

"""Fixtures of the gateway tests: a running simulator, its admin API, a gateway on it."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

# simfixtures.py lives in tests/, which pytest does not put on sys.path by itself.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gwhelpers import Admin, make_gateway

from simfixtures import sim, sim_config
from tradeguard.exchange.ccxt_gateway import CcxtGateway
from tradeguard.sim import SimulatorThread

__all__ = ["admin", "gateway", "sim", "sim_config"]


@pytest.fixture
async def admin(sim: SimulatorThread) -> AsyncIterator[Admin]:
    """Admin API client of the running simulator."""
    async with aiohttp.ClientSession() as session:
        yield Admin(session, sim.url)


@pytest.fixture
async def gateway(sim: SimulatorThread) -> AsyncIterator[CcxtGateway]:
    """A ``CcxtGateway`` (spot and linear) on the simulator, markets loaded."""
    async with make_gateway(sim) as gw:
        await gw.load_markets()
        yield gw

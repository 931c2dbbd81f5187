"""Fixtures of the reconciliation tests: simulator, its admin API, gateway, a service."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

# simfixtures.py lives in tests/, which pytest does not put on sys.path by itself.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from rechelpers import Admin

from simfixtures import sim, sim_config
from tradeguard.app.service import LocalService
from tradeguard.config import Config, StorageSettings
from tradeguard.exchange.ccxt_gateway import CcxtGateway
from tradeguard.sim import SimulatorThread

__all__ = ["admin", "gateway", "service", "sim", "sim_config"]


@pytest.fixture
async def admin(sim: SimulatorThread) -> AsyncIterator[Admin]:
    """Admin API client of the running simulator (the ground truth)."""
    async with aiohttp.ClientSession() as session:
        yield Admin(session, sim.url)


@pytest.fixture
async def gateway(sim: SimulatorThread) -> AsyncIterator[CcxtGateway]:
    """A ``CcxtGateway`` (spot and linear) on the simulator."""
    async with CcxtGateway(
        "binance", api_key="demo", secret="demo", url_override=sim.url, timeout_ms=3000
    ) as gw:
        await gw.load_markets()
        yield gw


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[LocalService]:
    """A session on a real SQLite file, closed after the test."""
    config = Config(storage=StorageSettings(url=f"sqlite:///{tmp_path / 'data'}"))
    svc = await LocalService.start(config, config.storage.url, backup_dir=tmp_path / "backups")
    try:
        yield svc
    finally:
        await svc.close()

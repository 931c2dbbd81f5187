"""Fixtures of the session and strategy tests: simulator, admin API, gateway, SQLite store.

Imported by ``tests/session/conftest.py`` and ``tests/strategies/conftest.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from gwhelpers import Admin, make_gateway

from simfixtures import sim, sim_config
from tradeguard.config import Config, StorageSettings
from tradeguard.domain.events import AnyEvent
from tradeguard.exchange.ccxt_gateway import CcxtGateway
from tradeguard.session import Session, SessionSettings
from tradeguard.sim import SimulatorThread
from tradeguard.storage import open_store
from tradeguard.storage.codec import decode_records

__all__ = ["admin", "events_of", "gateway", "journal_on_disk", "sim", "sim_config", "store_config"]


SETTINGS = SessionSettings(symbols=("BTC/USDT", "ETH/USDT"), unknown_grace_seconds=0)


async def open_session(config: Config, gateway: CcxtGateway, **kw: Any) -> Session:
    kw.setdefault("settings", SETTINGS)
    return await Session.open(config, gateway=gateway, background=False, **kw)



@pytest.fixture
async def admin(sim: SimulatorThread) -> AsyncIterator[Admin]:
    """Admin API client of the running simulator."""
    async with aiohttp.ClientSession() as session:
        yield Admin(session, sim.url)


@pytest.fixture
async def gateway(sim: SimulatorThread) -> AsyncIterator[CcxtGateway]:
    """A spot-only gateway on the simulator (shared by the sessions of one test)."""
    async with make_gateway(sim, markets=("spot",)) as gw:
        yield gw


@pytest.fixture
def store_config(tmp_path: Path) -> Config:
    """A config whose store is a fresh SQLite data dir; backups effectively off."""
    return Config(
        storage=StorageSettings(
            url=f"sqlite:///{tmp_path / 'data'}",
            backup_every_seconds=86_400.0,
            backup_dir=str(tmp_path / "backups"),
        )
    )


@pytest.fixture
def journal_on_disk(store_config: Config) -> Callable[[], list[tuple[int, AnyEvent]]]:
    """Read the journal back from disk (read-only, beside the live session)."""

    def read() -> list[tuple[int, AnyEvent]]:
        with open_store(store_config.storage.url, session_id="default", readonly=True) as st:
            return list(decode_records(st.read()))

    return read


@pytest.fixture
def events_of() -> Callable[[list[tuple[int, AnyEvent]], type[Any]], list[Any]]:
    """Filter journal entries by event class."""

    def pick(entries: list[tuple[int, AnyEvent]], cls: type[Any]) -> list[Any]:
        return [event for _, event in entries if isinstance(event, cls)]

    return pick

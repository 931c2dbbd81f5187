"""A store is bound to one exchange account; another account is refused unless adopted.

Two simulators with different API keys and different state stand for two accounts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import ccxt.async_support as ccxt_async
import pytest
from gwhelpers import make_gateway
from sessionfixtures import open_session

from simfixtures import point_ccxt_at
from tradeguard.config import Config
from tradeguard.domain.events import AccountBound, FillRecorded, OrderStateCorrected
from tradeguard.errors import ConfigError
from tradeguard.sim import SimulatorConfig, SimulatorThread
from tradeguard.storage import open_store
from tradeguard.storage.codec import decode_records

TRADEGUARD = [sys.executable, "-m", "tradeguard"]
ALICE = ("alice-api-key-0123456789", "alice-secret")
BOB = ("bob-api-key-9876543210", "bob-secret")


def _sim(keys: tuple[str, str], seed: int) -> SimulatorThread:
    return SimulatorThread(SimulatorConfig(seed=seed, tick_interval_ms=0, api_key=keys[0],
                                           api_secret=keys[1]))


@pytest.fixture
def two_accounts() -> Iterator[tuple[SimulatorThread, SimulatorThread]]:
    with _sim(ALICE, seed=1) as alice, _sim(BOB, seed=2) as bob:
        yield alice, bob


def _journal(config: Config) -> list[object]:
    with open_store(config.storage.url, session_id="default", readonly=True) as st:
        return [event for _, event in decode_records(st.read())]


async def _trade_once(config: Config, sim: SimulatorThread, keys: tuple[str, str]) -> None:
    """A session on ``sim`` that buys at market, so the account has fills."""
    async with make_gateway(sim, api_key=keys[0], secret=keys[1], markets=("spot",)) as gw:
        session = await open_session(config, gw)
        try:
            await session.submit_order("BTC/USDT", "buy", "market", Decimal("0.01"))
            await session.poll_once()
        finally:
            await session.close()


def _files_holding(directory: Path, needle: bytes) -> list[Path]:
    return [f for f in directory.iterdir() if f.is_file() and needle in f.read_bytes()]


async def test_first_start_binds_and_another_account_is_refused_until_adopted(
    store_config: Config, tmp_path: Path,
    two_accounts: tuple[SimulatorThread, SimulatorThread],
) -> None:
    alice, bob = two_accounts
    await _trade_once(store_config, alice, ALICE)
    bound = [e for e in _journal(store_config) if isinstance(e, AccountBound)]
    assert len(bound) == 1
    assert bound[0].exchange_id == "binance"
    assert bound[0].account.startswith("key-sha256:")
    assert bound[0].previous == ""
    # The database, its WAL: a fingerprint, never the key.
    assert _files_holding(tmp_path / "data", ALICE[0].encode()) == []

    # Bob's account has a fill of its own; Alice's store must not adopt it.
    await _trade_once_elsewhere(bob)
    before = _journal(store_config)
    async with make_gateway(bob, api_key=BOB[0], secret=BOB[1], markets=("spot",)) as gw:
        with pytest.raises(ConfigError) as info:
            await open_session(store_config, gw)
        message = str(info.value)
        assert f"binance:{bound[0].account}" in message
        assert "--adopt-account" in message
        after = _journal(store_config)[len(before):]
        # The refused start recorded only that it started and stopped.
        assert [type(e).__name__ for e in after] == ["SessionStarted", "SessionStopped"]

        session = await open_session(store_config, gw, adopt_account=True)
        await session.close()
    adopted = [e for e in _journal(store_config) if isinstance(e, AccountBound)][-1]
    assert adopted.previous == f"binance:{bound[0].account}"
    assert adopted.account != bound[0].account
    async with make_gateway(bob, api_key=BOB[0], secret=BOB[1], markets=("spot",)) as gw:
        session = await open_session(store_config, gw)  # bound to Bob now: no refusal
        assert session.state.account == ("binance", adopted.account)
        await session.close()


async def _trade_once_elsewhere(sim: SimulatorThread) -> None:
    """A trade on ``sim`` by somebody else (not through this store)."""
    exchange = ccxt_async.binance({"apiKey": BOB[0], "secret": BOB[1], "options": {
        "fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False, "fetchMargins": False}})
    point_ccxt_at(exchange, sim.url)
    try:
        await exchange.create_order("BTC/USDT", "market", "buy", 0.02)
    finally:
        await exchange.close()


async def test_reconcile_against_another_account_is_refused_by_the_cli(
    store_config: Config, tmp_path: Path, two_accounts: tuple[SimulatorThread, SimulatorThread]
) -> None:
    alice, bob = two_accounts
    await _trade_once(store_config, alice, ALICE)
    await _trade_once_elsewhere(bob)
    config_file = tmp_path / "bob.toml"
    config_file.write_text(f'[storage]\nurl = "{store_config.storage.url}"\n'
                           f'[exchange]\nurl = "{bob.url}"\nmarkets = ["spot"]\n')
    env = {**os.environ, "TRADEGUARD_API_KEY": BOB[0], "TRADEGUARD_API_SECRET": BOB[1]}

    def reconcile(*extra: str) -> tuple[int, dict[str, object]]:
        proc = subprocess.run([*TRADEGUARD, "reconcile", "--config", str(config_file), "--json",
                               *extra], capture_output=True, text=True, env=env, timeout=120,
                              check=False)
        return proc.returncode, json.loads(proc.stdout)

    fills_before = sum(isinstance(e, FillRecorded) for e in _journal(store_config))
    for extra in ((), ("--dry-run",)):
        code, out = reconcile(*extra)
        assert code == 2, out
        assert "--adopt-account" in str(out["error"])
    journal = _journal(store_config)
    assert sum(isinstance(e, FillRecorded) for e in journal) == fills_before
    assert not any(isinstance(e, OrderStateCorrected) for e in journal)

    code, out = reconcile("--adopt-account")
    assert code in (0, 1), out
    bound = [e for e in _journal(store_config) if isinstance(e, AccountBound)]
    assert len(bound) == 2
    assert bound[1].previous == f"binance:{bound[0].account}"
    assert "--adopt-account" in bound[1].note


async def test_run_against_another_account_is_refused_until_adopted(
    store_config: Config, tmp_path: Path, two_accounts: tuple[SimulatorThread, SimulatorThread]
) -> None:
    alice, bob = two_accounts
    await _trade_once(store_config, alice, ALICE)
    config_file = tmp_path / "bob.toml"
    config_file.write_text(f'[storage]\nurl = "{store_config.storage.url}"\n'
                           f'[exchange]\nurl = "{bob.url}"\nmarkets = ["spot"]\n')
    env = {**os.environ, "TRADEGUARD_API_KEY": BOB[0], "TRADEGUARD_API_SECRET": BOB[1]}

    def run(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*TRADEGUARD, "run", "--no-http", "--config", str(config_file),
                               "--duration", "1", "--json", *extra], capture_output=True,
                              text=True, env=env, timeout=120, check=False)

    refused = run()
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "--adopt-account" in json.loads(refused.stdout)["error"]
    assert not any(isinstance(e, FillRecorded) and e.client_order_id is None
                   for e in _journal(store_config))  # none of Bob's fills came in
    adopted = run("--adopt-account")
    assert adopted.returncode == 0, adopted.stdout + adopted.stderr
    bound = [e for e in _journal(store_config) if isinstance(e, AccountBound)]
    assert [b.previous for b in bound] == ["", f"binance:{bound[0].account}"]

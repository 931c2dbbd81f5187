"""Which exchange a session trades on: never real money unless both keys are given."""

from __future__ import annotations

import pytest

from tradeguard.config import Config, parse_config
from tradeguard.errors import ConfigError
from tradeguard.session.venue import open_venue

KEYS = {"TRADEGUARD_API_KEY": "k" * 64, "TRADEGUARD_API_SECRET": "s" * 64}


async def test_defaults_start_the_builtin_simulator() -> None:
    venue = await open_venue(Config(), environ={})
    try:
        assert venue.is_builtin_simulator
        assert venue.where.startswith("built-in simulator at http://127.0.0.1:")
        markets = await venue.gateway.load_markets()
        assert "BTC/USDT" in markets
    finally:
        await venue.aclose()


@pytest.mark.parametrize("env", [{}, {"TRADEGUARD_API_KEY": "only-the-key"}])
async def test_a_configured_url_without_both_keys_uses_the_demo_key(env: dict[str, str]) -> None:
    venue = await open_venue(parse_config('[exchange]\nurl = "http://127.0.0.1:9"\n'),
                             environ=env)
    try:
        assert venue.where == "simulator at http://127.0.0.1:9"
    finally:
        await venue.aclose()


async def test_only_both_keys_reach_the_real_exchange() -> None:
    venue = await open_venue(Config(), environ=KEYS)  # built, never called here
    try:
        assert venue.where == "binance LIVE exchange"
        assert not venue.is_builtin_simulator
    finally:
        await venue.aclose()


async def test_sandbox_without_keys_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"exchange\.sandbox is set but the API key variables"):
        await open_venue(parse_config("[exchange]\nsandbox = true\n"), environ={})

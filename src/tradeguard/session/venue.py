"""Which exchange a session trades on: one rule for the library and the command line.

The default is never a real-money exchange. In order:

1. an explicit simulator URL (``run``/``reconcile --exchange-url``): that simulator,
   with its documented demo key;
2. ``[exchange] url`` set: that server, with the keys from the environment variables
   ``exchange.api_key_env``/``api_secret_env`` when both are set, else the demo key;
3. both key variables set: the real exchange ``exchange.id`` (its testnet with
   ``exchange.sandbox``) — the only way to real money, and it takes both keys;
4. otherwise the built-in simulator, started in this process on a free 127.0.0.1 port
   (its state kept next to a SQLite store, so a restart finds the same exchange).

``exchange.sandbox`` without keys is a configuration error: a testnet needs keys too.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path

from tradeguard.config import Config, sqlite_dir
from tradeguard.errors import ConfigError
from tradeguard.exchange.ccxt_gateway import CcxtGateway
from tradeguard.logs import get_logger

__all__ = ["DEMO_KEY", "SIM_STATE_FILE", "Venue", "default_sim_state_path", "open_venue"]

_log = get_logger("tradeguard.session.venue")

DEMO_KEY = "demo"
"""The simulator's documented API key and secret (not a secret)."""

SIM_STATE_FILE = "simulator-state.json"
"""File name of the built-in simulator's state, inside the data directory."""


class Venue:
    """An opened gateway, where it points, and what closing it must also stop."""

    def __init__(self, gateway: CcxtGateway, where: str, stack: contextlib.AsyncExitStack) -> None:
        self.gateway = gateway
        self.where = where
        self._stack = stack

    @property
    def is_builtin_simulator(self) -> bool:
        """True when the gateway talks to a simulator started by ``open_venue``."""
        return self.where.startswith("built-in simulator")

    async def aclose(self) -> None:
        """Close the gateway, then stop the built-in simulator (if one was started)."""
        await self._stack.aclose()


def default_sim_state_path(store_url: str) -> Path | None:
    """Where the built-in simulator keeps its state for the store at ``store_url``.

    Next to a SQLite store (``<data dir>/simulator-state.json``); None for other stores
    (the simulator then starts fresh every time).
    """
    if "://" in store_url and not store_url.startswith("sqlite"):
        return None
    return sqlite_dir(store_url) / SIM_STATE_FILE


async def open_venue(
    config: Config,
    *,
    exchange_url: str | None = None,
    sim_state_path: Path | None = None,
    seed: int = 0,
    environ: Mapping[str, str] | None = None,
) -> Venue:
    """Open the gateway the rules above choose (see the module docstring)."""
    env = os.environ if environ is None else environ
    cfg = config.exchange
    has_keys = bool(env.get(cfg.api_key_env) and env.get(cfg.api_secret_env))
    stack = contextlib.AsyncExitStack()
    try:
        if exchange_url is None and has_keys:
            gateway = CcxtGateway.from_config(cfg, environ=env)
            if cfg.url:
                where = f"{cfg.id} at {cfg.url}"
            else:
                where = f"{cfg.id} {'testnet' if cfg.sandbox else 'LIVE exchange'}"
        else:
            if exchange_url is None and not cfg.url and cfg.sandbox:
                raise ConfigError(
                    f"exchange.sandbox is set but the API key variables {cfg.api_key_env} "
                    f"and {cfg.api_secret_env} are not: a testnet needs its own keys (or "
                    "leave exchange.sandbox unset to trade on the built-in simulator)"
                )
            url = exchange_url or cfg.url
            if url:
                where = f"simulator at {url}"
            else:
                from tradeguard.sim import SimulatorConfig, start_simulator

                handle = await start_simulator(
                    SimulatorConfig(
                        port=0,
                        seed=seed,
                        state_path=str(sim_state_path) if sim_state_path else "",
                    )
                )
                stack.push_async_callback(handle.stop)
                url = handle.url
                where = f"built-in simulator at {url}"
            gateway = CcxtGateway(
                "binance",
                api_key=DEMO_KEY,
                secret=DEMO_KEY,
                url_override=url,
                markets=("spot",),
                timeout_ms=cfg.timeout_ms,
            )
        stack.push_async_callback(gateway.close)
    except BaseException:
        await stack.aclose()
        raise
    _log.info("exchange chosen", where=where)
    return Venue(gateway, where, stack)

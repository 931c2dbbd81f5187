"""Configuration of the exchange connection (the ``[exchange]`` table of the config file).

Secrets never appear here: the struct holds the *names* of the environment variables
that hold the API key and secret, so a config file or a repr can be shown safely.
"""

from __future__ import annotations

import msgspec

__all__ = ["ExchangeConfig"]


class ExchangeConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """How to reach one exchange through ccxt.

    ``url`` non-empty points every API of the ccxt class at that base URL (the
    simulator: ``http://127.0.0.1:PORT``); empty means the exchange's real endpoints
    (or its testnet with ``sandbox``). ``rate_limit_per_s`` 0 turns pacing off; None
    means "the exchange's own rate" for real endpoints and off for a URL override.
    """

    id: str = "binance"
    url: str = ""
    api_key_env: str = "TRADEGUARD_API_KEY"
    api_secret_env: str = "TRADEGUARD_API_SECRET"  # noqa: S105 -- a variable name
    sandbox: bool = False
    markets: tuple[str, ...] = ("spot", "linear")
    timeout_ms: int = 10_000
    rate_limit_per_s: float | None = None
    rate_limit_burst: int = 10
    page_limit: int = 500

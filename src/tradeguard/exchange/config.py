"""Configuration of the exchange connection (the ``[exchange]`` table of the config file).

Secrets never appear here: the struct holds the *names* of the environment variables
that hold the API key and secret, so a config file or a repr can be shown safely.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import msgspec

from tradeguard.errors import ConfigError

__all__ = ["ExchangeConfig", "check_exchange_url", "exchange_url_problem"]


def exchange_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be an exchange base URL ("must ..."), or None when it can.

    Only ``http``/``https`` with a host (and a valid port if one is given); no
    credentials (they would end up in logs) and no blanks.
    """
    if not url or url != url.strip() or any(ch.isspace() for ch in url):
        return "must be an http:// or https:// URL without blanks"
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError for a port that is not 0-65535
    except ValueError as exc:
        return f"must be a valid URL ({exc})"
    if parts.scheme not in ("http", "https"):
        shown = f"scheme {parts.scheme!r}" if parts.scheme else "no scheme"
        return f"must be an http:// or https:// URL with a host ({shown})"
    if not parts.hostname:
        return "must be an http:// or https:// URL with a host (no host)"
    if parts.username is not None or parts.password is not None:
        return "must not carry credentials (keys come from environment variables)"
    if port == 0:
        return "must name a port other than 0"
    return None


def check_exchange_url(url: str, *, name: str) -> str:
    """``url`` unchanged if it is a usable exchange base URL, else ``ConfigError``
    naming ``name`` (the config key or command-line flag) and the value."""
    problem = exchange_url_problem(url)
    if problem is not None:
        raise ConfigError(f"{name} {problem}, got {url!r}")
    return url


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

    def __post_init__(self) -> None:
        # ValueError "exchange.url must ..." is how the config loader learns the key.
        if self.url:
            problem = exchange_url_problem(self.url)
            if problem is not None:
                raise ValueError(f"exchange.url {problem}, got {self.url!r}")

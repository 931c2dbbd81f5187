"""Building and opening the ccxt client the gateway drives: the settings that matter.

Kept apart from the gateway so each setting can carry its reason. Everything here is
about *how* ccxt sends requests: where (URL override, sandbox), how often it may
retry (never), what load_markets fetches, and aiohttp's own silent resend.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import ccxt.async_support as ccxt_async

from tradeguard.errors import ConfigError

__all__ = ["build_exchange", "open_session", "rewrite_urls"]


def rewrite_urls(urls: Any, base: str) -> Any:
    """Every URL in ccxt's (possibly nested) ``urls['api']`` moved onto ``base``.

    Scheme and host come from ``base`` (a path in ``base`` becomes a prefix); each
    URL keeps its own path and query, so ``/api/v3`` and ``/fapi/v1`` stay apart.
    """
    if isinstance(urls, dict):
        return {key: rewrite_urls(value, base) for key, value in urls.items()}
    if not isinstance(urls, str):
        return urls
    target = urlsplit(base)
    original = urlsplit(urls)
    path = target.path.rstrip("/") + original.path
    return urlunsplit((target.scheme, target.netloc, path, original.query, ""))


def build_exchange(
    exchange_id: str,
    *,
    api_key: str,
    secret: str,
    url_override: str | None,
    sandbox: bool,
    market_types: Sequence[str],
    timeout_ms: int,
) -> Any:
    """A ``ccxt.async_support`` exchange instance configured for tradeguard."""
    if url_override and sandbox:
        raise ConfigError("exchange.url and exchange.sandbox cannot both be set")
    exchange_class = getattr(ccxt_async, exchange_id, None)
    if exchange_id not in ccxt_async.exchanges or exchange_class is None:
        raise ConfigError(f"exchange.id {exchange_id!r} is not a ccxt exchange id")
    exchange = exchange_class(
        {
            "apiKey": api_key,
            "secret": secret,
            "timeout": timeout_ms,
            # ccxt's throttle queues every call through one task at rateLimit ms
            # spacing, halving throughput against the simulator; the gateway paces
            # with its own token bucket instead (pacing.py).
            "enableRateLimit": False,
        }
    )
    # Numbers as the exchange's own decimal text, never floats: a float carries ~15
    # significant digits, so 919925047.08470054 would arrive as 919925047.0847006.
    # ccxt's parsers do their arithmetic on strings (Precise) and only convert at the
    # end through ``exchange.number``, so ``str`` is its supported exact mode.
    exchange.number = str
    options = exchange.options
    options["maxRetriesOnFailure"] = 0  # a retried POST is how orders get duplicated
    options["fetchCurrencies"] = False  # else /sapi capital calls when keys are set
    options["fetchMargins"] = False  # else /sapi margin pair lists
    # Only the market types we trade: the default also loads inverse markets (dapi).
    options["fetchMarkets"] = {**(options.get("fetchMarkets") or {}), "types": list(market_types)}
    # Without a symbol ccxt raises a rate-limit "warning"; we ask on purpose.
    options["fetchOpenOrders"] = {
        **(options.get("fetchOpenOrders") or {}),
        "warnWithoutSymbol": False,
    }
    if url_override:
        exchange.urls["api"] = rewrite_urls(exchange.urls["api"], url_override)
    elif sandbox:
        # Replaces the URLs with the testnet's; never combined with an override.
        exchange.set_sandbox_mode(True)
    return exchange


def open_session(exchange: Any) -> None:
    """Open ccxt's HTTP session now (inside the running loop), without silent resends.

    aiohttp resends an idempotent request (GET, DELETE) once when a kept-alive
    connection drops. For ``DELETE /order`` that turns "canceled, answer lost" into
    "unknown order" on the resend; so every call is sent once, like a submit.
    """
    if exchange.session is None:
        exchange.open()
        session: Any = exchange.session
        if hasattr(session, "_retry_connection"):
            session._retry_connection = False

"""Real ccxt parsing of crafted Binance payloads, without a network.

``binance_parser()`` is the ccxt ``binance`` instance exactly as the gateway builds it
(``build_exchange``: string numbers, same options) with the recorded markets loaded,
so a raw Binance answer (the ``info`` of a recorded payload, edited) goes through
ccxt's own ``parse_order`` / ``parse_balance_custom`` and then tradeguard's parsers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tradeguard.exchange.ccxt_client import build_exchange

__all__ = ["PAYLOADS", "binance_parser", "load_payload"]

PAYLOADS = Path(__file__).parent / "payloads"


def load_payload(name: str) -> Any:
    """One recorded payload (tests/exchange/payloads/NAME.json)."""
    return json.loads((PAYLOADS / f"{name}.json").read_text())


def binance_parser() -> Any:
    """A ccxt binance client configured like the gateway's, markets from the payloads.

    It never sends anything (its URLs point at a closed loopback port).
    """
    exchange = build_exchange(
        "binance",
        api_key="parse-only",
        secret="parse-only",
        url_override="http://127.0.0.1:9",
        sandbox=False,
        market_types=("spot", "linear"),
        timeout_ms=1000,
    )
    exchange.set_markets(load_payload("markets"))
    return exchange

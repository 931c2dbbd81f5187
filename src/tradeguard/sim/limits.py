"""Request weights and rate limits, with the headers Binance sends about them.

Every answer carries ``X-MBX-USED-WEIGHT-1M``: the weight the client's requests used in
the current UTC minute, counted with Binance's published weight per endpoint (the main
ones; other endpoints weigh 1). The simulator's own limit (``rate_limit_per_s``, off by
default) counts requests per second and answers 429 with ``Retry-After`` in seconds.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping

__all__ = ["WEIGHT_HEADER", "RequestMeter", "request_weight"]

WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
_MINUTE_MS = 60_000

# (weight with a symbol, weight without one) per spot endpoint.
_SPOT = {
    "/api/v3/exchangeInfo": (20, 20), "/api/v3/trades": (25, 25),
    "/api/v3/aggTrades": (4, 4), "/api/v3/klines": (2, 2),
    "/api/v3/ticker/24hr": (2, 80), "/api/v3/ticker/price": (2, 4),
    "/api/v3/ticker/bookTicker": (2, 4), "/api/v3/account": (20, 20),
    "/api/v3/openOrders": (6, 80), "/api/v3/allOrders": (20, 20),
    "/api/v3/myTrades": (20, 20), "/sapi/v1/capital/config/getall": (10, 10),
}
_USDM = {
    "/fapi/v1/trades": (5, 5), "/fapi/v1/aggTrades": (20, 20),
    "/fapi/v1/ticker/24hr": (1, 40), "/fapi/v1/ticker/price": (1, 2),
    "/fapi/v2/ticker/price": (1, 2), "/fapi/v1/ticker/bookTicker": (2, 5),
    "/fapi/v2/account": (5, 5), "/fapi/v3/account": (5, 5),
    "/fapi/v2/balance": (5, 5), "/fapi/v3/balance": (5, 5),
    "/fapi/v2/positionRisk": (5, 5), "/fapi/v3/positionRisk": (5, 5),
    "/fapi/v1/openOrders": (1, 40), "/fapi/v1/allOrders": (5, 5),
    "/fapi/v1/userTrades": (5, 5),
}


def _depth_weight(path: str, limit: int) -> int:
    if path.startswith("/api/"):
        for top, weight in ((100, 5), (500, 25), (1000, 50)):
            if limit <= top:
                return weight
        return 250
    for top, weight in ((50, 2), (100, 5), (500, 10)):
        if limit <= top:
            return weight
    return 20


def _int_or(text: str | None, default: int) -> int:
    try:
        return int(text) if text else default
    except ValueError:
        return default


def request_weight(method: str, path: str, query: Mapping[str, str]) -> int:
    """The weight Binance counts for one request."""
    if path.endswith("/depth"):
        default = 100 if path.startswith("/api/") else 500
        return _depth_weight(path, _int_or(query.get("limit"), default))
    if path == "/fapi/v1/klines":
        limit = _int_or(query.get("limit"), 500)
        return 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10
    if path == "/api/v3/order" and method == "GET":
        return 4
    weights = _SPOT.get(path) or _USDM.get(path)
    if weights is None:
        return 1
    has_symbol = bool(query.get("symbol"))
    return weights[0] if has_symbol else weights[1]


class RequestMeter:
    """Weight used in the current minute, and the optional requests-per-second limit."""

    def __init__(self) -> None:
        self._minute = -1
        self.used_weight = 0
        self._window_start = 0.0
        self._window_count = 0

    def count(self, weight: int, now_ms: int) -> int:
        """Add one request's weight; returns the weight used this minute."""
        minute = now_ms // _MINUTE_MS
        if minute != self._minute:
            self._minute, self.used_weight = minute, 0
        self.used_weight += weight
        return self.used_weight

    def retry_after_s(self, rate_limit_per_s: int) -> int | None:
        """Seconds to wait when this request is over the per-second limit, else None."""
        if not rate_limit_per_s:
            return None
        now = time.monotonic()
        if now - self._window_start >= 1.0:
            self._window_start, self._window_count = now, 0
        self._window_count += 1
        if self._window_count <= rate_limit_per_s:
            return None
        return max(1, math.ceil(self._window_start + 1.0 - now))

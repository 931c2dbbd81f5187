"""Client-side request pacing: a small asyncio token bucket.

ccxt's own throttle (``enableRateLimit``) spaces *every* request by ``rateLimit`` ms
and queues them through one task; against the local simulator that alone halves
throughput, and against a real exchange it knows nothing of bursts. The gateway turns
it off and paces with this bucket instead: up to ``burst`` requests go out at once,
then ``rate_per_s`` a second on average. For the simulator pacing is off by default
(the simulator's own 429s, when configured, are the test of our handling).
"""

from __future__ import annotations

import asyncio
import time

from tradeguard.errors import ConfigError

__all__ = ["TokenBucket"]


class TokenBucket:
    """Allow ``burst`` requests at once and ``rate_per_s`` per second sustained.

    Waiters are served in arrival order (one lock), so a burst of submits cannot starve
    a read that came first. Uses the monotonic clock: wall-clock jumps do not matter.
    """

    def __init__(self, rate_per_s: float, burst: int = 1) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ConfigError(
                f"rate limit must be > 0 requests/s with burst >= 1, got {rate_per_s}/{burst}"
            )
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._tokens = float(burst)
        self._updated = time.monotonic()
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"TokenBucket(rate_per_s={self.rate_per_s}, burst={self.burst})"

    def _refill(self) -> None:
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate_per_s)
        self._updated = now

    def try_acquire(self) -> bool:
        """Take a token if one is available now, without waiting."""
        self._refill()
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

    async def acquire(self) -> None:
        """Wait until a request may be sent, then take its token."""
        async with self._lock:
            self._refill()
            if self._tokens < 1:
                await asyncio.sleep((1 - self._tokens) / self.rate_per_s)
                self._refill()
            # After the computed wait the bucket holds one token, give or take float
            # rounding; a balance a hair below zero is repaid by the next refill.
            self._tokens -= 1

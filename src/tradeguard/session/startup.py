"""Start-up exchange steps retried with backoff, then failed loudly.

``Session.open`` talks to the exchange before it trades: the account, the markets,
the start-up reconciliation. One bad answer there (a dropped connection, a garbled
payload the gateway refused) used to make ``run`` exit at once. Each of these steps
is now tried up to ``attempts`` times with exponential backoff; a step that still
fails raises one ``ExchangeError`` naming the step, the attempts and the last error.
Definite answers are not retried: a refused key cannot become valid by asking again.

The sleep is injected (``StartupRetry.sleep``), so tests retry without waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from tradeguard.errors import AuthenticationError, ExchangeError
from tradeguard.logs import get_logger

__all__ = ["StartupRetry"]

T = TypeVar("T")

_log = get_logger("tradeguard.session.startup")

# Answers that asking again cannot change.
_DEFINITE: tuple[type[ExchangeError], ...] = (AuthenticationError,)


@dataclass(frozen=True, kw_only=True)
class StartupRetry:
    """How ``Session.open`` retries its exchange steps.

    ``attempts`` tries in all (1 = no retry); the waits between them start at
    ``initial_backoff_seconds`` and double up to ``max_backoff_seconds`` (the defaults
    give 0.5 + 1 + 2 + 4 s over 5 tries). ``sleep`` is the seam tests replace.
    """

    attempts: int = 5
    initial_backoff_seconds: float = 0.5
    max_backoff_seconds: float = 8.0
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, compare=False)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("startup retry attempts must be >= 1")
        if self.initial_backoff_seconds < 0 or self.max_backoff_seconds < 0:
            raise ValueError("startup retry backoff must be >= 0")

    def backoff(self, failed_attempts: int) -> float:
        """The wait after the ``failed_attempts``-th failure (1-based)."""
        wait = self.initial_backoff_seconds * 2 ** (failed_attempts - 1)
        return float(min(wait, self.max_backoff_seconds))

    async def run(self, step: str, attempt: Callable[[], Awaitable[T]]) -> T:
        """``attempt()``'s result; retried on ``ExchangeError``, then raised as one."""
        for number in range(1, self.attempts + 1):
            try:
                return await attempt()
            except _DEFINITE:
                raise
            except ExchangeError as exc:
                if number == self.attempts:
                    raise ExchangeError(
                        f"start-up {step} failed {number} times; last error: {exc}"
                    ) from exc
                wait = self.backoff(number)
                _log.warning(
                    "start-up exchange step failed; retrying",
                    step=step,
                    attempt=number,
                    of=self.attempts,
                    retry_in_s=wait,
                    error=str(exc),
                )
                await self.sleep(wait)
        raise AssertionError("unreachable")  # the loop returns or raises

    async def until(
        self, step: str, attempt: Callable[[], Awaitable[T]], done: Callable[[T], bool]
    ) -> T:
        """Run ``attempt`` until ``done(result)``; the last result if it never is.

        For a step whose failure is a result, not an exception (a reconciliation
        that came back incomplete): after the last attempt the result is returned
        and logged at error level, so the caller reports it as not done.
        """
        result = await attempt()
        for number in range(1, self.attempts):
            if done(result):
                return result
            wait = self.backoff(number)
            _log.warning(
                "start-up exchange step incomplete; retrying",
                step=step,
                attempt=number,
                of=self.attempts,
                retry_in_s=wait,
            )
            await self.sleep(wait)
            result = await attempt()
        if not done(result):
            _log.error("start-up exchange step still incomplete", step=step, attempts=self.attempts)
        return result

"""Alert delivery that never blocks trading: a bounded queue and one worker task.

``AlertDispatcher.notify`` decides (policy) and enqueues without awaiting anything; a
full queue drops the alert (counted, logged), never raises. The worker sends through
apprise (its blocking ``notify`` runs in a thread) to every channel at once, so a
channel that hangs holds back no other; it retries with doubling backoff, and reports
every outcome through the injected ``on_result`` hook, which the runtime uses to
journal ``AlertSent`` / ``AlertFailed``. ``already_sent`` lets it skip an alert an
earlier run already delivered. A URL's credential never reaches a log or an error:
targets carry a masked label, and secret URLs are registered with the log redactor.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Final

from tradeguard.alerts.config import (
    AlertsConfig,
    AlertTarget,
    register_url_secret,
    resolve_targets,
)
from tradeguard.alerts.policy import Alert, AlertPolicy, Decision
from tradeguard.errors import AlertSendError
from tradeguard.logs import get_logger

__all__ = [
    "AlertDispatcher",
    "AlertSendError",
    "AlertStats",
    "AlreadySent",
    "ResultHook",
    "Sender",
    "TargetResult",
    "apprise_sender",
    "deliver",
    "register_target_secrets",
]

_log = get_logger("tradeguard.alerts")

ResultHook = Callable[[Alert, bool, str], Awaitable[None] | None]
"""``on_result(alert, ok, error)``: called once per delivered (or failed) alert."""

AlreadySent = Callable[[str, int], bool]
"""``already_sent(key, ts_ns)``: True when the journal shows this alert was sent."""

Sender = Callable[[AlertTarget, Alert, float], Awaitable[None]]
"""Sends one alert to one target within a timeout; raises ``AlertSendError`` (whose
message must not contain the URL) when the channel did not take it."""

_DEFAULT_QUEUE: Final = 256
_SEND_THREADS: Final = 8


@dataclass(frozen=True, slots=True)
class TargetResult:
    """The outcome of one alert on one channel (``target`` is the masked label)."""

    target: str
    ok: bool
    attempts: int
    error: str = ""


@dataclass(slots=True)
class AlertStats:
    """Counters for metrics and status: sends, failures, drops and suppressions."""

    sent: int = 0
    failed: int = 0
    dropped: int = 0
    hook_errors: int = 0
    suppressed: Counter[str] = field(default_factory=Counter)


_APPRISE_CACHE: dict[str, Any] = {}
_EXECUTOR: list[ThreadPoolExecutor] = []


def _executor() -> ThreadPoolExecutor:
    # Alerts' own threads, not the loop's default executor: a receiver that hangs until
    # its timeout then never delays the session's to_thread work or the loop's shutdown.
    # One thread per channel sending at once (channels go concurrently), up to a bound.
    if not _EXECUTOR:
        _EXECUTOR.append(
            ThreadPoolExecutor(max_workers=_SEND_THREADS, thread_name_prefix="tg-alerts")
        )
    return _EXECUTOR[0]


async def apprise_sender(target: AlertTarget, alert: Alert, timeout_seconds: float) -> None:
    """Deliver ``alert`` to ``target`` with apprise (the blocking call runs in a thread)."""
    import apprise  # lazily: start-up time

    client = _APPRISE_CACHE.get(target.url)
    if client is None:
        client = apprise.Apprise()
        if not client.add(target.url):
            raise AlertSendError("not a valid apprise URL")
        _APPRISE_CACHE[target.url] = client
    notify_type = {
        "info": apprise.NotifyType.INFO,
        "warning": apprise.NotifyType.WARNING,
        "critical": apprise.NotifyType.FAILURE,
    }[alert.severity]
    call = functools.partial(
        client.notify,
        body=alert.body,
        title=alert.title,
        notify_type=notify_type,
        timeout=timeout_seconds,
    )
    try:
        result = await asyncio.get_running_loop().run_in_executor(_executor(), call)
    except Exception as exc:  # apprise or a plugin; its text may hold the URL
        raise AlertSendError(f"apprise raised {type(exc).__name__}") from exc
    if not result:
        status = getattr(getattr(result, "status", None), "name", "FAILURE")
        raise AlertSendError(f"delivery failed ({status.lower()})")


async def deliver(
    alert: Alert,
    targets: Sequence[AlertTarget],
    *,
    retry_attempts: int,
    retry_backoff_seconds: float,
    timeout_seconds: float,
    sender: Sender = apprise_sender,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> list[TargetResult]:
    """Send ``alert`` to every target at once, each retried ``retry_attempts`` times
    after a failure (backoff doubling from ``retry_backoff_seconds``); never raises.

    The channels go concurrently: one that hangs until its timeout (a webhook that
    accepts and never answers) does not hold the alert back from the others.
    """

    async def one(target: AlertTarget) -> TargetResult:
        error = ""
        attempts = 0
        for attempt in range(retry_attempts + 1):
            attempts = attempt + 1
            try:
                await sender(target, alert, timeout_seconds)
            except AlertSendError as exc:
                error = str(exc)
            except Exception as exc:  # noqa: BLE001 - a custom sender's bug must not stop the worker
                error = f"sender raised {type(exc).__name__}"
            else:
                error = ""
                break
            if attempt < retry_attempts:
                await sleep(retry_backoff_seconds * 2**attempt)
        return TargetResult(target=target.label, ok=not error, attempts=attempts, error=error)

    return list(await asyncio.gather(*(one(target) for target in targets)))


def register_target_secrets(targets: Sequence[AlertTarget]) -> None:
    """Mask secret URLs, and their credential parts, in every log line from now on."""
    for target in targets:
        if target.secret:
            register_url_secret(target.url)


class AlertDispatcher:
    """Queue and worker delivering alerts; ``notify`` is synchronous and never blocks.

    Use ``async with dispatcher:`` (or ``start``/``stop``) inside the running loop.
    """

    def __init__(
        self,
        targets: Sequence[AlertTarget],
        policy: AlertPolicy,
        *,
        on_result: ResultHook | None = None,
        already_sent: AlreadySent | None = None,
        retry_attempts: int = 3,
        retry_backoff_seconds: float = 2.0,
        timeout_seconds: float = 15.0,
        queue_size: int = _DEFAULT_QUEUE,
        clock_ns: Callable[[], int] = time.time_ns,
        sender: Sender = apprise_sender,
    ) -> None:
        self.targets = tuple(targets)
        self.policy = policy
        self.stats = AlertStats(suppressed=policy.suppressed)
        self._on_result = on_result
        self._already_sent = already_sent
        self._retry_attempts = retry_attempts
        self._backoff = retry_backoff_seconds
        self._timeout = timeout_seconds
        self._clock_ns = clock_ns
        self._sender = sender
        self._queue: asyncio.Queue[Alert] = asyncio.Queue(maxsize=queue_size)
        self._worker: asyncio.Task[None] | None = None
        register_target_secrets(self.targets)

    @classmethod
    def from_config(
        cls,
        config: AlertsConfig,
        environ: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> AlertDispatcher:
        """A dispatcher for ``[alerts]``; raises ``ConfigError`` for a bad URL or variable."""
        targets = resolve_targets(config, os.environ if environ is None else environ)
        policy = AlertPolicy(
            cooldown_seconds=config.cooldown_seconds,
            min_severity=config.min_severity,
            max_per_hour=config.max_per_hour,
        )
        kwargs.setdefault("retry_attempts", config.retry_attempts)
        kwargs.setdefault("retry_backoff_seconds", config.retry_backoff_seconds)
        kwargs.setdefault("timeout_seconds", config.timeout_seconds)
        return cls(targets, policy, **kwargs)

    # --- the caller's side: never awaits, never raises --------------------------------

    def notify(self, alert: Alert) -> Decision:
        """Decide and enqueue ``alert`` without awaiting; returns the decision.

        ``send`` is False (``reason`` None) when no channel is configured or the queue
        is full (counted in ``stats.dropped``); otherwise the policy's reason.
        """
        if not self.targets:
            return Decision(send=False, reason=None)
        try:
            if self._already_sent is not None and self._already_sent(alert.key, alert.ts_ns):
                return self.policy.suppress_already_sent(alert)
        except Exception as exc:  # noqa: BLE001 - a broken predicate must not reach the trading code
            self.stats.hook_errors += 1
            _log.warning("alert already_sent check failed", key=alert.key, error=type(exc).__name__)
        decision = self.policy.decide(alert, self._clock_ns())
        if not decision.send:
            _log.debug("alert suppressed", key=alert.key, reason=decision.reason)
            return decision
        try:
            self._queue.put_nowait(alert)
        except asyncio.QueueFull:
            self.stats.dropped += 1
            _log.warning(
                "alert dropped: delivery queue full", key=alert.key, queue_size=self._queue.maxsize
            )
            return Decision(send=False, reason=None)
        return decision

    # --- the worker ----------------------------------------------------------------------

    async def start(self) -> None:
        """Start the worker task (idempotent)."""
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._run(), name="tradeguard-alerts")

    @property
    def queued(self) -> int:
        """Alerts waiting for the worker."""
        return self._queue.qsize()

    async def drain(self) -> None:
        """Wait until every queued alert has been delivered or has failed."""
        await self._queue.join()

    async def stop(self, *, drain_seconds: float = 5.0) -> None:
        """Deliver what is queued for up to ``drain_seconds``, then stop the worker."""
        if self._worker is None:
            return
        try:
            await asyncio.wait_for(self._queue.join(), drain_seconds)
        except TimeoutError:
            _log.warning("alerts left undelivered at stop", queued=self._queue.qsize())
        self._worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._worker
        self._worker = None

    async def __aenter__(self) -> AlertDispatcher:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _run(self) -> None:
        while True:
            alert = await self._queue.get()
            try:
                await self._deliver_one(alert)
            except Exception as exc:  # noqa: BLE001 - never let one alert end the worker
                _log.error("alert worker error", key=alert.key, error=type(exc).__name__)
            finally:
                self._queue.task_done()

    async def _deliver_one(self, alert: Alert) -> None:
        results = await deliver(
            alert,
            self.targets,
            retry_attempts=self._retry_attempts,
            retry_backoff_seconds=self._backoff,
            timeout_seconds=self._timeout,
            sender=self._sender,
        )
        failures = [f"{r.target}: {r.error}" for r in results if not r.ok]
        ok = not failures
        error = "; ".join(failures)
        if ok:
            self.stats.sent += 1
            _log.info("alert sent", key=alert.key, severity=alert.severity, channels=len(results))
        else:
            self.stats.failed += 1
            _log.warning(
                "alert delivery failed", key=alert.key, severity=alert.severity, error=error
            )
        if self._on_result is None:
            return
        try:
            outcome = self._on_result(alert, ok, error)
            if inspect.isawaitable(outcome):
                await outcome
        except Exception as exc:  # noqa: BLE001 - the journal hook failing must not stop alerting
            self.stats.hook_errors += 1
            _log.error("alert result hook failed", key=alert.key, error=type(exc).__name__)

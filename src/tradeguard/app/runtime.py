"""The one running service: venue, durable core, Session, supervised jobs, signals.

``tradeguard run``, ``tradeguard chaos``'s trader and (next) the web server all run the
service through :class:`Runtime`; the command line only parses, calls it and prints::

    async with Runtime(config, store_url) as runtime:   # recover, reconcile, trade
        await runtime.wait(duration_s=None)              # until SIGINT/SIGTERM or failure
    runtime.raise_for_failure()                          # fenced / store failed: an error

Starting refuses (touching nothing) while another process runs the session; then it
opens the exchange by the library's one rule (``session.venue.open_venue``: the built-in
simulator unless an exchange is configured), starts the durable core
(:class:`~tradeguard.app.service.LocalService`) and the :class:`Session` on it. The
background jobs (``fills``, ``reconcile``, ``unknown``, ``strategy``, ``backup`` and any
job given to :meth:`Runtime.add_job`) report every pass into :attr:`Runtime.jobs`.
Two more jobs watch the service: ``health`` (one health round every
``health.interval_seconds``; the latest report is :attr:`Runtime.health`) and ``alerts``
(``[alerts]``: its channels are resolved first thing in ``start``, so a bad URL or an
unset variable fails before the exchange is asked or an order is sent).
SIGINT and SIGTERM ask for a clean stop; closing stops the jobs, the session, the
gateway and the simulator, in that order. A session that is fenced or whose store fails
stops the run too: :attr:`Runtime.exit_code` is then non-zero and
:meth:`Runtime.raise_for_failure` raises ``StaleEpochError`` or ``StoreFailedError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType

from tradeguard.app.alerts_job import AlertsJob
from tradeguard.app.endpoint_file import publish_endpoint, withdraw_endpoint
from tradeguard.app.health_job import HealthJob
from tradeguard.app.jobs import JobFn, JobStatus, JobTable, supervise
from tradeguard.app.metrics_feed import ServiceReading, attach_metrics, attach_session_metrics
from tradeguard.app.service import LocalService, ensure_store_not_running
from tradeguard.app.startup_progress import StartupTracker
from tradeguard.app.web_view import RuntimeView
from tradeguard.config import Config
from tradeguard.errors import ConfigError, StaleEpochError, StoreFailedError, TradeguardError
from tradeguard.health.monitor import HealthReport
from tradeguard.logs import get_logger
from tradeguard.metrics.registry import StateReading, TradeguardMetrics
from tradeguard.session import Session, SessionSettings
from tradeguard.session.ports import describe_store_failure
from tradeguard.session.venue import Venue, open_venue
from tradeguard.storage.url import sqlite_data_dir
from tradeguard.strategies import load_strategy
from tradeguard.strategies.base import Strategy
from tradeguard.web.config import HttpSettings
from tradeguard.web.server import HttpServer, is_loopback

__all__ = ["EXIT_FAILED", "EXIT_OK", "SESSION_JOBS", "Runtime"]

_log = get_logger("tradeguard.app")

EXIT_OK = 0
EXIT_FAILED = 2
"""Exit code of a run that stopped because it was fenced or its store failed (the
command line's exit code for every tradeguard error)."""

SESSION_JOBS = (
    "fills", "reconcile", "unknown", "strategy", "backup", "health", "alerts", "marks",
)
"""The jobs every running service has (``strategy`` only with a strategy; ``marks``
refreshes the dashboard's mark prices and samples its charts)."""

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Runtime:
    """The running service. Use ``async with Runtime(...)`` (or ``start``/``close``).

    ``strategy`` defaults to the config's ``[strategy]``; ``settings`` to its
    ``[session]``. ``handle_signals`` False leaves SIGINT/SIGTERM alone (an embedding
    program that has its own). ``sim_state_path`` keeps the built-in simulator's state
    across runs (None: a fresh simulator every run). ``environ`` is where
    ``alerts.urls_env`` names are looked up (default: the process environment).
    """

    def __init__(
        self,
        config: Config,
        store_url: str,
        *,
        exchange_url: str | None = None,
        strategy: Strategy | None = None,
        settings: SessionSettings | None = None,
        backup_dir: Path | None = None,
        sim_state_path: Path | None = None,
        seed: int = 0,
        adopt_account: bool = False,
        handle_signals: bool = True,
        environ: Mapping[str, str] | None = None,
        http: HttpSettings | None = None,
        on_http_ready: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config
        self.store_url = store_url
        self.jobs = JobTable()
        self._exchange_url = exchange_url
        self._strategy = strategy
        self._settings = settings
        self._backup_dir = backup_dir
        self._sim_state_path = sim_state_path
        self._seed = seed
        self._adopt_account = adopt_account
        self._handle_signals = handle_signals
        self._signals_installed = False
        self._stop = asyncio.Event()
        self._stopping_jobs = asyncio.Event()
        self._extra: dict[str, tuple[JobFn, float]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._venue: Venue | None = None
        self._where = "(not started)"
        self._service: LocalService | None = None
        self._session: Session | None = None
        self._failure: BaseException | None = None
        self.started_monotonic: float | None = None
        self._environ = environ
        self._alerts: AlertsJob | None = None
        self._health: HealthJob | None = None
        self.http_settings = http if http is not None else config.http
        self._on_http_ready = on_http_ready
        self._http: HttpServer | None = None
        self._metrics: TradeguardMetrics | None = None
        self._reading: ServiceReading | None = None
        self.startup_progress = StartupTracker()
        self.view = RuntimeView(self)

    # --- what it runs ------------------------------------------------------------------

    @property
    def session(self) -> Session:
        """The open session (after ``start``)."""
        if self._session is None:
            raise RuntimeError("the runtime is not started")
        return self._session

    @property
    def service(self) -> LocalService:
        """The durable core the session writes through (after ``start``)."""
        if self._service is None:
            raise RuntimeError("the runtime is not started")
        return self._service

    @property
    def health(self) -> HealthReport | None:
        """The latest health round's report (None before the first round)."""
        return None if self._health is None else self._health.report

    @property
    def alerts(self) -> AlertsJob | None:
        """The alerts job (after ``start``)."""
        return self._alerts

    @property
    def metrics(self) -> TradeguardMetrics:
        """The service's Prometheus metrics (made at ``start``)."""
        if self._metrics is None:
            raise RuntimeError("the runtime is not started")
        return self._metrics

    @property
    def http_url(self) -> str | None:
        """``http://host:port`` of the dashboard and API while served, else None."""
        return None if self._http is None else self._http.base_url

    @property
    def where(self) -> str:
        """Which exchange it trades on, in words (after ``start``)."""
        return self._where

    def job_status(self, name: str) -> JobStatus | None:
        """One job's last run, success, error and duration (None: no such job)."""
        return self.jobs.status(name)

    def job_statuses(self) -> dict[str, JobStatus]:
        """Every job's status now, by name."""
        return self.jobs.snapshot()

    def add_job(self, name: str, run: JobFn, *, interval_s: float) -> None:
        """Run ``run`` every ``interval_s`` while the service runs, as job ``name``.

        Before ``start`` or after; a pass that raises is recorded in :attr:`jobs` and
        logged, never raised into the session. Names are unique.
        """
        if name in self._extra or name in SESSION_JOBS:
            raise ValueError(f"job {name!r} already exists")
        if interval_s <= 0:
            raise ValueError(f"job {name!r}: interval_s must be > 0, got {interval_s}")
        self._extra[name] = (run, interval_s)
        if self._session is not None:
            self._start_job(name, run, interval_s)

    # --- starting and stopping -----------------------------------------------------------

    async def start(self) -> None:
        """Refuse if the session runs elsewhere; open the exchange, the core, the session.

        Recovery, reconciliation and UNKNOWN resolution happen here (``Session.open``).
        Raises ``ConfigError`` for an alert channel that cannot be used, touching nothing.
        """
        self._alerts = AlertsJob(self.config, self._environ)
        token = self._http_token()
        self._metrics = TradeguardMetrics(self._metrics_reading)
        if self._handle_signals:
            self._install_signals()
        try:
            await self._open(token)
            await self._start_watchers()
        except BaseException as exc:
            self.startup_progress.failed(exc)  # the page says the start-up failed, and why
            await self._close_opened()
            self._remove_signals()
            raise
        self.started_monotonic = time.monotonic()
        for name, (run, interval_s) in self._extra.items():
            self._start_job(name, run, interval_s)

    def _http_token(self) -> str | None:
        """The write endpoints' token from ``[http] token_env`` (None: unset), checked
        before anything starts: a non-loopback address without one is refused."""
        settings = self.http_settings
        if not settings.enabled:
            return None
        import os

        environ = os.environ if self._environ is None else self._environ
        token = environ.get(settings.token_env) or None
        if token is None and not is_loopback(settings.host):
            raise ConfigError(
                f"[http] host = {settings.host!r} is not a loopback address and no token is "
                f"set: export {settings.token_env} (a long random secret), or bind "
                "127.0.0.1"
            )
        return token

    async def _start_http(self, token: str | None) -> None:
        settings = self.http_settings
        if not settings.enabled:
            return
        from tradeguard.web.app import build_app

        server = HttpServer(
            build_app(self.view, token=token, token_name=settings.token_name,
                      token_env=settings.token_env),
            host=settings.host, port=settings.port, allow_remote=token is not None,
            name="dashboard",
        )
        await server.start()
        self._http = server
        publish_endpoint(self.store_url, server.base_url, session_id=self.config.storage.session_id)
        if self._on_http_ready is not None:
            self._on_http_ready(server.base_url)

    def _metrics_reading(self) -> StateReading | None:
        if self._session is None or self._reading is None:
            return None
        return self._reading()

    async def _open(self, token: str | None) -> None:
        cfg = self.config
        strategy = self._strategy or load_strategy(cfg.strategy.class_, **cfg.strategy.params)
        # Before the simulator starts or the exchange is asked: a second run would fence
        # the first.
        await asyncio.to_thread(
            ensure_store_not_running, self.store_url, session_id=cfg.storage.session_id,
            what="starting a second run of the session",
        )
        # Before recovery: the dashboard shows the start-up as it happens.
        await self._start_http(token)
        # The library's one rule of which exchange (never real money by default).
        self._venue = await open_venue(
            cfg, exchange_url=self._exchange_url, sim_state_path=self._sim_state_path,
            seed=self._seed,
        )
        self._where = self._venue.where
        for name in SESSION_JOBS:
            self.jobs.register(name)
        self._service = await LocalService.start(
            cfg, self.store_url, backup_dir=self._backup_dir, jobs=self.jobs,
            progress=self.startup_progress.on_recovery,
        )
        self._reading = attach_metrics(self.metrics, self._service)
        self.view.hub.attach(self._service)
        self._session = await Session.open(
            cfg,
            gateway=self._venue.gateway,
            strategy=strategy,
            data_url=self.store_url,
            settings=self._settings or cfg.session,
            backup_dir=self._backup_dir,
            adopt_account=self._adopt_account,
            service=self._service,
            jobs=self.jobs,
            progress=self.startup_progress,
        )
        attach_session_metrics(self.metrics, self._session)

    async def _start_watchers(self) -> None:
        """The alerts (reading back what earlier runs sent) and the health rounds."""
        assert self._alerts is not None
        service, session = self.service, self.session
        await self._alerts.attach(service, session.startup)
        self._health = HealthJob(
            service=service, gateway=session.gateway, thresholds=self.config.health,
            data_dir=sqlite_data_dir(self.store_url), on_change=self._alerts.on_health_change,
            on_report=lambda report: self.metrics.observe_health(report.checks),
            last_reconcile=session.last_reconcile,
        )
        await self._health.start()
        interval = self.config.health.interval_seconds
        # The first round soon after the start (the page and /api/health show it), then
        # one every interval.
        self._start_job("health", self._health.run, interval, first_after_s=min(interval, 1.0))
        self._start_job("alerts", self._alerts.run, min(interval, 5.0))
        for name, (run, every_s) in self.view.read_jobs().items():
            self._start_job(name, run, every_s)

    def request_stop(self) -> None:
        """Ask for a clean stop (what SIGINT and SIGTERM do); ``wait`` returns."""
        self._stop.set()

    @property
    def stop_requested(self) -> bool:
        """A stop was asked for (signal or ``request_stop``)."""
        return self._stop.is_set()

    async def wait(
        self, duration_s: float | None = None, *, refresh: Callable[[], None] | None = None,
        refresh_every_s: float = 0.5,
    ) -> None:
        """Until a stop request, ``duration_s``, or the session stopping for good.

        ``refresh`` (the live table) is called every ``refresh_every_s``.
        """
        session = self.session
        deadline = None if duration_s is None else time.monotonic() + duration_s
        while not self._stop.is_set() and session.failure is None:
            timeout = refresh_every_s if deadline is None else min(
                refresh_every_s, max(deadline - time.monotonic(), 0)
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout)
            if refresh is not None:
                refresh()
            if deadline is not None and time.monotonic() >= deadline:
                return

    async def close(self) -> None:
        """Clean shutdown: the added jobs, the session (its loops, the durable core), the
        gateway and the built-in simulator. Records why it stopped (``failure``)."""
        try:
            await self._close_opened()
        finally:
            self._remove_signals()

    async def _close_opened(self) -> None:
        self._stopping_jobs.set()
        self.view.hub.close()  # the event streams end; the HTTP server can stop quickly
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self._tasks = []
        await self._stop_watchers()
        try:
            if self._session is not None:
                await self._session.close()
                self._failure = self._session.failure
            elif self._service is not None:
                await self._service.close()
                self._failure = self._service.failure
        finally:
            try:
                if self._venue is not None:
                    venue, self._venue = self._venue, None
                    await venue.aclose()
            finally:
                if self._http is not None:
                    server, self._http = self._http, None
                    withdraw_endpoint(self.store_url)  # `tradeguard resolve` stops using it
                    await server.stop()

    async def __aenter__(self) -> Runtime:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # --- how it ended --------------------------------------------------------------------

    @property
    def failure(self) -> BaseException | None:
        """Why the session stopped trading for good (fenced, store failed), or None."""
        if self._session is not None and self._session.failure is not None:
            return self._session.failure
        return self._failure

    @property
    def exit_code(self) -> int:
        """0 after a clean stop; :data:`EXIT_FAILED` when fenced or the store failed."""
        return EXIT_OK if self.failure is None else EXIT_FAILED

    def raise_for_failure(self) -> None:
        """Raise ``StaleEpochError`` (fenced) or ``StoreFailedError`` if the run failed.

        Not a clean stop: whoever runs the service exits non-zero so a supervisor
        restarts it (or a person looks for the other writer).
        """
        failure = self.failure
        if failure is None:
            return
        error: type[TradeguardError] = (
            StaleEpochError if isinstance(failure, StaleEpochError) else StoreFailedError
        )
        raise error(describe_store_failure(failure)) from failure

    # --- internals -----------------------------------------------------------------------

    async def _stop_watchers(self) -> None:
        # Before the session closes: the last alerts (fenced, poisoned) are journaled
        # while the core is still open (when it still can write).
        if self._health is not None:
            await self._health.stop()
        if self._alerts is None:
            return
        failure = self.failure
        if failure is not None:
            self._alerts.store_failed(failure, time.time_ns())
        await self._alerts.stop()

    def _start_job(
        self, name: str, run: JobFn, interval_s: float, *, first_after_s: float | None = None
    ) -> None:
        self._tasks.append(asyncio.create_task(
            supervise(self.jobs, name, run, interval_s=interval_s,
                      stopping=self._stopping_jobs, first_after_s=first_after_s),
            name=f"runtime-{name}",
        ))

    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in _STOP_SIGNALS:
            loop.add_signal_handler(sig, self.request_stop)
        self._signals_installed = True

    def _remove_signals(self) -> None:
        if not self._signals_installed:
            return
        loop = asyncio.get_running_loop()
        for sig in _STOP_SIGNALS:
            loop.remove_signal_handler(sig)
        self._signals_installed = False
        _log.debug("signal handlers removed")

"""``Session``: the library's main surface. Recover, reconcile, resolve, then trade.

``await Session.open(config)`` runs, in order: local recovery (the durable core, a
``SessionJournalPort``: the app's ``LocalService`` by default), the exchange gateway
and its markets (``InstrumentRegistered`` for the traded symbols),
a startup reconciliation, UNKNOWN resolution, the replay of fills missed while down,
and trade recovery (re-sent cancels, resubmits the strategy asks for, prioritised);
only then does it accept orders. While open, background tasks poll fills and order
status, reconcile every ``reconcile.interval_seconds``, resolve UNKNOWN orders with
backoff and tick the strategy. ``close()`` stops all that and shuts down cleanly.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from tradeguard.config import Config
from tradeguard.domain.balances import Balance
from tradeguard.domain.enums import OrderStatus, OrderType, Side
from tradeguard.domain.events import AnyEvent, InstrumentRegistered
from tradeguard.domain.flags import Flag
from tradeguard.domain.ids import Asset, ClientOrderId, FlagId, Symbol
from tradeguard.domain.orders import Order
from tradeguard.domain.positions import Position
from tradeguard.domain.state import SessionState
from tradeguard.errors import (
    DomainError,
    ExchangeError,
    OrderBlockedError,
    StoreFailedError,
    TradeguardError,
)
from tradeguard.exchange.gateway import ExchangeGateway
from tradeguard.exchange.reports import MarketInfo, TickerReport
from tradeguard.logs import get_logger
from tradeguard.session.account import bind_account
from tradeguard.session.config import SessionSettings, store_tag
from tradeguard.session.exchange_status import ExchangeStatus, TrackedGateway
from tradeguard.session.flag_actions import (
    FlagActionResult,
    carry_out_flag_action,
    flag_resolution,
)
from tradeguard.session.ingest import ingest_fills, poll_order_status
from tradeguard.session.orders import OrderSender
from tradeguard.session.ports import JobRecorder, SessionJournalPort, describe_store_failure
from tradeguard.session.reconciling import ReconcileStatus, run_reconcile
from tradeguard.session.recovery import (
    RecoveryAction,
    RecoveryActionResult,
    build_recovery_actions,
    prioritise,
)
from tradeguard.session.startup import (
    StartupObserver,
    StartupPhases,
    StartupRetry,
    action_result,
    describe_reconcile,
    describe_unknown,
)
from tradeguard.session.unknown import ResolveSummary, UnknownResolver
from tradeguard.strategies.base import Strategy

if TYPE_CHECKING:
    from tradeguard.session.venue import Venue

__all__ = ["Session", "StartupReport", "flag_resolution"]

_log = get_logger("tradeguard.session")

# How long close() lets a background loop finish its current pass before cancelling it.
_STOP_GRACE_S = 5.0


class StartupReport(msgspec.Struct, frozen=True, kw_only=True):
    """What ``Session.open`` did before it accepted orders."""

    unclean_shutdown: bool
    replayed_events: int
    reconcile: ReconcileStatus
    resolved: ResolveSummary
    fills_replayed: int
    recovery_actions: tuple[RecoveryAction, ...]
    recovery_errors: tuple[str, ...]
    duration_ms: float
    # Each action as it ran, in execution order: outcome, error, start and duration.
    action_results: tuple[RecoveryActionResult, ...] = ()


class Session:
    """A trading session: write-ahead orders on a recovered, reconciled state.

    Create with ``await Session.open(...)``; use as ``async with`` or call ``close()``.
    """

    def __init__(
        self,
        *,
        config: Config,
        settings: SessionSettings,
        service: SessionJournalPort,
        gateway: ExchangeGateway,
        owns_gateway: bool,
        strategy: Strategy | None,
        jobs: JobRecorder | None = None,
    ) -> None:
        self.config = config
        # Every pass of a background loop is reported here (the runtime's job table).
        self.jobs: JobRecorder = jobs or _NoJobs()
        self.settings = settings
        self.service = service
        # Every exchange call reports its outcome here: the live table and health checks
        # read whether the exchange answers, since when it does not, and the last error.
        self.exchange_status = ExchangeStatus()
        gateway = TrackedGateway(gateway, self.exchange_status)
        self.gateway = gateway
        self.strategy = strategy
        self._owns_gateway = owns_gateway
        # The exchange chosen by ``open`` when no gateway was given (closed with us).
        self.venue: Venue | None = None
        self.markets: Mapping[str, MarketInfo] = {}
        # How open() retries its exchange steps (markets, reconciliation).
        self.startup_retry = StartupRetry()
        # Who hears open()'s phases (the runtime's start-up tracker), if anyone.
        self.startup_phases = StartupPhases()
        self.in_flight: set[str] = set()
        self._fill_hint = asyncio.Event()
        first_ts_ns = service.first_event_ts_ns()
        self.prefix = settings.prefix_for(
            config.storage.session_id, store_tag(first_ts_ns) if first_ts_ns is not None else ""
        )
        self.sender = OrderSender(
            service, gateway, self.prefix, in_flight=self.in_flight, on_fill_hint=self._hint
        )
        self.resolver = UnknownResolver(service, gateway, settings, in_flight=self.in_flight)
        self._maintenance = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        # Set by close(): every background loop checks it and wakes on it, so stopping
        # never depends on cancellation reaching a task (3.11's wait_for can swallow it).
        self._stopping = asyncio.Event()
        self._closed = False
        self.startup: StartupReport | None = None
        self.last_reconcile: ReconcileStatus | None = None
        self.last_poll_error: str | None = None
        self.ticks = 0

    # --- opening ---------------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        config: Config,
        *,
        gateway: ExchangeGateway | None = None,
        strategy: Strategy | None = None,
        data_url: str | None = None,
        settings: SessionSettings | None = None,
        backup_dir: Path | None = None,
        background: bool = True,
        adopt_account: bool = False,
        startup_retry: StartupRetry | None = None,
        service: SessionJournalPort | None = None,
        jobs: JobRecorder | None = None,
        progress: StartupObserver | None = None,
    ) -> Session:
        """Recover, reconcile, resolve, recover trades; then start the background work.

        ``data_url`` overrides ``config.storage.url``. Without ``gateway`` the exchange
        is chosen by ``session.venue.open_venue``: never real money by default (no
        ``exchange.url`` and no API keys in the environment: the built-in simulator,
        started here and stopped by ``close``). ``settings`` default to the config's
        ``[session]`` table. ``background`` False starts no tasks (tests drive
        ``poll_once`` and friends). The store is bound to the gateway's exchange account
        at its first start; another account is refused (``ConfigError``) unless
        ``adopt_account`` (journaled; see ``session.account``). The exchange steps of
        opening are retried with backoff (``startup_retry``, default 5 tries), then a
        step that still fails raises ``ExchangeError`` naming it.

        ``service`` is the durable core to run on (the runtime opens it; closed by
        ``close``); without it the app's ``LocalService`` is started on the store.
        ``jobs`` hears every pass of the background loops (``fills``, ``reconcile``,
        ``unknown``, ``strategy``) and of the service's ``backup``. ``progress`` hears
        each phase of opening as it starts and ends (``session.startup``).
        """
        started = time.perf_counter()
        store_url = data_url or config.storage.url
        if service is None:
            # The one upward import of the session (tests/test_layers.py names it): the
            # library's ``Session.open(config)`` needs a default durable core. The runtime
            # passes its own and never takes this branch.
            from tradeguard.app.service import LocalService

            service = await LocalService.start(
                config, store_url, backup_dir=backup_dir, jobs=jobs,
                progress=None if progress is None else progress.on_recovery,
            )
        if progress is not None:
            progress.store_recovered(service.recovery)
        owns = gateway is None
        venue: Venue | None = None
        try:
            if gateway is None:
                from tradeguard.session.venue import default_sim_state_path, open_venue

                venue = await open_venue(
                    config, sim_state_path=default_sim_state_path(store_url)
                )
                gateway = venue.gateway
            session = cls(
                config=config,
                settings=settings or config.session,
                service=service,
                gateway=gateway,
                owns_gateway=owns,
                strategy=strategy,
                jobs=jobs,
            )
            session.venue = venue
            session.startup_retry = startup_retry or StartupRetry()
            session.startup_phases = StartupPhases(progress)
            # Before anything is fetched or journaled: whose exchange account is this?
            with session.startup_phases.phase("exchange account"):
                await bind_account(service, gateway, adopt=adopt_account)
            await session._recover(started)
        except BaseException:
            if venue is not None:
                await venue.aclose()
            await service.close()
            raise
        if strategy is not None:
            await strategy.on_start(session)
        if background:
            session.start_background()
        return session

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _traded_symbols(self) -> list[str]:
        wanted = list(self.settings.symbols)
        wanted.extend(getattr(self.strategy, "symbols", ()) or ())
        return list(dict.fromkeys(wanted))

    async def _register_instruments(self) -> None:
        self.markets = await self.startup_retry.run("load_markets", self.gateway.load_markets)
        events: list[AnyEvent] = []
        for symbol in self._traded_symbols():
            market = self.markets.get(symbol)
            if market is None:
                raise ExchangeError(f"symbol {symbol!r} is not listed by the exchange")
            known = self.state.instruments.get(Symbol(symbol))
            if known is not None and (known.kind, known.base, known.quote, known.settle) == (
                market.kind,
                market.base,
                market.quote,
                market.settle,
            ):
                continue
            events.append(
                InstrumentRegistered(
                    ts_ns=time.time_ns(),
                    symbol=market.symbol,
                    kind=market.kind,
                    base=market.base,
                    quote=market.quote,
                    settle=market.settle,
                )
            )
        if events:
            await self.service.append(events)

    async def _recover(self, started: float) -> None:
        phases = self.startup_phases
        with phases.phase("markets"):
            await self._register_instruments()
        # Reconciliation and the resolver both settle orders and replay fills; what
        # changed is measured on the state, whoever journaled it.
        unresolved = [o.client_order_id for o in self.state.unresolved_orders()]
        trades_before = self.state.fills_recorded
        async with self._maintenance:
            with phases.phase("reconcile") as phase:
                # Incomplete (a fetch failed): retried; still incomplete, reported so.
                self.last_reconcile = await self.startup_retry.until(
                    "reconciliation", self._reconcile, lambda status: status.complete
                )
                phase.finish(*describe_reconcile(self.last_reconcile))
            with phases.phase("resolve unknown", total=len(unresolved)) as phase:
                resolved = await self.resolver.resolve(force=True)
                phase.finish(*describe_unknown(unresolved, self.state))
            with phases.phase("replay fills") as phase:
                await self._poll_all()
                phase.finish("ok", f"{self.state.fills_recorded - trades_before} fills")
        fills = self.state.fills_recorded - trades_before
        not_placed = tuple(
            cid
            for cid in unresolved
            if (o := self.state.order(cid)) is not None and o.status is OrderStatus.NOT_PLACED
        )
        resolved = msgspec.structs.replace(resolved, not_placed=not_placed)
        decide = self.strategy.recovery_action if self.strategy is not None else _drop_everything
        actions = prioritise(
            build_recovery_actions(self.state, not_placed, decide),
            self.settings.recovery_priority,
        )
        with phases.phase("recovery actions", total=len(actions)) as phase:
            results = await self._execute_recovery(actions)
            errors = [r.error for r in results if r.error is not None]
            phase.finish(
                "incomplete" if errors else "ok",
                f"{len(results) - len(errors)} done, {len(errors)} failed",
            )
        rec = self.service.recovery
        self.startup = StartupReport(
            unclean_shutdown=rec.unclean_shutdown,
            replayed_events=rec.replayed_events,
            reconcile=self.last_reconcile,
            resolved=resolved,
            fills_replayed=fills,
            recovery_actions=tuple(actions),
            recovery_errors=tuple(errors),
            duration_ms=(time.perf_counter() - started) * 1000,
            action_results=tuple(results),
        )
        if phases.observer is not None:
            phases.observer.session_ready(self.startup)
        _log.info(
            "session ready",
            unclean_shutdown=rec.unclean_shutdown,
            fills_replayed=fills,
            not_placed=len(resolved.not_placed),
            recovery_actions=len(actions),
            still_unknown=resolved.still_unknown,
        )

    async def _execute_recovery(
        self, actions: list[RecoveryAction]
    ) -> list[RecoveryActionResult]:
        results: list[RecoveryActionResult] = []
        for action in actions:
            started_ns, started, error = time.time_ns(), time.perf_counter(), None
            try:
                if action.kind == "cancel":
                    await self.sender.cancel(action.client_order_id)
                else:
                    await self.sender.submit(
                        action.symbol,
                        action.side,
                        action.order_type,
                        action.amount,
                        action.price,
                        reduce_only=action.reduce_only,
                        trigger_price=action.trigger_price,
                    )
            except TradeguardError as exc:  # one failed step must not stop the others
                error = f"{action.kind} {action.client_order_id}: {exc}"
                _log.warning(
                    "recovery action failed",
                    action=action.kind,
                    client_order_id=action.client_order_id,
                    error=str(exc),
                )
            results.append(action_result(action, started_ns, started, error))
            if self.startup_phases.observer is not None:
                self.startup_phases.observer.action_finished(results[-1])
        return results

    # --- reads -----------------------------------------------------------------------

    @property
    def state(self) -> SessionState:
        """The live session state (read-only by convention)."""
        return self.service.state

    @property
    def orders(self) -> Mapping[ClientOrderId, Order]:
        """Every order of the session by client order id."""
        return self.state.orders

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        """Orders PENDING_SUBMIT, OPEN or PARTIALLY_FILLED (optionally of one symbol)."""
        return self.state.open_orders(symbol)

    @property
    def positions(self) -> Mapping[Symbol, Position]:
        """Positions by symbol, from our fills (and reconciliation's corrections)."""
        return self.state.positions

    @property
    def balances(self) -> Mapping[Asset, Balance]:
        """Balances by asset as last reported by the exchange."""
        return self.state.balances

    @property
    def flags(self) -> Mapping[FlagId, Flag]:
        """Every manual-intervention flag, open and resolved."""
        return self.state.flags

    def market(self, symbol: str) -> MarketInfo:
        """The exchange's filters for ``symbol`` (tick and step size, minimums)."""
        market = self.markets.get(symbol)
        if market is None:
            raise ExchangeError(f"symbol {symbol!r} is not listed by the exchange")
        return market

    async def ticker(self, symbol: str) -> TickerReport:
        """Best bid, ask and last price of ``symbol`` from the exchange."""
        return await self.gateway.fetch_ticker(symbol)

    # --- orders and flags --------------------------------------------------------------

    async def submit_order(
        self,
        symbol: str,
        side: Side | str,
        type: OrderType | str,
        amount: Decimal,
        price: Decimal | None = None,
        *,
        reduce_only: bool = False,
        trigger_price: Decimal | None = None,
    ) -> Order:
        """Place an order write-ahead; returns it after the exchange's answer.

        The returned order is OPEN (acknowledged), REJECTED, or UNKNOWN (ambiguous
        answer; the resolver settles it). Raises ``OrderBlockedError`` while an open
        flag blocks ``symbol``; nothing is journaled or sent then. A stop or take
        profit (``type`` ``stop_market``, ``stop_limit``, ``take_profit_market``,
        ``take_profit_limit``) needs ``trigger_price``; the gateway refuses the types
        the exchange does not take (REJECTED, nothing sent).
        """
        self._check_open()
        await self._register_symbol(symbol)
        return await self.sender.submit(
            symbol,
            Side(side),
            OrderType(type),
            amount,
            price,
            reduce_only=reduce_only,
            trigger_price=trigger_price,
        )

    async def cancel_order(self, client_order_id: str) -> Order:
        """Cancel one of our orders write-ahead; returns it after the exchange's answer."""
        self._check_open()
        return await self.sender.cancel(client_order_id)

    async def resolve_flag(
        self, flag_id: str, action: str, note: str = "", *, by: str = ""
    ) -> Flag:
        """Resolve a flag with one of its actions: carried out first, then journaled.

        An action on the exchange (cancel, adopt, ...) goes through this session's
        gateway (see ``session.flag_actions``); if it fails the flag stays open.
        ``by`` is who asked (journaled with the resolution).
        """
        return (await self.resolve_flag_steps(flag_id, action, note, by=by)).flag

    async def resolve_flag_steps(
        self, flag_id: str, action: str, note: str = "", *, by: str = ""
    ) -> FlagActionResult:
        """``resolve_flag``, returning what it did step by step as well."""
        self._check_open()
        async with self._maintenance:
            return await carry_out_flag_action(
                self.service, self.gateway, flag_id, action, note, in_flight=self.in_flight,
                by=by,
            )

    async def _register_symbol(self, symbol: str) -> None:
        if Symbol(symbol) in self.state.instruments:
            return
        market = self.markets.get(symbol)
        if market is None:
            raise DomainError(f"symbol {symbol!r} is not listed by the exchange")
        await self.service.append(
            [
                InstrumentRegistered(
                    ts_ns=time.time_ns(),
                    symbol=market.symbol,
                    kind=market.kind,
                    base=market.base,
                    quote=market.quote,
                    settle=market.settle,
                )
            ]
        )

    def _check_open(self) -> None:
        if self._closed:
            raise OrderBlockedError("the session is closed")
        if (failure := self.service.failure) is not None:
            raise StoreFailedError(
                f"the session stopped trading: {describe_store_failure(failure)}"
            )

    def _hint(self, symbol: str) -> None:
        self._fill_hint.set()

    # --- maintenance: one pass of each, and the loops ------------------------------------

    async def _pass(self, job: str, run: Callable[[], Awaitable[object]]) -> None:
        """One pass of background job ``job``, reported to ``jobs`` (then re-raised)."""
        self.jobs.started(job)
        try:
            await run()
        except BaseException as exc:
            self.jobs.finished(job, error=exc)
            raise
        self.jobs.finished(job)

    async def _poll_all(self) -> int:
        fills = 0
        for symbol in list(self.state.instruments):
            result = await ingest_fills(
                self.service, self.gateway, symbol, in_flight=self.in_flight
            )
            fills += result.fills
            await poll_order_status(self.service, self.gateway, symbol, in_flight=self.in_flight)
        return fills

    async def poll_once(self) -> int:
        """Ingest new fills and settle finished orders on every symbol; returns fills."""
        async with self._maintenance:
            return await self._poll_all()

    async def resolve_unknown_orders(self, *, force: bool = False) -> ResolveSummary:
        """One pass of UNKNOWN resolution (orders due per their backoff, or all)."""
        async with self._maintenance:
            return await self.resolver.resolve(force=force)

    async def _reconcile(self) -> ReconcileStatus:
        return await run_reconcile(
            self.service,
            self.gateway,
            self.config,
            unknown_grace_ns=int(self.settings.unknown_grace_seconds * 1_000_000_000),
        )

    async def reconcile_now(self, *, poll_first: bool = False) -> ReconcileStatus:
        """One reconciliation against the exchange, now (``poll_first``: after taking in
        the trades the poller has not reached yet, as the periodic runs do)."""
        if poll_first:
            return await self._periodic_reconcile()
        async with self._maintenance:
            self.last_reconcile = await self._reconcile()
            return self.last_reconcile

    def start_background(self) -> None:
        """Start polling, reconciliation, UNKNOWN resolution and the strategy's ticks."""
        if self._tasks:
            return
        loops: list[tuple[str, Callable[[], Coroutine[Any, Any, None]]]] = [
            ("poll", self._poll_loop),
            ("reconcile", self._reconcile_loop),
            ("resolve", self._resolve_loop),
        ]
        if self.strategy is not None:
            loops.append(("strategy", self._strategy_loop))
        loops.append(("store-watch", self._store_watch))
        self._tasks = [asyncio.create_task(fn(), name=f"session-{name}") for name, fn in loops]

    @property
    def failure(self) -> BaseException | None:
        """Why the session stopped trading for good (its store failed, or another
        writer fenced it), or None. Once set, nothing more is journaled or sent."""
        return self.service.failure

    async def _store_watch(self) -> None:
        """Stop every loop at once when the store fails or the session is fenced."""
        failed = asyncio.ensure_future(self.service.wait_failed())
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait([failed, stopping], return_when=asyncio.FIRST_COMPLETED)
        finally:
            failed.cancel()
            stopping.cancel()
        self._stopping.set()  # the service logged why, once; the loops end quietly

    async def _pause(self, seconds: float, wake: asyncio.Event | None = None) -> bool:
        """Sleep up to ``seconds``, cut short by close() or ``wake``; False once stopping.

        ``asyncio.wait`` (unlike 3.11's ``wait_for``) never swallows a cancellation.
        """
        events = [self._stopping] if wake is None else [self._stopping, wake]
        waiters = [asyncio.ensure_future(event.wait()) for event in events]
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        return not self._stopping.is_set()

    async def _poll_loop(self) -> None:
        while await self._pause(self.settings.poll_interval_seconds, self._fill_hint):
            self._fill_hint.clear()
            try:
                await self._pass("fills", self.poll_once)
                self.last_poll_error = None
            except TradeguardError as exc:
                if self.failure is not None:
                    return  # stopped for good; the service said why, once
                self.last_poll_error = f"{type(exc).__name__}: {exc}"
                _log.warning("fill/status poll failed; retrying", error=self.last_poll_error)

    async def _periodic_reconcile(self) -> ReconcileStatus:
        # Take in the trades the poller has not reached yet first: a fill that lands
        # between two polls is normal operation, not a discrepancy. A failed poll does
        # not stop the reconciliation (it fetches the same trades and says so).
        async with self._maintenance:
            try:
                await self._poll_all()
            except TradeguardError as exc:
                if self.failure is not None:
                    raise
                _log.warning("poll before reconciliation failed", error=str(exc))
            self.last_reconcile = await self._reconcile()
            return self.last_reconcile

    async def _reconcile_loop(self) -> None:
        while await self._pause(self.config.reconcile.interval_seconds):
            try:
                await self._pass("reconcile", self._periodic_reconcile)
            except TradeguardError as exc:
                if self.failure is not None:
                    return
                _log.error("reconciliation failed", error=str(exc))

    async def _resolve_loop(self) -> None:
        while True:
            due = self.resolver.next_due_in_s()
            if not await self._pause(
                self.settings.poll_interval_seconds
                if due is None
                else min(max(due, 0.05), self.settings.poll_interval_seconds)
            ):
                return
            try:
                # A pass with nothing pending is a pass too: the job is alive and current.
                await self._pass("unknown", self._resolve_pending)
            except TradeguardError as exc:
                if self.failure is not None:
                    return
                _log.warning("UNKNOWN resolution failed; retrying", error=str(exc))

    async def _resolve_pending(self) -> None:
        if self.resolver.pending():
            await self.resolve_unknown_orders()

    async def _strategy_loop(self) -> None:
        assert self.strategy is not None
        while not self._stopping.is_set():
            try:
                await self._pass("strategy", self._tick)
            except TradeguardError as exc:
                if self.failure is not None:
                    return
                _log.warning("strategy tick failed", error=str(exc), error_type=type(exc).__name__)
            except Exception as exc:  # noqa: BLE001 - a buggy strategy must not kill the session
                _log.error("strategy tick raised", error=repr(exc))
            self.ticks += 1
            await self._pause(self.settings.tick_interval_seconds)

    async def _tick(self) -> None:
        assert self.strategy is not None
        await self.strategy.on_tick(self)

    # --- closing ---------------------------------------------------------------------

    async def close(self) -> None:
        """Stop the background tasks, close the gateway (if ours) and shut down cleanly."""
        if self._closed:
            return
        self._closed = True
        await self._stop_background()
        try:
            if self.venue is not None:
                await self.venue.aclose()  # the gateway, and the built-in simulator
            elif self._owns_gateway:
                await self.gateway.close()
        finally:
            await self.service.close()

    async def _stop_background(self) -> None:
        """Stop every background loop within a bounded time.

        The loops see the stop event and finish the pass they are in (so a submit or a
        journal append in progress completes); one still busy after the grace period is
        cancelled, again and again, until it ends.
        """
        self._stopping.set()
        if not self._tasks:
            return
        _, pending = await asyncio.wait(self._tasks, timeout=_STOP_GRACE_S)
        while pending:
            for task in pending:
                task.cancel()
            _, pending = await asyncio.wait(pending, timeout=_STOP_GRACE_S)
            if pending:
                _log.warning(
                    "background task ignores cancellation; cancelling again",
                    tasks=[t.get_name() for t in pending],
                )
        for task in self._tasks:
            if not task.cancelled() and (exc := task.exception()) is not None:
                _log.error("background task failed", task=task.get_name(), error=repr(exc))


class _NoJobs:
    """The job recorder of a session nobody supervises: hears nothing."""

    def started(self, name: str) -> None:
        """Nothing to record."""

    def finished(self, name: str, *, error: BaseException | None = None) -> None:
        """Nothing to record."""


def _drop_everything(order: Order) -> Any:
    """Without a strategy nobody wants a not-placed order resubmitted."""
    return "drop"

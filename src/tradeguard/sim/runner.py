"""Starting and stopping the simulator: in a running event loop, or in its own thread."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

from aiohttp import web

from tradeguard.errors import SimulatorStartError
from tradeguard.sim.admin import AdminApi, engine_state
from tradeguard.sim.config import SimulatorConfig
from tradeguard.sim.engine import Engine
from tradeguard.sim.server import SimulatorServer

__all__ = ["SimulatorHandle", "SimulatorThread", "serve_until_signal", "start_simulator"]

T = TypeVar("T")


class SimulatorHandle:
    """A running simulator inside the current event loop."""

    def __init__(
        self, server: SimulatorServer, runner: web.AppRunner, url: str,
        ticker: asyncio.Task[None] | None,
    ) -> None:
        self.server = server
        self.url = url
        self._runner = runner
        self._ticker = ticker

    @property
    def engine(self) -> Engine:
        """The matching engine (ground truth); touch it only from the loop's thread."""
        return self.server.engine

    def state(self) -> dict[str, Any]:
        """The admin API's ground-truth state document."""
        return engine_state(self.server)

    async def stop(self) -> None:
        """Stop the price timer and the HTTP server, then save what is still unsaved."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        await self._runner.cleanup()
        self.server.save_state_if_dirty()


async def _tick_forever(server: SimulatorServer, interval_ms: int) -> None:
    while True:
        await asyncio.sleep(interval_ms / 1000)
        server.tick()


async def start_simulator(config: SimulatorConfig) -> SimulatorHandle:
    """Start the simulator's HTTP server (and its price timer) in the running loop.

    Raises :class:`SimulatorStartError` naming ``host:port`` when it cannot listen
    there (port taken, address not local, no permission).
    """
    server = SimulatorServer(config)
    server.admin = AdminApi(server)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port, reuse_address=True)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        # asyncio's own text repeats the address; the errno's text says it plainly.
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise SimulatorStartError(
            f"simulator cannot listen on {config.host}:{config.port}: {reason}"
        ) from exc
    # With port 0 the OS picks the port; the runner knows which one.
    port = int(runner.addresses[0][1])
    ticker = None
    if config.tick_interval_ms > 0:
        ticker = asyncio.create_task(_tick_forever(server, config.tick_interval_ms))
    return SimulatorHandle(server, runner, f"http://{config.host}:{port}", ticker)


async def serve_until_signal(
    config: SimulatorConfig,
    announce: Callable[[str], None],
    *,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve the simulator until SIGINT/SIGTERM (or ``stop`` is set), then stop it.

    ``announce`` is called with the base URL once it listens, before anything else:
    scripts and tests read that line to find the port.
    """
    handle = await start_simulator(config)
    announce(handle.url)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await handle.stop()


class SimulatorThread:
    """The simulator on its own event loop in a daemon thread, for sync code and tests.

    Use as a context manager; ``url`` and ``engine`` are valid inside it. Read or change
    engine state with :meth:`call` (runs in the simulator's thread) or :meth:`state`.
    """

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="tradeguard-sim")
        self._handle: SimulatorHandle | None = None

    @property
    def handle(self) -> SimulatorHandle:
        """The running simulator."""
        if self._handle is None:
            raise RuntimeError("the simulator thread is not started")
        return self._handle

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:PORT``."""
        return self.handle.url

    @property
    def engine(self) -> Engine:
        """The matching engine (ground truth); prefer :meth:`call` to change it."""
        return self.handle.engine

    @property
    def server(self) -> SimulatorServer:
        """The request handling layer (faults, clock skew, rate limit)."""
        return self.handle.server

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` in the simulator's thread and return its result."""
        async def run() -> T:
            return fn()
        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout=30)

    def state(self) -> dict[str, Any]:
        """The admin API's ground-truth state, read safely from the simulator's thread."""
        return self.call(self.handle.state)

    def start(self) -> SimulatorThread:
        """Start the thread and the server; returns self."""
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(start_simulator(self.config), self._loop)
        try:
            self._handle = future.result(timeout=30)
        except BaseException:
            # A simulator that cannot start (e.g. a corrupt state file) leaves no thread.
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server and the thread's loop."""
        if self._handle is not None:
            asyncio.run_coroutine_threadsafe(self._handle.stop(), self._loop).result(timeout=30)
            self._handle = None
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)
        if not self._loop.is_closed() and not self._loop.is_running():
            self._loop.close()

    def __enter__(self) -> SimulatorThread:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

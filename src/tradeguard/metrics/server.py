"""``/metrics`` over HTTP: a Starlette app and a uvicorn server inside the running loop.

:class:`MetricsServer` serves in the caller's asyncio loop (no thread, no process), so
the scrape reads the session's state on the loop that changes it: a scrape never sees
a half-applied event. It binds loopback by default; any other address needs
``allow_remote=True`` because the endpoint has no authentication yet (the token comes
with the dashboard). uvicorn's signal capture is switched off: the runtime owns SIGINT
and SIGTERM. starlette and uvicorn are imported when an app or server is made.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from typing import TYPE_CHECKING, Any, Final

from tradeguard.errors import ConfigError
from tradeguard.logs import get_logger
from tradeguard.metrics.registry import TradeguardMetrics

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "MetricsServer", "is_loopback", "metrics_app"]

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 8765
_GRACEFUL_STOP_SECONDS = 2

_log = get_logger(__name__)


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere


def metrics_app(metrics: TradeguardMetrics) -> Starlette:
    """A Starlette app serving ``GET /metrics`` (Prometheus text format) of ``metrics``."""
    from prometheus_client import CONTENT_TYPE_LATEST
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def scrape(request: Request) -> Response:
        # On the loop, not in a worker thread: the state provider reads live state.
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    return Starlette(routes=[Route("/metrics", scrape, methods=["GET"])])


class MetricsServer:
    """Serves ``/metrics`` of ``metrics`` on ``host:port`` inside the running loop.

    ``port`` 0 picks a free port; :attr:`port` is the bound one after :meth:`start`.
    A non-loopback ``host`` raises ``ConfigError`` unless ``allow_remote``. Use
    ``async with`` or ``start()`` / ``stop()``.
    """

    def __init__(
        self,
        metrics: TradeguardMetrics,
        *,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        allow_remote: bool = False,
    ) -> None:
        if not is_loopback(host) and not allow_remote:
            raise ConfigError(
                f"[http] host = {host!r} is not a loopback address and /metrics has no "
                "authentication yet: bind 127.0.0.1, or pass allow_remote=True to expose it"
            )
        if not 0 <= port <= 65535:
            raise ConfigError(f"[http] port = {port} is not a TCP port (0-65535)")
        self.metrics = metrics
        self.host = host
        self.port = port
        self._server: Any = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        """``http://host:port/metrics`` (the bound port once started)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    async def start(self) -> None:
        """Bind and start serving; returns once the server accepts connections."""
        if self._task is not None:
            raise RuntimeError("metrics server already started")
        import uvicorn

        sock = self._bind()
        self.port = sock.getsockname()[1]
        ready = asyncio.Event()

        class _Server(uvicorn.Server):
            # The runtime handles SIGINT/SIGTERM; uvicorn would replace its handlers.
            def capture_signals(self) -> Any:
                return contextlib.nullcontext()

            async def startup(self, sockets: list[socket.socket] | None = None) -> None:
                await super().startup(sockets)
                ready.set()

        config = uvicorn.Config(
            metrics_app(self.metrics),
            lifespan="off",
            log_config=None,  # never reconfigure the process's logging
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=_GRACEFUL_STOP_SECONDS,
        )
        self._server = _Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        waiter = asyncio.create_task(ready.wait())
        done, _ = await asyncio.wait({self._task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if self._task in done:
            waiter.cancel()
            failed = self._task
            self._task = None
            sock.close()
            error = failed.exception()
            raise ConfigError(f"metrics server on {self.host}:{self.port} did not start: "
                              f"{error or 'it exited at once'}")
        _log.info("metrics server listening", url=self.url)

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # proto IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted connections only
        # then, and without it a keep-alive scrape waits ~40 ms on delayed ACKs (the
        # headers and the body are two writes).
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host.strip("[]"), self.port))
        except OSError as exc:
            sock.close()
            raise ConfigError(
                f"[http] cannot listen on {self.host}:{self.port}: {exc.strerror or exc}"
            ) from exc
        sock.set_inheritable(True)
        return sock

    async def stop(self) -> None:
        """Stop accepting, let open scrapes finish (up to 2 s), and wait for the end."""
        task, self._task = self._task, None
        if task is None:
            return
        self._server.should_exit = True
        await task

    async def __aenter__(self) -> MetricsServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

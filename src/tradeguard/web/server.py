"""An ASGI app served by uvicorn inside the running asyncio loop.

:class:`HttpServer` serves in the caller's loop (no thread, no process), so a request
reads the session's state on the loop that changes it: it never sees a half-applied
event. It binds loopback unless told otherwise (whoever makes it decides whether a
non-loopback address is allowed: the runtime allows it only with a token). uvicorn's
signal capture is switched off (the runtime owns SIGINT and SIGTERM) and it never
reconfigures the process's logging. uvicorn is imported when a server starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from typing import Any

from tradeguard.errors import ConfigError
from tradeguard.logs import get_logger

__all__ = ["HttpServer", "is_loopback"]

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


class HttpServer:
    """Serves the ASGI ``app`` on ``host:port`` inside the running loop.

    ``port`` 0 picks a free port; :attr:`port` is the bound one after :meth:`start`.
    A non-loopback ``host`` raises ``ConfigError`` unless ``allow_remote`` (``why_not``
    says in the message what would allow it). Use ``async with`` or ``start``/``stop``.
    """

    def __init__(
        self,
        app: Any,
        *,
        host: str,
        port: int,
        allow_remote: bool = False,
        why_not: str = "pass allow_remote=True to expose it",
        name: str = "http server",
    ) -> None:
        if not is_loopback(host) and not allow_remote:
            raise ConfigError(
                f"[http] host = {host!r} is not a loopback address: bind 127.0.0.1, or "
                f"{why_not}"
            )
        if not 0 <= port <= 65535:
            raise ConfigError(f"[http] port = {port} is not a TCP port (0-65535)")
        self.app = app
        self.host = host
        self.port = port
        self.name = name
        self._server: Any = None
        self._task: asyncio.Task[None] | None = None

    @property
    def base_url(self) -> str:
        """``http://host:port`` (the bound port once started)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        """Bind and start serving; returns once the server accepts connections.

        ``ConfigError`` (naming the address) when it cannot listen.
        """
        if self._task is not None:
            raise RuntimeError(f"{self.name} already started")
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
            self.app,
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
            raise ConfigError(f"{self.name} on {self.host}:{self.port} did not start: "
                              f"{error or 'it exited at once'}")
        _log.info(f"{self.name} listening", url=self.base_url)

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # proto IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted connections only
        # then, and without it a keep-alive request waits ~40 ms on delayed ACKs (the
        # headers and the body are two writes).
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host.strip("[]"), self.port))
        except OSError as exc:
            sock.close()
            raise ConfigError(
                f"[http] cannot listen on {self.host}:{self.port}: {exc.strerror or exc} "
                "(set [http] port, or --http HOST:PORT / --no-http on tradeguard run)"
            ) from exc
        sock.set_inheritable(True)
        return sock

    async def stop(self) -> None:
        """Stop accepting, let open requests finish (up to 2 s; open event streams are
        closed), and wait for the end."""
        task, self._task = self._task, None
        if task is None:
            return
        self._server.should_exit = True
        await task

    async def __aenter__(self) -> HttpServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

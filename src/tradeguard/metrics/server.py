"""``/metrics`` over HTTP: a Starlette app and a uvicorn server inside the running loop.

:class:`MetricsServer` serves in the caller's asyncio loop (no thread, no process), so
the scrape reads the session's state on the loop that changes it: a scrape never sees
a half-applied event. It binds loopback by default; any other address needs
``allow_remote=True`` because the endpoint has no authentication yet (the token comes
with the dashboard). uvicorn's signal capture is switched off: the runtime owns SIGINT
and SIGTERM. starlette and uvicorn are imported when an app or server is made.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from tradeguard.metrics.registry import TradeguardMetrics
from tradeguard.web.server import HttpServer, is_loopback

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "MetricsServer", "is_loopback", "metrics_app"]

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 8765

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


class MetricsServer(HttpServer):
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
        super().__init__(
            metrics_app(metrics), host=host, port=port, allow_remote=allow_remote,
            why_not="pass allow_remote=True to expose it (/metrics has no authentication)",
            name="metrics server",
        )
        self.metrics = metrics

    @property
    def url(self) -> str:
        """``http://host:port/metrics`` (the bound port once started)."""
        return f"{self.base_url}/metrics"

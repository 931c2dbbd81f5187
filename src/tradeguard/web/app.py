"""The Starlette app of the running service: dashboard, API, ``/metrics``.

``build_app(view, token=..., token_name=...)`` puts together the read endpoints
(:mod:`tradeguard.web.api_read`), the write endpoints behind the bearer token
(:mod:`tradeguard.web.api_write`), ``/metrics`` and the dashboard
(:mod:`tradeguard.web.dashboard`). Every error is JSON (``web.responses``): a
tradeguard ``ServiceRequestError`` answers with its own status, an unknown path 404,
a wrong method 405, and anything unexpected 500 with the error logged (never a stack
trace in the answer). No CORS headers are sent: a page of another origin cannot read
the API, and the write endpoints need a header a form cannot send.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tradeguard.errors import ServiceRequestError
from tradeguard.logs import get_logger
from tradeguard.web.config import DEFAULT_TOKEN_ENV
from tradeguard.web.responses import error_response
from tradeguard.web.source import ServiceView

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = ["build_app"]

_log = get_logger(__name__)

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def build_app(
    view: ServiceView, *, token: str | None, token_name: str,
    token_env: str = DEFAULT_TOKEN_ENV,
) -> Starlette:
    """The app serving ``view``; write endpoints need ``token`` (None: they are off,
    and say to set the variable ``token_env``)."""
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from tradeguard.web.api_read import read_routes
    from tradeguard.web.api_write import write_routes
    from tradeguard.web.dashboard import dashboard_routes

    async def scrape(request: Request) -> Response:
        # On the loop, not in a worker thread: the state it reads is the live state.
        return Response(view.metrics(), media_type=PROMETHEUS_CONTENT_TYPE)

    async def service_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ServiceRequestError)
        return error_response(exc.http_status, _kind(exc), str(exc))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            message = f"no such endpoint: {request.method} {request.url.path}"
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
        else:
            message = str(exc.detail)
        return error_response(exc.status_code, "http", message)

    async def unexpected(request: Request, exc: Exception) -> Response:
        _log.error("http request failed", path=request.url.path, error=str(exc),
                   error_type=type(exc).__name__)
        return error_response(500, "internal", f"internal error: {type(exc).__name__}")

    routes = [
        *read_routes(view),
        *write_routes(view, token=token, token_name=token_name, token_env=token_env),
        Route("/metrics", scrape, methods=["GET"]),
        *dashboard_routes(),
    ]
    return Starlette(
        routes=routes,
        exception_handlers={
            ServiceRequestError: service_error,
            HTTPException: http_error,
            Exception: unexpected,
        },
    )


def _kind(exc: ServiceRequestError) -> str:
    """``NotFoundError`` -> ``not_found``."""
    name = type(exc).__name__.removesuffix("Error")
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")

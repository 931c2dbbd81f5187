"""The read endpoints (JSON, ``GET`` only) and the live event stream (SSE).

| endpoint | returns |
| --- | --- |
| ``/api/status`` | ``tradeguard status --json``, plus run, leader, pause, exchange, jobs |
| ``/api/health`` | the latest health round: ``status`` and ``checks`` |
| ``/api/orders?status=&symbol=`` | orders, newest first (``status``: ``open`` or a status) |
| ``/api/positions`` | positions with the mark price and unrealized PnL at it |
| ``/api/balances`` | balances per asset, valued at the marks |
| ``/api/reconciliations?limit=`` | recent reconciliation reports with their corrective events |
| ``/api/flags?all=`` | open flags (``all=true``: resolved ones too) with their actions |
| ``/api/journal?after=&limit=`` | journal records after a seq (default: the newest ``limit``) |
| ``/api/series`` | the charts' time series (equity, journal append p99) |
| ``/api/events`` | Server-Sent Events: journal, health, recovery, status, lagged |

Query parameters are checked here: an unknown parameter, a repeated one or a value of
the wrong kind is a 400 JSON error naming it, never a 500. Each handler runs on the
event loop (the view reads the live state there; store reads go to a thread).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from tradeguard.errors import InvalidRequestError
from tradeguard.web.responses import encode_json, json_response
from tradeguard.web.source import Json, LiveEvent, ServiceView

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

__all__ = ["SSE_COALESCE_S", "SSE_CONTENT_TYPE", "read_routes", "sse_frame"]

SSE_CONTENT_TYPE = "text/event-stream"
SSE_COALESCE_S = 0.05
"""How long the stream's writer lets events gather after the first before it writes
them all at once (a person never notices 50 ms; the session's loop does notice one
write per reader per event)."""
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")

Handler = Callable[["Request"], Awaitable["Response"]]


def sse_frame(name: str, data: Any) -> bytes:
    """One SSE event: ``event: <name>`` and one ``data:`` line of JSON (JSON text never
    holds a raw newline)."""
    return b"event: " + name.encode() + b"\ndata: " + encode_json(data) + b"\n\n"


class _FrameCache:
    """SSE frames of the last events, by the identity of their data: the hub hands the
    same object to every reader, so five readers cost one encoding, not five. Holds
    the data it keyed (an id is never reused while the entry lives)."""

    def __init__(self, size: int = 1024) -> None:
        self._size = size
        self._frames: dict[tuple[str, int], tuple[Json, bytes]] = {}

    def frame(self, name: str, data: Json) -> bytes:
        if name == "heartbeat":
            return b": heartbeat\n\n"
        key = (name, id(data))
        hit = self._frames.get(key)
        if hit is not None and hit[0] is data:
            return hit[1]
        encoded = sse_frame(name, data)
        if len(self._frames) >= self._size:
            del self._frames[next(iter(self._frames))]  # the oldest
        self._frames[key] = (data, encoded)
        return encoded


class _Query:
    """A request's query parameters, checked against the ones an endpoint takes."""

    def __init__(self, request: Request, *allowed: str) -> None:
        params = request.query_params
        unknown = sorted(set(params) - set(allowed))
        if unknown:
            takes = ", ".join(allowed) if allowed else "none"
            raise InvalidRequestError(
                f"unknown query parameter {unknown[0]!r} on {request.url.path} "
                f"(it takes: {takes})"
            )
        for name in params:
            if len(params.getlist(name)) > 1:
                raise InvalidRequestError(f"{name}: give it once, got it "
                                          f"{len(params.getlist(name))} times")
        self._params = params

    def text(self, name: str) -> str | None:
        value = self._params.get(name)
        return None if value is None or value == "" else value

    def integer(self, name: str, default: int) -> int:
        value = self._params.get(name)
        if value is None or value == "":
            return default
        try:
            return int(value, 10)
        except ValueError:
            raise InvalidRequestError(f"{name}: must be an integer, got {value!r}") from None

    def boolean(self, name: str, default: bool) -> bool:
        value = self._params.get(name)
        if value is None:
            return default
        lowered = value.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise InvalidRequestError(f"{name}: must be true or false, got {value!r}")


def read_routes(view: ServiceView) -> list[Any]:
    """Starlette routes of the read endpoints of ``view``."""
    from starlette.routing import Route

    def no_params(read: Callable[[], Any]) -> Callable[[Request], Awaitable[Response]]:
        """An endpoint that takes no query parameter (any one is a 400) and answers
        ``read()``."""

        async def endpoint(request: Request) -> Response:
            _Query(request)
            return json_response(read())

        return endpoint

    status, recovery, health = no_params(view.status), no_params(view.recovery), \
        no_params(view.health)
    positions, balances = no_params(view.positions), no_params(view.balances)

    async def orders(request: Request) -> Response:
        query = _Query(request, "status", "symbol")
        return json_response(view.orders(status=query.text("status"),
                                         symbol=query.text("symbol")))

    async def reconciliations(request: Request) -> Response:
        query = _Query(request, "limit")
        return json_response(await view.reconciliations(limit=query.integer("limit", 20)))

    async def flags(request: Request) -> Response:
        query = _Query(request, "all")
        return json_response(view.flags(include_resolved=query.boolean("all", False)))

    async def journal(request: Request) -> Response:
        query = _Query(request, "after", "limit")
        return json_response(await view.journal(after=query.integer("after", 0),
                                                limit=query.integer("limit", 100)))

    async def series(request: Request) -> Response:
        _Query(request)
        return json_response(view.series())

    frames = _FrameCache()

    async def events(request: Request) -> Response:
        from starlette.responses import StreamingResponse

        _Query(request)
        stream = view.live()
        # Optional on a live stream: everything already queued, without waiting. A burst
        # (an append's records) then goes out in one write, not one per event.
        take_ready: Callable[[], list[LiveEvent]] | None = getattr(stream, "take_ready", None)

        async def body() -> AsyncIterator[bytes]:
            try:
                yield b"retry: 2000\n\n"  # the browser reconnects after 2 s
                async for item in stream:
                    burst = [item]
                    if take_ready is not None:
                        if item[0] != "heartbeat":
                            # Let the rest of a burst arrive: one write per reader per
                            # window, whatever the session's rate.
                            await asyncio.sleep(SSE_COALESCE_S)
                        burst += take_ready()
                    yield b"".join(frames.frame(*event) for event in burst)
            finally:
                close = getattr(stream, "aclose", None)
                if close is not None:
                    await close()

        return StreamingResponse(
            body(), media_type=SSE_CONTENT_TYPE,
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    endpoints: list[tuple[str, Handler]] = [
        ("/api/status", status),
        ("/api/recovery", recovery),
        ("/api/health", health),
        ("/api/orders", orders),
        ("/api/positions", positions),
        ("/api/balances", balances),
        ("/api/reconciliations", reconciliations),
        ("/api/flags", flags),
        ("/api/journal", journal),
        ("/api/series", series),
        ("/api/events", events),
    ]
    return [Route(path, handler, methods=["GET"]) for path, handler in endpoints]

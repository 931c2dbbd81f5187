"""The write endpoints, behind ``Authorization: Bearer <token>`` (see ``web.auth``).

========================================  =============================================
``POST /api/flags/{id}/resolve``          ``{"action": ..., "note": ...}``: carry the
                                          action out, then journal the resolution
``POST /api/reconcile``                   one reconciliation now; its report
``POST /api/pause``                       stop new orders (cancels still go out);
                                          optional ``{"note": ...}``
``POST /api/resume``                      allow new orders again
========================================  =============================================

Each is journaled with who asked: the token's name (``[http] token_name``), never the
token. Pausing a paused session (or resuming a running one) answers 200 with the state
and ``"changed": false``, journaling nothing: a retried request is harmless. The token
is checked before the body is read. A body is a JSON object of at most 16 KiB with only
the fields named above (an unknown field is a 400, so a typo never passes silently);
an empty body is ``{}``. Without a configured token the endpoints answer 403 and say
how to turn them on.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final

from tradeguard.errors import InvalidRequestError
from tradeguard.web.auth import BearerAuth
from tradeguard.web.config import DEFAULT_TOKEN_ENV
from tradeguard.web.responses import error_response, json_response
from tradeguard.web.source import Json, ServiceView

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

__all__ = ["MAX_BODY_BYTES", "MAX_NOTE_CHARS", "write_routes"]

MAX_BODY_BYTES: Final = 16 * 1024
"""The largest request body a write endpoint reads (413 beyond)."""

MAX_NOTE_CHARS: Final = 2000
"""The longest note kept in the journal."""

_MAX_FLAG_ID_CHARS = 300


def write_routes(
    view: ServiceView, *, token: str | None, token_name: str,
    token_env: str = DEFAULT_TOKEN_ENV,
) -> list[Any]:
    """Starlette routes of the write endpoints; without ``token`` each answers 403."""
    from starlette.routing import Route

    auth = BearerAuth(token, name=token_name, token_env=token_env)

    def guarded(act: Callable[[Request, Json], Awaitable[Json]]) -> Callable[
        [Request], Awaitable[Response]
    ]:
        """The token first (before the body is read), then the body, then ``act``."""

        async def endpoint(request: Request) -> Response:
            if (refused := auth.refuse(request)) is not None:
                return refused
            body = await _read_body(request)
            if not isinstance(body, dict):
                return body
            return json_response(await act(request, body))

        return endpoint

    async def resolve_flag(request: Request, body: Json) -> Json:
        fields = _fields(body, required=("action",), optional=("note",))
        flag_id = request.path_params["flag_id"]
        if not 0 < len(flag_id) <= _MAX_FLAG_ID_CHARS:
            raise InvalidRequestError(
                f"flag id must be 1-{_MAX_FLAG_ID_CHARS} characters (see GET /api/flags)"
            )
        return await view.resolve_flag(
            flag_id, action=fields["action"], note=fields.get("note", ""), who=auth.name
        )

    async def reconcile(request: Request, body: Json) -> Json:
        _fields(body, required=(), optional=())
        return await view.reconcile_now(who=auth.name)

    async def pause(request: Request, body: Json) -> Json:
        fields = _fields(body, required=(), optional=("note",))
        return await view.pause(who=auth.name, note=fields.get("note", ""))

    async def resume(request: Request, body: Json) -> Json:
        fields = _fields(body, required=(), optional=("note",))
        return await view.resume(who=auth.name, note=fields.get("note", ""))

    return [
        Route("/api/flags/{flag_id:path}/resolve", guarded(resolve_flag), methods=["POST"]),
        Route("/api/reconcile", guarded(reconcile), methods=["POST"]),
        Route("/api/pause", guarded(pause), methods=["POST"]),
        Route("/api/resume", guarded(resume), methods=["POST"]),
    ]


async def _read_body(request: Request) -> Json | Response:
    """The body as a JSON object (empty: ``{}``), or the 4xx answer saying what is wrong."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
        return _too_large()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            return _too_large()
    if not body.strip():
        return {}
    try:
        data = json.loads(bytes(body))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequestError(f"the body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        got = "null" if data is None else type(data).__name__
        raise InvalidRequestError(f"the body must be a JSON object, got {got}")
    return data


def _too_large() -> Response:
    return error_response(
        413, "too_large", f"the body is larger than {MAX_BODY_BYTES} bytes"
    )


def _fields(body: Json, *, required: tuple[str, ...], optional: tuple[str, ...]) -> dict[str, str]:
    """``body``'s string fields, checked: required present, nothing unknown, sizes."""
    allowed = (*required, *optional)
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        names = ", ".join(repr(name) for name in unknown)
        expected = ", ".join(allowed) if allowed else "none (send {} or no body)"
        raise InvalidRequestError(f"unknown field(s) {names} in the body; allowed: {expected}")
    fields: dict[str, str] = {}
    for name in allowed:
        if name not in body:
            if name in required:
                raise InvalidRequestError(f"field {name!r} is required")
            continue
        value = body[name]
        if not isinstance(value, str):
            raise InvalidRequestError(
                f"field {name!r} must be a string, got {json.dumps(value)[:60]}"
            )
        if name == "note" and len(value) > MAX_NOTE_CHARS:
            raise InvalidRequestError(
                f"field 'note' is {len(value)} characters; at most {MAX_NOTE_CHARS}"
            )
        if name in required and not value.strip():
            raise InvalidRequestError(f"field {name!r} must not be empty")
        fields[name] = value
    return fields

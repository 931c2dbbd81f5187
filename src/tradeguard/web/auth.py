"""The write endpoints' bearer token: who may act on the running service.

A request acts only with ``Authorization: Bearer <token>`` where the token is the one
the service was started with (the environment variable named by ``[http] token_env``).
The comparison takes the same time whatever the guess (``hmac.compare_digest``), and
the token never reaches a log, the journal or an answer: the journal records the
token's *name* (``[http] token_name``). No cookies are read or set, so a page of
another origin cannot act with a person's browser (a form cannot send the header).

Answers: no token configured -> 403 ``writes_off`` (the endpoints are off and say how
to turn them on); no or malformed header -> 401 ``unauthorized`` with
``WWW-Authenticate: Bearer``; a wrong token -> 403 ``forbidden``.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from tradeguard.logs import get_logger
from tradeguard.web.config import DEFAULT_TOKEN_ENV
from tradeguard.web.responses import error_response

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

__all__ = ["BearerAuth"]

_log = get_logger(__name__)

_REALM = 'Bearer realm="tradeguard"'


class BearerAuth:
    """Checks a request's bearer token against ``token`` (None: writes are off).

    ``name`` is who a valid token stands for (journaled as ``by``); ``token_env`` is
    the variable the service reads it from (named in the "off" answer).
    """

    def __init__(self, token: str | None, *, name: str, token_env: str = DEFAULT_TOKEN_ENV) -> None:
        self._token = None if token is None else token.encode()
        self.name = name
        self.token_env = token_env

    @property
    def enabled(self) -> bool:
        """Whether a token is configured (else every write is refused with 403)."""
        return self._token is not None

    def refuse(self, request: Request) -> Response | None:
        """The error answer when ``request`` may not act, else None (it may)."""
        where = f"{request.method} {request.url.path}"
        if self._token is None:
            variable = self.token_env
            if variable == DEFAULT_TOKEN_ENV:
                variable += " (or the variable [http] token_env names)"
            return error_response(
                403, "writes_off",
                f"write endpoints are off: set {variable} to a long random secret in the "
                "service's environment and restart it; then send it as "
                "'Authorization: Bearer <token>'",
            )
        header = request.headers.get("authorization")
        if header is None:
            return _unauthorized(
                f"{where} needs 'Authorization: Bearer <token>' (the value of "
                f"{self.token_env} the service was started with)"
            )
        scheme, _, presented = header.strip().partition(" ")
        presented = presented.strip()
        if scheme.lower() != "bearer" or not presented:
            return _unauthorized(
                f"{where}: the Authorization header must be 'Bearer <token>'"
            )
        if not hmac.compare_digest(presented.encode(), self._token):
            client = request.client.host if request.client is not None else "?"
            _log.warning("write request refused: wrong token", path=request.url.path,
                         client=client)
            return error_response(
                403, "forbidden", f"{where}: the token is not the service's token"
            )
        return None


def _unauthorized(message: str) -> Response:
    response = error_response(401, "unauthorized", message)
    response.headers["WWW-Authenticate"] = _REALM
    return response

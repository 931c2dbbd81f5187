"""A small client of the running service's write API, for the command line.

``ServiceClient(url, token).post("/api/...", body)`` sends one JSON request with
``Authorization: Bearer <token>`` and returns the JSON answer. The service's errors
(``{"error", "message"}``) come back as the tradeguard error of their status
(``InvalidRequestError`` 400, ``NotFoundError`` 404, ``ConflictError`` 409,
``UpstreamFailedError`` 502, ``ServiceStartingError`` 503; 401/403 ``ConfigError``: the
token is the configuration at fault), with the service's message. Standard library
only (urllib): the command line stays quick to start.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from tradeguard.errors import (
    ConfigError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    ServiceRequestError,
    ServiceStartingError,
    TradeguardError,
    UpstreamFailedError,
)

__all__ = ["ServiceClient"]

_BY_STATUS: dict[int, type[TradeguardError]] = {
    400: InvalidRequestError,
    401: ConfigError,
    403: ConfigError,
    404: NotFoundError,
    409: ConflictError,
    413: InvalidRequestError,
    502: UpstreamFailedError,
    503: ServiceStartingError,
}

DEFAULT_TIMEOUT_S = 120.0
"""An action may wait on the exchange (a cancel and its answer): generous."""


class ServiceClient:
    """JSON over HTTP to the service at ``base_url`` (``http://host:port``)."""

    def __init__(self, base_url: str, token: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.timeout_s = timeout_s

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        """POST ``body`` as JSON to ``path``; the decoded answer, or the error it says."""
        request = urllib.request.Request(  # noqa: S310 - http(s) URL from the service's own file
            self.base_url + path,
            data=json.dumps(body or {}).encode(),
            method="POST",
            headers={
                "Authorization": f"Bearer {self._token}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as answer:  # noqa: S310
                return json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            raise self._error(exc) from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ServiceRequestError(
                f"the running service's API at {self.base_url} did not answer ({reason}); "
                "nothing was done"
            ) from exc
        except ValueError as exc:
            raise ServiceRequestError(
                f"the service at {self.base_url} answered {path} with something not JSON"
            ) from exc

    def _error(self, exc: urllib.error.HTTPError) -> TradeguardError:
        try:
            data = json.loads(exc.read())
            message = str(data["message"])
        except (ValueError, KeyError, TypeError, OSError):
            message = f"HTTP {exc.code} {exc.reason}"
        cls = _BY_STATUS.get(exc.code, ServiceRequestError)
        return cls(f"the running service refused: {message}")

"""JSON in and out: one encoder (msgspec: decimals as strings), one error shape.

Every error the API answers with is ``{"error": <kind>, "message": <what is wrong>}``
with a 4xx status (5xx only for the service itself failing), never an HTML page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from starlette.responses import Response

__all__ = ["encode_json", "error_response", "json_response"]

_encoder = msgspec.json.Encoder(decimal_format="string")


def encode_json(data: Any) -> bytes:
    """``data`` as JSON bytes (Decimal as a string, msgspec structs as objects)."""
    return _encoder.encode(data)


def json_response(data: Any, status_code: int = 200) -> Response:
    """A JSON response of ``data``; never cached (it is live state)."""
    from starlette.responses import Response

    return Response(
        encode_json(data), status_code=status_code, media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


def error_response(status_code: int, kind: str, message: str) -> Response:
    """``{"error": kind, "message": message}`` with ``status_code``."""
    return json_response({"error": kind, "message": message}, status_code)

"""Binance request authentication: API key header, HMAC-SHA256 signature, recvWindow.

Binance signs the "total params": the query string followed by the request body, with
the ``signature`` parameter removed. ccxt puts every parameter in one of the two and
appends the signature last, but any position is accepted here.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from decimal import Decimal
from urllib.parse import parse_qsl

from tradeguard.errors import SimulatorRejectionError

__all__ = ["DEFAULT_RECV_WINDOW_MS", "MAX_RECV_WINDOW_MS", "RequestAuth", "parse_params"]

DEFAULT_RECV_WINDOW_MS = 5000
MAX_RECV_WINDOW_MS = 60000
# Binance refuses requests stamped more than this far in the server's future.
FUTURE_TOLERANCE_MS = 1000
# recvWindow is milliseconds with up to three decimals (microsecond precision).
_RECV_WINDOW = re.compile(r"^[0-9]{1,5}(\.[0-9]{1,3})?$")
# Timestamps may be sent in milliseconds or microseconds; Binance tells them apart by
# magnitude (a millisecond timestamp has 13 digits until the year 2286).
_MICROSECOND_TIMESTAMP = 10**15


def _parse_into(params: dict[str, str], text: str) -> None:
    # Most of what ccxt sends needs no unquoting; skipping parse_qsl's general path
    # keeps the hot request path short.
    for part in text.split("&"):
        if not part:
            continue
        if "%" in part or "+" in part:
            params.update(parse_qsl(part, keep_blank_values=True))
        else:
            key, _, value = part.partition("=")
            params[key] = value


def parse_params(query: str, body: str) -> dict[str, str]:
    """Merge query-string and form-body parameters (body wins on a clash)."""
    params: dict[str, str] = {}
    if query:
        _parse_into(params, query)
    if body:
        _parse_into(params, body)
    return params


def _signed_payload(query: str, body: str) -> tuple[str, str | None]:
    """The exact text that was signed, and the signature sent with it."""
    total = query + body if query and body else query or body
    kept: list[str] = []
    signature: str | None = None
    for part in total.split("&"):
        if part.startswith("signature="):
            signature = part[len("signature="):]
        else:
            kept.append(part)
    return "&".join(kept), signature


class RequestAuth:
    """Checks the signed-endpoint rules for one API key and secret."""

    def __init__(self, api_key: str, api_secret: str) -> None:
        self.api_key = api_key
        self._secret = api_secret.encode()

    def check_api_key(self, header_key: str | None) -> None:
        """Refuse a missing or unknown X-MBX-APIKEY with -2014 / -2015."""
        if not header_key:
            raise SimulatorRejectionError(-2014, "API-key format invalid.", http_status=401)
        if not hmac.compare_digest(header_key, self.api_key):
            raise SimulatorRejectionError(
                -2015, "Invalid API-key, IP, or permissions for action.", http_status=401
            )

    def check_signed(
        self, header_key: str | None, query: str, body: str, params: dict[str, str],
        server_time_ms: int,
    ) -> None:
        """Check key, timestamp, recvWindow and signature; raise Binance's error."""
        self.check_api_key(header_key)
        timestamp_text = params.get("timestamp")
        if timestamp_text is None:
            raise SimulatorRejectionError(
                -1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or "
                "malformed."
            )
        try:
            timestamp_raw = int(timestamp_text)
        except ValueError as exc:
            raise SimulatorRejectionError(
                -1100, "Illegal characters found in parameter 'timestamp'; legal range is "
                "'^[0-9]{1,20}$'."
            ) from exc
        timestamp = (
            Decimal(timestamp_raw) / 1000 if timestamp_raw >= _MICROSECOND_TIMESTAMP
            else Decimal(timestamp_raw)
        )
        recv_text = params.get("recvWindow", str(DEFAULT_RECV_WINDOW_MS))
        if not _RECV_WINDOW.match(recv_text):
            raise SimulatorRejectionError(
                -1100, "Illegal characters found in parameter 'recvWindow'; legal range is "
                "'^[0-9]{1,5}(\\.[0-9]{1,3})?$'."
            )
        recv_window = Decimal(recv_text)
        if recv_window <= 0 or recv_window > MAX_RECV_WINDOW_MS:
            raise SimulatorRejectionError(
                -1131, "recvWindow must be less than 60000"
            )
        payload, signature = _signed_payload(query, body)
        if signature is None:
            raise SimulatorRejectionError(
                -1102, "Mandatory parameter 'signature' was not sent, was empty/null, or "
                "malformed."
            )
        expected = hmac.new(self._secret, payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):
            raise SimulatorRejectionError(-1022, "Signature for this request is not valid.")
        if timestamp >= server_time_ms + FUTURE_TOLERANCE_MS:
            raise SimulatorRejectionError(
                -1021, "Timestamp for this request was 1000ms ahead of the server's time."
            )
        if server_time_ms - timestamp > recv_window:
            raise SimulatorRejectionError(
                -1021, "Timestamp for this request is outside of the recvWindow."
            )

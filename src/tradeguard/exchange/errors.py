"""Translation of ccxt's exceptions into tradeguard's error tree, at the boundary.

One small mapping function (httpx's habit), most specific class first. What a failure
*means* depends on the call: after a submit (or a cancel) a network failure leaves the
outcome unknown, while the same failure on a read only means "not done". So the caller
says which kind of call failed.

ccxt classes that matter here (ccxt 4.5): ``OrderNotFound`` is an ``InvalidOrder``;
``RateLimitExceeded``, ``DDoSProtection``, ``RequestTimeout``, ``ExchangeNotAvailable``
and ``InvalidNonce`` are all ``NetworkError``\\ s, which are ``OperationFailed``;
``BadResponse``/``NullResponse`` are ``OperationFailed`` too. ``InvalidNonce`` is
handled by the gateway (time sync, one retry) before it gets here; if it still arrives
it is a definite rejection (the exchange checks the timestamp before anything else).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from typing import NamedTuple

from ccxt.base import errors as ccxt_errors

from tradeguard.errors import (
    AmbiguousOutcomeError,
    AuthenticationError,
    ExchangeError,
    ExchangeUnavailableError,
    InsufficientFundsError,
    InvalidOrderError,
    OrderNotFoundError,
    RateLimitedError,
)
from tradeguard.exchange.causes import describe_cause
from tradeguard.exchange.reports import OrderReport

__all__ = [
    "PARSE_FAILURES",
    "CallKind",
    "PartialAnswerError",
    "UnreadableRecord",
    "describe_call",
    "redact",
    "translate_error",
]

# Builtin exceptions ccxt lets escape when a response body is garbled (for example an
# HTTP 200 with HTML: ccxt indexes into a string and raises AttributeError/TypeError).
PARSE_FAILURES: tuple[type[Exception], ...] = (
    AttributeError,
    TypeError,
    ValueError,
    LookupError,
    ArithmeticError,
)

_SIGNATURE = re.compile(r"(signature=)[0-9A-Za-z%+/=]+")
_MIN_SECRET_LEN = 4  # shorter "secrets" would turn every message into asterisks


class CallKind(StrEnum):
    """What a failed call was doing, which decides what a network failure means."""

    READ = "read"  # nothing changed on the exchange whatever happened
    SUBMIT = "submit"  # an order may have been created
    CANCEL = "cancel"  # an order may have been canceled


class UnreadableRecord(NamedTuple):
    """One record of a list answer that failed validation: where, which, and why."""

    symbol: str | None
    record_id: str | None
    error: str


class PartialAnswerError(ExchangeError):
    """A list answer (open orders, order history) in which some records are unreadable.

    It is an ``ExchangeError``, so a caller that does not look closer treats the whole
    answer as failed (fail closed). Reconciliation looks closer: it uses ``reports``
    (every record that passed validation) and reports each of ``unreadable`` as not
    checked, so one garbled order does not hide every other one.
    """

    def __init__(
        self,
        message: str,
        *,
        reports: Sequence[OrderReport],
        unreadable: Sequence[UnreadableRecord],
    ) -> None:
        super().__init__(message)
        self.reports = tuple(reports)
        self.unreadable = tuple(unreadable)


def redact(text: str, secrets: Iterable[str]) -> str:
    """Remove credentials and request signatures from a message."""
    for secret in secrets:
        if secret and len(secret) >= _MIN_SECRET_LEN:
            text = text.replace(secret, "***")
    return _SIGNATURE.sub(r"\1***", text)


def describe_call(exchange: str, call: str, symbol: str | None, client_order_id: str | None) -> str:
    """The prefix of every gateway error: exchange, call, symbol and client order id."""
    parts = [exchange, call]
    if symbol is not None:
        parts.append(symbol)
    if client_order_id is not None:
        parts.append(f"client_order_id={client_order_id}")
    return " ".join(parts)


# ccxt chooses Binance's futures error table by the URL's host; with a URL override
# (the simulator, a proxy) only the generic table applies and these USD-M codes come
# out as a bare ExchangeError. Binance error codes -> the ccxt class production uses.
_BINANCE_CODES: Mapping[int, type[Exception]] = {
    -2019: ccxt_errors.InsufficientFunds,  # margin is insufficient
    -2018: ccxt_errors.InsufficientFunds,  # balance is insufficient
    -2027: ccxt_errors.InsufficientFunds,  # exceeded the maximum position at this leverage
    -2028: ccxt_errors.InsufficientFunds,  # leverage reduction leaves too little margin
    -2022: ccxt_errors.InvalidOrder,  # reduce-only order rejected
    -4003: ccxt_errors.InvalidOrder,  # quantity less than zero
    -4005: ccxt_errors.InvalidOrder,  # quantity greater than the maximum
    -4014: ccxt_errors.InvalidOrder,  # price not a multiple of the tick size
    -4164: ccxt_errors.InvalidOrder,  # notional below the minimum
}
_BINANCE_CODE = re.compile(r'"code"\s*:\s*(-?\d+)')


def _refined(exc: BaseException) -> BaseException | type[Exception]:
    """For a bare ccxt ExchangeError carrying a known Binance code, the specific class."""
    if type(exc) is not ccxt_errors.ExchangeError:
        return exc
    match = _BINANCE_CODE.search(str(exc))
    return _BINANCE_CODES.get(int(match.group(1)), exc) if match else exc


def _is(exc: BaseException | type[Exception], *classes: type[Exception]) -> bool:
    if isinstance(exc, type):
        return issubclass(exc, classes)
    return isinstance(exc, classes)


def _error_class(raw: BaseException, kind: CallKind) -> tuple[type[ExchangeError], str]:
    """The tradeguard class for ``raw`` after a call of ``kind``, and a short reason."""
    changes = kind is not CallKind.READ
    exc = _refined(raw)
    if _is(exc, ccxt_errors.OrderNotFound):
        return OrderNotFoundError, "order not found"
    if _is(exc, ccxt_errors.InsufficientFunds):
        return InsufficientFundsError, "insufficient funds"
    if _is(exc, ccxt_errors.AuthenticationError):  # includes PermissionDenied
        return AuthenticationError, "authentication failed"
    if _is(exc, ccxt_errors.RateLimitExceeded, ccxt_errors.DDoSProtection):
        # Binance answers 429/418 before processing anything: a definite refusal.
        return RateLimitedError, "rate limited"
    if _is(exc, ccxt_errors.InvalidNonce):
        return ExchangeError, "request timestamp rejected (clock skew) after a time sync"
    if _is(exc, ccxt_errors.OperationFailed):  # every NetworkError, BadResponse
        if changes:
            return AmbiguousOutcomeError, "outcome unknown"
        return ExchangeUnavailableError, "exchange unavailable"
    if _is(exc, ccxt_errors.InvalidOrder, ccxt_errors.BadRequest):
        if changes:
            return InvalidOrderError, "rejected"
        return ExchangeError, "request rejected"
    if _is(exc, *PARSE_FAILURES):
        if changes:
            return AmbiguousOutcomeError, "outcome unknown, response unreadable"
        return ExchangeError, "response unreadable"
    return ExchangeError, "failed"


def translate_error(
    exc: BaseException,
    *,
    exchange: str,
    call: str,
    kind: CallKind,
    symbol: str | None = None,
    client_order_id: str | None = None,
    secrets: Iterable[str] = (),
) -> ExchangeError:
    """The most specific tradeguard error for ``exc`` raised by a ccxt call.

    The caller raises the result ``from exc``. The message names the exchange, the
    call, the symbol and the client order id, with credentials and signatures removed.
    An exception that is already a tradeguard exchange error is returned unchanged.
    """
    if isinstance(exc, ExchangeError):
        return exc
    error_class, reason = _error_class(exc, kind)
    detail = redact(f"{type(exc).__name__}: {describe_cause(exc)}", secrets)
    prefix = describe_call(exchange, call, symbol, client_order_id)
    return error_class(f"{prefix}: {reason} ({detail})")

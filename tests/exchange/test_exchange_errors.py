"""The ccxt -> tradeguard error table, on ccxt exception instances (no network)."""

from __future__ import annotations

import pytest
from ccxt.base import errors as ccxt_errors

from tradeguard import errors as tg
from tradeguard.exchange.errors import CallKind, redact, translate_error

READ, SUBMIT, CANCEL = CallKind.READ, CallKind.SUBMIT, CallKind.CANCEL

# (ccxt exception, call kind, expected tradeguard class)
TABLE = [
    (ccxt_errors.OrderNotFound, READ, tg.OrderNotFoundError),
    (ccxt_errors.OrderNotFound, CANCEL, tg.OrderNotFoundError),
    (ccxt_errors.InsufficientFunds, SUBMIT, tg.InsufficientFundsError),
    (ccxt_errors.InvalidOrder, SUBMIT, tg.InvalidOrderError),
    (ccxt_errors.DuplicateOrderId, SUBMIT, tg.InvalidOrderError),
    (ccxt_errors.BadRequest, SUBMIT, tg.InvalidOrderError),
    (ccxt_errors.BadSymbol, SUBMIT, tg.InvalidOrderError),
    (ccxt_errors.BadRequest, READ, tg.ExchangeError),
    (ccxt_errors.AuthenticationError, READ, tg.AuthenticationError),
    (ccxt_errors.AuthenticationError, SUBMIT, tg.AuthenticationError),
    (ccxt_errors.PermissionDenied, SUBMIT, tg.AuthenticationError),
    (ccxt_errors.AccountSuspended, READ, tg.AuthenticationError),
    (ccxt_errors.RateLimitExceeded, SUBMIT, tg.RateLimitedError),
    (ccxt_errors.RateLimitExceeded, READ, tg.RateLimitedError),
    (ccxt_errors.DDoSProtection, SUBMIT, tg.RateLimitedError),
    (ccxt_errors.NetworkError, SUBMIT, tg.AmbiguousOutcomeError),
    (ccxt_errors.RequestTimeout, SUBMIT, tg.AmbiguousOutcomeError),
    (ccxt_errors.ExchangeNotAvailable, SUBMIT, tg.AmbiguousOutcomeError),
    (ccxt_errors.OnMaintenance, SUBMIT, tg.AmbiguousOutcomeError),
    (ccxt_errors.OperationFailed, SUBMIT, tg.AmbiguousOutcomeError),
    (ccxt_errors.BadResponse, SUBMIT, tg.AmbiguousOutcomeError),
    (ccxt_errors.NullResponse, SUBMIT, tg.AmbiguousOutcomeError),
    (ccxt_errors.RequestTimeout, CANCEL, tg.AmbiguousOutcomeError),
    (ccxt_errors.NetworkError, READ, tg.ExchangeUnavailableError),
    (ccxt_errors.RequestTimeout, READ, tg.ExchangeUnavailableError),
    (ccxt_errors.ExchangeNotAvailable, READ, tg.ExchangeUnavailableError),
    (ccxt_errors.OperationFailed, READ, tg.ExchangeUnavailableError),
    (ccxt_errors.InvalidNonce, SUBMIT, tg.ExchangeError),
    (ccxt_errors.ExchangeError, READ, tg.ExchangeError),
    (ccxt_errors.NotSupported, SUBMIT, tg.ExchangeError),
    (AttributeError, SUBMIT, tg.AmbiguousOutcomeError),
    (TypeError, SUBMIT, tg.AmbiguousOutcomeError),
    (ValueError, SUBMIT, tg.AmbiguousOutcomeError),
    (KeyError, CANCEL, tg.AmbiguousOutcomeError),
    (AttributeError, READ, tg.ExchangeError),
    (TypeError, READ, tg.ExchangeError),
]


@pytest.mark.parametrize(
    ("ccxt_class", "kind", "expected"),
    TABLE,
    ids=[f"{c.__name__}-{k}" for c, k, _ in TABLE],
)
def test_translation_table(
    ccxt_class: type[Exception], kind: CallKind, expected: type[tg.TradeguardError]
) -> None:
    error = translate_error(
        ccxt_class('binance {"code":-1,"msg":"x"}'),
        exchange="binance",
        call="create_order",
        kind=kind,
        symbol="BTC/USDT",
        client_order_id="tg-7",
    )
    assert type(error) is expected
    # The message names exchange, call, symbol and client order id, and the cause.
    text = str(error)
    for part in (
        "binance",
        "create_order",
        "BTC/USDT",
        "client_order_id=tg-7",
        ccxt_class.__name__,
    ):
        assert part in text


def test_network_errors_on_submit_are_never_definite() -> None:
    """Every NetworkError except the two definite refusals leaves a submit ambiguous."""
    definite = (ccxt_errors.RateLimitExceeded, ccxt_errors.DDoSProtection, ccxt_errors.InvalidNonce)
    classes = [
        cls
        for cls in vars(ccxt_errors).values()
        if isinstance(cls, type) and issubclass(cls, ccxt_errors.NetworkError)
    ]
    assert len(classes) >= 5
    for cls in classes:
        error = translate_error(cls("x"), exchange="binance", call="create_order", kind=SUBMIT)
        if issubclass(cls, definite):
            assert not isinstance(error, tg.AmbiguousOutcomeError), cls
        else:
            assert isinstance(error, tg.AmbiguousOutcomeError), cls


def test_tradeguard_errors_pass_through_unchanged() -> None:
    original = tg.InvalidOrderError("already ours")
    assert translate_error(original, exchange="x", call="y", kind=SUBMIT) is original


def test_secrets_and_signatures_are_redacted() -> None:
    secret = "Zq9-very-secret-value"
    exc = ccxt_errors.RequestTimeout(
        f"binance POST http://127.0.0.1:1/api/v3/order?a=1&signature=abcdef0123 {secret} apikey-XYZ"
    )
    error = translate_error(
        exc, exchange="binance", call="create_order", kind=SUBMIT, secrets=(secret, "apikey-XYZ")
    )
    assert secret not in str(error)
    assert "apikey-XYZ" not in str(error)
    assert "abcdef0123" not in str(error)
    assert "signature=***" in str(error)


def test_redact_leaves_short_strings_alone() -> None:
    # A 1-3 character "secret" would blank out ordinary words; it is not treated as one.
    assert redact("order open", ["o"]) == "order open"
    assert redact("key=longsecret", ["longsecret"]) == "key=***"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (-2019, tg.InsufficientFundsError),
        (-4164, tg.InvalidOrderError),
        (-2022, tg.InvalidOrderError),
        (-9999, tg.ExchangeError),
    ],
)
def test_binance_futures_codes_behind_a_url_override(
    code: int, expected: type[tg.TradeguardError]
) -> None:
    """ccxt's generic table leaves these as a bare ExchangeError; the code decides."""
    exc = ccxt_errors.ExchangeError(f'binance {{"code":{code},"msg":"x"}}')
    error = translate_error(exc, exchange="binance", call="create_order", kind=SUBMIT)
    assert type(error) is expected

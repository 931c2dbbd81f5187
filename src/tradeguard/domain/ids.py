"""Identifier value types and the deterministic client order id.

Ids are ``NewType`` wrappers over ``str``: free at run time, distinct for the type
checker, so a ``TradeId`` cannot be passed where a ``ClientOrderId`` is expected.
"""

from __future__ import annotations

import re
from typing import NewType

from tradeguard.errors import DomainError

__all__ = [
    "CLIENT_ORDER_ID_MAX_LEN",
    "Asset",
    "ClientOrderId",
    "ExchangeOrderId",
    "FlagId",
    "Symbol",
    "TradeId",
    "make_client_order_id",
]

ClientOrderId = NewType("ClientOrderId", str)
"""Our id for an order, derived from the journal so it can always be found again."""

ExchangeOrderId = NewType("ExchangeOrderId", str)
"""The exchange's id for an order (known only after the exchange acknowledged it)."""

TradeId = NewType("TradeId", str)
"""The exchange's id for one execution (unique per symbol on Binance)."""

Symbol = NewType("Symbol", str)
"""A unified ccxt market symbol, e.g. ``BTC/USDT`` or ``BTC/USDT:USDT``."""

Asset = NewType("Asset", str)
"""A currency code, e.g. ``USDT``."""

FlagId = NewType("FlagId", str)
"""Id of a manual-intervention flag."""

CLIENT_ORDER_ID_MAX_LEN = 36
"""Binance accepts at most 36 characters for ``newClientOrderId``."""

# Binance's alphabet for newClientOrderId: ^[\.A-Z\:/a-z0-9_-]{1,36}$
_CLIENT_ID_RE = re.compile(r"[.A-Z:/a-z0-9_-]{1,36}")
_SEPARATOR = "-"


def make_client_order_id(prefix: str, seq: int) -> ClientOrderId:
    """Build the client order id ``<prefix>-<seq>`` for the intent journaled at ``seq``.

    Deterministic, so after a crash the id of any journaled intent can be recomputed
    and the order looked up on the exchange. The result is at most 36 characters of
    Binance's alphabet; a prefix that cannot satisfy that raises ``DomainError``.
    """
    if seq < 0:
        raise DomainError(f"client order id sequence must be >= 0, got {seq} (prefix {prefix!r})")
    if not prefix or _CLIENT_ID_RE.fullmatch(prefix) is None:
        raise DomainError(
            f"client order id prefix {prefix!r} must be 1-{CLIENT_ORDER_ID_MAX_LEN} characters "
            "of [.A-Z:/a-z0-9_-]"
        )
    client_id = f"{prefix}{_SEPARATOR}{seq}"
    if len(client_id) > CLIENT_ORDER_ID_MAX_LEN:
        raise DomainError(
            f"client order id prefix {prefix!r} is too long: {client_id!r} has {len(client_id)} "
            f"characters, the exchange accepts at most {CLIENT_ORDER_ID_MAX_LEN}"
        )
    return ClientOrderId(client_id)

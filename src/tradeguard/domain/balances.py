"""Balance of one asset: free, used (locked in orders or margin) and their total."""

from __future__ import annotations

from decimal import Decimal

import msgspec

from tradeguard.domain.ids import Asset
from tradeguard.domain.positions import DECIMAL_CONTEXT
from tradeguard.errors import DomainError

__all__ = ["Balance", "make_balance"]


class Balance(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """An asset's balance as last reported by the exchange. ``total == free + used``."""

    asset: Asset
    free: Decimal
    used: Decimal
    total: Decimal
    updated_ns: int = 0

    def __post_init__(self) -> None:
        # Checked on construction and on snapshot decode: a snapshot whose balances
        # do not add up is damaged, not merely old.
        if not (self.free.is_finite() and self.used.is_finite() and self.total.is_finite()):
            raise DomainError(f"balance {self.asset!r}: amounts must be finite")
        if self.total != DECIMAL_CONTEXT.add(self.free, self.used):
            raise DomainError(
                f"balance {self.asset!r}: total {self.total} != free {self.free} + used {self.used}"
            )


def make_balance(asset: Asset, *, free: Decimal, used: Decimal, ts_ns: int) -> Balance:
    """A balance whose total is computed, so it always adds up."""
    if not (free.is_finite() and used.is_finite()):
        raise DomainError(f"balance {asset!r}: free {free} and used {used} must be finite")
    if used < 0:
        raise DomainError(f"balance {asset!r}: used must be >= 0, got {used}")
    total = DECIMAL_CONTEXT.add(free, used)
    return Balance(asset=asset, free=free, used=used, total=total, updated_ns=ts_ns)

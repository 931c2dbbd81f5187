"""Balance of one asset: free, used (locked in orders or margin) and their total.

Also the spot wallet's rules (locks, fills, fees), which keep balances current from
the session's own events between reconciliations.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from tradeguard.domain.enums import LIMIT_PRICE_TYPES, OrderStatus, OrderType, Side
from tradeguard.domain.ids import Asset
from tradeguard.domain.positions import DECIMAL_CONTEXT
from tradeguard.errors import DomainError

__all__ = ["Balance", "make_balance", "move_balance", "spot_fill_moves", "spot_lock"]

_ZERO = Decimal(0)
_LOCKING = frozenset({OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED})


class Balance(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """An asset's balance: the exchange's last report, moved by our own events since.

    ``total == free + used``.
    """

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


# --- balances kept current from the session's own events (spot wallet) ---------------
#
# Binance's spot rules: a resting limit order locks what it may spend (a buy locks
# price x remaining of the quote, a sell the remaining base); a fill consumes the lock
# and moves base and quote; its fee is paid in its own asset; a cancel unlocks. The
# handlers apply them so a reconciliation on a healthy session finds the totals equal.
# Perpetual margin (wallet, unrealized PnL, funding) is not modelled: reconciliation
# keeps those balances current.


def spot_lock(
    *,
    side: Side,
    status: OrderStatus,
    order_type: OrderType,
    remaining: Decimal,
    price: Decimal | None,
    base: Asset,
    quote: Asset,
) -> tuple[Asset, Decimal] | None:
    """The asset and amount a resting spot order holds locked, or None (nothing locked).

    Only acknowledged, working orders with a limit price lock: a PENDING_SUBMIT or
    UNKNOWN order may not exist, a market order fills at once.
    """
    if status not in _LOCKING or order_type not in LIMIT_PRICE_TYPES or price is None:
        return None
    if remaining <= 0:
        return None
    if side is Side.BUY:
        return quote, DECIMAL_CONTEXT.multiply(price, remaining)
    return base, remaining


def move_balance(
    balances: dict[Asset, Balance],
    asset: Asset,
    *,
    free: Decimal = _ZERO,
    used: Decimal = _ZERO,
    ts_ns: int,
) -> None:
    """Add ``free`` and ``used`` to ``asset``'s balance; never fails.

    Nothing is moved before the exchange has reported the wallet once (the balances
    start from its figures); an asset it did not list starts from zero. A lock release
    beyond what is locked (the exchange reserved less) takes the rest from free, so the
    total is always exact.
    """
    if not balances or (not free and not used):
        return
    current = balances.get(asset)
    new_free = DECIMAL_CONTEXT.add(current.free if current else _ZERO, free)
    new_used = DECIMAL_CONTEXT.add(current.used if current else _ZERO, used)
    if new_used < 0:
        new_free, new_used = DECIMAL_CONTEXT.add(new_free, new_used), _ZERO
    balances[asset] = Balance(
        asset=asset,
        free=new_free,
        used=new_used,
        total=DECIMAL_CONTEXT.add(new_free, new_used),
        updated_ns=ts_ns,
    )


def spot_fill_moves(
    balances: dict[Asset, Balance],
    *,
    base: Asset,
    quote: Asset,
    side: Side,
    price: Decimal,
    amount: Decimal,
    fee: Decimal,
    fee_asset: Asset,
    ts_ns: int,
) -> None:
    """What one spot fill does to the free balances (its lock is released separately)."""
    notional = DECIMAL_CONTEXT.multiply(price, amount)
    if side is Side.BUY:
        move_balance(balances, base, free=amount, ts_ns=ts_ns)
        move_balance(balances, quote, free=-notional, ts_ns=ts_ns)
    else:
        move_balance(balances, base, free=-amount, ts_ns=ts_ns)
        move_balance(balances, quote, free=notional, ts_ns=ts_ns)
    if fee:
        move_balance(balances, fee_asset, free=-fee, ts_ns=ts_ns)

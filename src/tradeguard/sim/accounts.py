"""Account state of the simulated exchange: spot wallet, futures wallet and positions.

Pure bookkeeping with Decimal, no I/O. The matching engine decides *what* fills; this
module says what a fill, a lock or a release does to balances and positions.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Literal

import msgspec

from tradeguard.errors import SimulatorRejectionError

__all__ = [
    "EIGHT_PLACES",
    "FuturesAccount",
    "Position",
    "SimOrder",
    "SimTrade",
    "SpotAccount",
    "q8",
]

EIGHT_PLACES = Decimal("0.00000001")
Side = Literal["BUY", "SELL"]


def q8(value: Decimal) -> Decimal:
    """Round money to 8 decimal places, as Binance reports commissions and PnL."""
    return value.quantize(EIGHT_PLACES, rounding=ROUND_HALF_EVEN)


class SimOrder(msgspec.Struct, kw_only=True):
    """One order in the simulator (mutable: it fills and changes status)."""

    venue: str
    symbol: str
    order_id: int
    client_order_id: str
    side: Side
    type: str
    time_in_force: str
    price: Decimal
    orig_qty: Decimal
    time_ms: int
    update_ms: int
    executed_qty: Decimal = Decimal(0)
    cum_quote: Decimal = Decimal(0)
    status: str = "NEW"
    reduce_only: bool = False
    external: bool = False
    # Amount of ``lock_asset`` (spot) or margin (futures) held per unit of remaining qty.
    lock_per_unit: Decimal = Decimal(0)
    lock_asset: str = ""

    @property
    def remaining(self) -> Decimal:
        """Quantity still to fill."""
        return self.orig_qty - self.executed_qty

    @property
    def is_open(self) -> bool:
        """True while the order can still fill."""
        return self.status in ("NEW", "PARTIALLY_FILLED")

    @property
    def avg_price(self) -> Decimal:
        """Average fill price (0 before the first fill)."""
        if not self.executed_qty:
            return Decimal(0)
        return self.cum_quote / self.executed_qty


class SimTrade(msgspec.Struct, frozen=True, kw_only=True):
    """One fill of one order."""

    venue: str
    symbol: str
    trade_id: int
    order_id: int
    side: Side
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    commission: Decimal
    commission_asset: str
    time_ms: int
    is_maker: bool
    realized_pnl: Decimal = Decimal(0)


class SpotAccount:
    """Free and locked balance per asset of the spot wallet."""

    def __init__(self, balances: dict[str, Decimal]) -> None:
        self.free: dict[str, Decimal] = dict(balances)
        self.locked: dict[str, Decimal] = {asset: Decimal(0) for asset in balances}
        self.update_ms = 0

    def lock(self, asset: str, amount: Decimal) -> None:
        """Move ``amount`` from free to locked, or refuse as Binance does (-2010)."""
        if self.free.get(asset, Decimal(0)) < amount:
            raise SimulatorRejectionError(
                -2010, "Account has insufficient balance for requested action."
            )
        self.free[asset] -= amount
        self.locked[asset] = self.locked.get(asset, Decimal(0)) + amount

    def release(self, asset: str, amount: Decimal) -> None:
        """Move ``amount`` back from locked to free (cancel, expiry, over-reservation)."""
        if amount:
            self.locked[asset] -= amount
            self.free[asset] = self.free.get(asset, Decimal(0)) + amount

    def apply_fill(
        self, order: SimOrder, *, base: str, quote: str, qty: Decimal, price: Decimal,
        fee: Decimal,
    ) -> None:
        """Settle a fill: consume the order's lock, pay or receive quote, pay the fee.

        As on Binance, the fee comes out of what the fill brings in: the buyer pays it
        in base, the seller in quote.
        """
        held = qty * order.lock_per_unit
        self.locked[order.lock_asset] -= held
        if order.side == "BUY":
            # The lock is the limit price; a fill at a better price (a marketable limit
            # taking the touch) gives the difference back to free.
            self.free[quote] += held - qty * price
            self.free[base] = self.free.get(base, Decimal(0)) + qty - fee
        else:
            self.free[quote] = self.free.get(quote, Decimal(0)) + qty * price - fee

    def adjust(self, asset: str, amount: Decimal) -> None:
        """Deposit (positive) or withdraw (negative) ``amount`` of free balance."""
        current = self.free.get(asset, Decimal(0))
        if current + amount < 0:
            raise SimulatorRejectionError(
                -2010, "Account has insufficient balance for requested action."
            )
        self.free[asset] = current + amount
        self.locked.setdefault(asset, Decimal(0))


class Position(msgspec.Struct, kw_only=True):
    """Net one-way position of one perpetual symbol."""

    symbol: str
    amount: Decimal = Decimal(0)
    entry_price: Decimal = Decimal(0)
    realized_pnl: Decimal = Decimal(0)
    leverage: int = 10
    update_ms: int = 0

    def unrealized(self, mark: Decimal) -> Decimal:
        """Unrealized PnL at ``mark``."""
        return (mark - self.entry_price) * self.amount

    def apply_fill(self, side: Side, qty: Decimal, price: Decimal) -> Decimal:
        """Net a fill into the position; returns the PnL it realizes."""
        signed = qty if side == "BUY" else -qty
        if not self.amount or (self.amount > 0) == (signed > 0):
            total = abs(self.amount) + qty
            self.entry_price = q8((abs(self.amount) * self.entry_price + qty * price) / total)
            self.amount += signed
            return Decimal(0)
        closing = min(qty, abs(self.amount))
        direction = Decimal(1) if self.amount > 0 else Decimal(-1)
        realized = q8(closing * (price - self.entry_price) * direction)
        self.amount += signed
        if not self.amount:
            self.entry_price = Decimal(0)
        elif (self.amount > 0) != (direction > 0):
            # The fill flipped the position: the excess opens a new one at the fill price.
            self.entry_price = price
        self.realized_pnl += realized
        return realized


class FuturesAccount:
    """USD-M wallet (cross margin, one-way mode) and its positions."""

    def __init__(self, balances: dict[str, Decimal], leverage: int) -> None:
        self.wallet: dict[str, Decimal] = dict(balances)
        self.order_margin = Decimal(0)
        self.positions: dict[str, Position] = {}
        self.default_leverage = leverage
        self.update_ms = 0

    def position(self, symbol: str) -> Position:
        """The position of ``symbol`` (created flat on first use)."""
        pos = self.positions.get(symbol)
        if pos is None:
            pos = Position(symbol=symbol, leverage=self.default_leverage)
            self.positions[symbol] = pos
        return pos

    def position_margin(self, marks: dict[str, Decimal]) -> Decimal:
        """Initial margin of every open position at the current marks."""
        return sum(
            (abs(p.amount) * marks[p.symbol] / p.leverage for p in self.positions.values()
             if p.amount),
            Decimal(0),
        )

    def unrealized(self, marks: dict[str, Decimal]) -> Decimal:
        """Unrealized PnL of every position at the current marks."""
        return sum(
            (p.unrealized(marks[p.symbol]) for p in self.positions.values() if p.amount),
            Decimal(0),
        )

    def available(self, marks: dict[str, Decimal]) -> Decimal:
        """USDT that can still back new orders."""
        return (
            self.wallet.get("USDT", Decimal(0))
            + self.unrealized(marks)
            - self.position_margin(marks)
            - self.order_margin
        )

    def reserve(self, amount: Decimal, marks: dict[str, Decimal]) -> None:
        """Hold initial margin for a new order, or refuse with Binance's -2019."""
        if amount > self.available(marks):
            raise SimulatorRejectionError(-2019, "Margin is insufficient.")
        self.order_margin += amount

    def release(self, amount: Decimal) -> None:
        """Give back order margin (cancel, expiry, fill)."""
        self.order_margin -= amount

    def apply_fill(
        self, order: SimOrder, qty: Decimal, price: Decimal, fee: Decimal, now_ms: int
    ) -> Decimal:
        """Settle a fill: release its order margin, pay the fee, net the position.

        Returns the realized PnL of the fill.
        """
        self.order_margin -= qty * order.lock_per_unit
        pos = self.position(order.symbol)
        realized = pos.apply_fill(order.side, qty, price)
        pos.update_ms = now_ms
        self.wallet["USDT"] = self.wallet.get("USDT", Decimal(0)) + realized - fee
        self.update_ms = now_ms
        return realized

    def adjust(self, asset: str, amount: Decimal, marks: dict[str, Decimal]) -> None:
        """Deposit (positive) or withdraw (negative) wallet balance."""
        current = self.wallet.get(asset, Decimal(0))
        if amount < 0 and (current + amount < 0 or -amount > self.available(marks)):
            raise SimulatorRejectionError(-2019, "Margin is insufficient.")
        self.wallet[asset] = current + amount

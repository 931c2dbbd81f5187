"""A read-only summary of a session: what ``tradeguard status`` prints.

Built by recovering the state without writing anything, so it is safe to run beside a
live session and on a store that needs recovery.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from tradeguard.domain.state import SessionState
from tradeguard.recovery.manager import recover
from tradeguard.storage.base import Store

__all__ = [
    "BalanceLine",
    "FlagLine",
    "OrderLine",
    "PositionLine",
    "StatusReport",
    "session_status",
    "status_of_state",
]


class OrderLine(msgspec.Struct, frozen=True):
    """An order as ``status`` shows it."""

    client_order_id: str
    exchange_order_id: str | None
    symbol: str
    side: str
    price: Decimal | None
    amount: Decimal
    filled: Decimal
    status: str


class PositionLine(msgspec.Struct, frozen=True):
    """A non-flat position."""

    symbol: str
    size: Decimal
    entry_price: Decimal
    realized_pnl: Decimal


class BalanceLine(msgspec.Struct, frozen=True):
    """One asset's balance."""

    free: Decimal
    used: Decimal
    total: Decimal


class FlagLine(msgspec.Struct, frozen=True):
    """An open manual-intervention flag."""

    flag_id: str
    severity: str
    kind: str
    symbol: str | None
    message: str
    actions: list[str]


class StatusReport(msgspec.Struct, frozen=True):
    """The session at a glance; decimals are printed as strings in JSON."""

    open_orders: list[OrderLine]
    unresolved_orders: list[OrderLine]
    positions: list[PositionLine]
    balances: dict[str, BalanceLine]
    flags: list[FlagLine]
    last_seq: int
    clean_shutdown: bool | None
    running: bool


def _order_line(order: object) -> OrderLine:
    return msgspec.convert(order, OrderLine, from_attributes=True)


def status_of_state(state: SessionState, *, clean_shutdown: bool | None) -> StatusReport:
    """Summarise ``state``."""
    return StatusReport(
        open_orders=[_order_line(o) for o in state.open_orders()],
        unresolved_orders=[_order_line(o) for o in state.unresolved_orders()],
        positions=[
            PositionLine(p.symbol, p.size, p.entry_price, p.realized_pnl)
            for p in state.positions.values()
            if p.size != 0
        ],
        balances={
            asset: BalanceLine(b.free, b.used, b.total) for asset, b in state.balances.items()
        },
        flags=[
            FlagLine(f.flag_id, f.severity, f.kind, f.symbol, f.message, list(f.actions))
            for f in state.open_flags()
        ],
        last_seq=state.last_seq,
        clean_shutdown=clean_shutdown,
        running=state.running,
    )


def session_status(store: Store) -> StatusReport:
    """Status of the session in ``store`` without changing the store."""
    state, _ = recover(store, write=False)
    last_run = store.last_run()
    return status_of_state(state, clean_shutdown=None if last_run is None else last_run.clean)

"""What a restarted trader reports, and the pure check of it against the exchange's truth.

After every restart the chaos trader recovers, resolves, reconciles, and prints one
``Checkpoint``: its local view of orders, positions and balances. ``check_checkpoint``
compares that with the simulator's ground truth (``GET /_sim/state``) and counts:

- ``lost``: orders the strategy was told were acknowledged that the state does not
  know (the write-ahead promise broken);
- ``duplicates``: client order ids of ours that the exchange holds more than once;
- ``mismatches``: every other difference after reconciliation: an order of ours on the
  exchange that is unknown locally or differs in status, fill or exchange id; an order
  working locally that the exchange does not show; positions; balances; an incomplete
  reconciliation (it claims nothing, so the check could not be made);
- ``unresolved``: orders still UNKNOWN or PENDING_SUBMIT after resolution had its chance.

Pure: no I/O, so it is unit tested on hand-made states.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Set
from decimal import Decimal
from typing import Any

import msgspec

__all__ = [
    "CheckResult",
    "Checkpoint",
    "LocalBalance",
    "LocalOrder",
    "check_checkpoint",
    "exchange_symbol",
]

# Binance order status -> the status our state must show once reconciled.
_STATUS_OF: dict[str, str] = {
    "NEW": "open",
    "PARTIALLY_FILLED": "partially_filled",
    "FILLED": "filled",
    "CANCELED": "canceled",
    "EXPIRED": "expired",
    "REJECTED": "rejected",
}
# Local statuses that claim the order reached the exchange.
_PLACED = frozenset({"open", "partially_filled", "filled", "canceled", "expired"})
_MAX_DETAILS = 20


class LocalOrder(msgspec.Struct, frozen=True, kw_only=True):
    """One order as the restarted trader's state holds it."""

    symbol: str
    side: str
    status: str
    filled: Decimal
    exchange_order_id: str | None


class LocalBalance(msgspec.Struct, frozen=True, kw_only=True):
    """One asset's balance in the trader's state (as reconciliation last set it)."""

    free: Decimal
    used: Decimal


class Checkpoint(msgspec.Struct, frozen=True, kw_only=True):
    """The trader's state after a restart, recovery, resolution and reconciliation."""

    prefix: str
    unclean_shutdown: bool
    orders: dict[str, LocalOrder]
    unresolved: list[str]
    positions: dict[str, Decimal]
    balances: dict[str, LocalBalance]
    open_flags: list[str]
    reconcile_complete: bool
    reconcile_error: str | None = None
    recovery_errors: list[str] = msgspec.field(default_factory=list)


class CheckResult(msgspec.Struct, frozen=True, kw_only=True):
    """The figures of one check; ``details`` names the first differences found."""

    lost: int = 0
    duplicates: int = 0
    mismatches: int = 0
    unresolved: int = 0
    exchange_orders: int = 0
    details: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """No lost order, no duplicate, no mismatch."""
        return self.lost == 0 and self.duplicates == 0 and self.mismatches == 0


def exchange_symbol(symbol: str) -> str:
    """The simulator's (Binance's) symbol for a unified spot symbol: BTC/USDT -> BTCUSDT."""
    return symbol.split(":", 1)[0].replace("/", "")


class _Findings:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.details: list[str] = []

    def add(self, kind: str, detail: str, n: int = 1) -> None:
        self.counts[kind] += n
        if len(self.details) < _MAX_DETAILS:
            self.details.append(f"{kind}: {detail}")


def _dec(value: Any) -> Decimal:
    return Decimal(str(value))


def check_checkpoint(
    checkpoint: Checkpoint, truth: Mapping[str, Any], *, acked: Set[str]
) -> CheckResult:
    """Compare a trader's checkpoint with the simulator's ground truth (``/_sim/state``).

    ``acked`` are the client ids the strategy saw acknowledged in any earlier run.
    Only spot is compared (the chaos trader trades spot).
    """
    found = _Findings()
    prefix = f"{checkpoint.prefix}-"
    ours = [
        o for o in truth.get("orders", []) if str(o.get("clientOrderId", "")).startswith(prefix)
    ]
    by_cid: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in ours:
        by_cid[str(row["clientOrderId"])].append(row)
    for cid, rows in sorted(by_cid.items()):
        if len(rows) > 1:
            found.add("duplicates", f"{cid} placed {len(rows)} times", len(rows) - 1)
    for cid in sorted(acked - checkpoint.orders.keys()):
        found.add("lost", f"{cid} was acknowledged to the strategy, unknown after restart")
    _check_orders(checkpoint, by_cid, found)
    _check_positions(checkpoint, truth, ours, found)
    _check_balances(checkpoint, truth, found)
    if not checkpoint.reconcile_complete:
        found.add("mismatch", f"reconciliation incomplete: {checkpoint.reconcile_error}")
    for cid in checkpoint.unresolved:
        found.add("unresolved", f"{cid} still unresolved after resolution had its chance")
    counts = found.counts
    return CheckResult(
        lost=counts["lost"],
        duplicates=counts["duplicates"],
        mismatches=counts["mismatch"],
        unresolved=counts["unresolved"],
        exchange_orders=len(ours),
        details=tuple(found.details),
    )


def _check_orders(
    checkpoint: Checkpoint, by_cid: Mapping[str, list[Mapping[str, Any]]], found: _Findings
) -> None:
    for cid, rows in sorted(by_cid.items()):
        row = rows[-1]
        local = checkpoint.orders.get(cid)
        if local is None:
            found.add("mismatch", f"{cid} is on the exchange ({row['status']}) but unknown locally")
            continue
        want = _STATUS_OF.get(str(row["status"]), str(row["status"]).lower())
        if local.status != want:
            found.add(
                "mismatch", f"{cid} is {local.status} locally, {row['status']} on the exchange"
            )
        if local.filled != _dec(row["executedQty"]):
            found.add(
                "mismatch",
                f"{cid} filled {local.filled} locally, {row['executedQty']} on the exchange",
            )
        if local.exchange_order_id != str(row["orderId"]):
            found.add(
                "mismatch",
                f"{cid} has exchange id {local.exchange_order_id} locally, {row['orderId']} there",
            )
    for cid, local in sorted(checkpoint.orders.items()):
        if (
            cid.startswith(f"{checkpoint.prefix}-")
            and cid not in by_cid
            and local.status in _PLACED
        ):
            found.add(
                "mismatch", f"{cid} is {local.status} locally but the exchange has no such order"
            )


def _check_positions(
    checkpoint: Checkpoint,
    truth: Mapping[str, Any],
    ours: list[Mapping[str, Any]],
    found: _Findings,
) -> None:
    # A spot "position" is the net of our own fills; the exchange's trades say what it is.
    our_ids = {(str(o["symbol"]), int(o["orderId"])) for o in ours if o.get("market") == "spot"}
    net: dict[str, Decimal] = defaultdict(Decimal)
    for trade in truth.get("trades", []):
        key = (str(trade["symbol"]), int(trade["orderId"]))
        if trade.get("market") == "spot" and key in our_ids:
            qty = _dec(trade["qty"])
            net[key[0]] += qty if str(trade["side"]).upper() == "BUY" else -qty
    local = {exchange_symbol(s): size for s, size in checkpoint.positions.items()}
    for symbol in sorted(set(net) | set(local)):
        there, here = net.get(symbol, Decimal(0)), local.get(symbol, Decimal(0))
        if there != here:
            found.add(
                "mismatch", f"position {symbol}: {here} locally, {there} from the exchange's fills"
            )


def _check_balances(checkpoint: Checkpoint, truth: Mapping[str, Any], found: _Findings) -> None:
    balances: Mapping[str, Mapping[str, Any]] = truth.get("spot", {}).get("balances", {})
    for asset, row in sorted(balances.items()):
        free, locked = _dec(row["free"]), _dec(row["locked"])
        local = checkpoint.balances.get(asset)
        if local is None:
            if free != 0 or locked != 0:
                found.add("mismatch", f"balance {asset}: none locally, {free} free on the exchange")
            continue
        if (local.free, local.used) != (free, locked):
            found.add(
                "mismatch",
                f"balance {asset}: {local.free} free / {local.used} used locally, "
                f"{free} / {locked} on the exchange",
            )

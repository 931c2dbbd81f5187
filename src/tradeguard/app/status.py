"""A read-only summary of a session: what ``tradeguard status`` prints.

Built by recovering the state without writing anything, so it is safe to run beside a
live session and on a store that needs recovery.

How the last run ended is read from the store's run markers, counting only *trading*
runs: ``recover``, ``resolve`` and ``reconcile`` write markers of their own (their run
ids start with their name), and a maintenance run that ended cleanly says nothing about
whether the session before it crashed. A trading run whose marker is still open is
either running (its process is alive on this host) or ended uncleanly (killed, crashed).
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from decimal import Decimal
from typing import Literal

import msgspec

from tradeguard.domain.state import SessionState
from tradeguard.recovery.manager import recover
from tradeguard.storage.base import Store
from tradeguard.storage.records import RunInfo

__all__ = [
    "MAINTENANCE_RUN_KINDS",
    "BalanceLine",
    "DisplayPrecision",
    "FlagLine",
    "OrderLine",
    "PositionLine",
    "RunLine",
    "RunState",
    "StatusReport",
    "describe_run",
    "display_precision",
    "last_trading_run",
    "run_kind",
    "run_summary",
    "session_status",
    "status_of_state",
]

MAINTENANCE_RUN_KINDS = ("recover", "resolve", "reconcile")
"""Commands that write a run marker of their own (run id ``<kind>-<hex>``) but do not trade."""

RunState = Literal["never_run", "running", "ended_cleanly", "ended_uncleanly", "other_host"]
"""``other_host``: the marker is open but the run was on another machine (not checkable)."""


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


class RunLine(msgspec.Struct, frozen=True):
    """The last trading run: who ran it, when, and how it ended (or that it runs)."""

    state: RunState
    run_id: str
    pid: int
    hostname: str
    started_ns: int
    stopped_ns: int | None
    recovered_since: bool = False


class DisplayPrecision(msgspec.Struct, frozen=True):
    """Steps to round a symbol's prices and amounts to for display, inferred from the
    journal's own orders on it (the store does not hold the exchange's tick sizes)."""

    price_step: Decimal | None
    amount_step: Decimal | None


class StatusReport(msgspec.Struct, frozen=True):
    """The session at a glance; decimals are printed as strings in JSON.

    ``run_state`` says what is true now: ``running`` (``last_run.pid`` on
    ``last_run.hostname``), or how the last trading run ended. ``clean_shutdown`` is
    True/False for an ended run and None while it runs (or before any run);
    ``running`` is True only while its process is alive.
    """

    open_orders: list[OrderLine]
    unresolved_orders: list[OrderLine]
    positions: list[PositionLine]
    balances: dict[str, BalanceLine]
    flags: list[FlagLine]
    last_seq: int
    clean_shutdown: bool | None
    running: bool
    run_state: RunState = "never_run"
    last_run: RunLine | None = None
    precision: dict[str, DisplayPrecision] = msgspec.field(default_factory=dict)


def _order_line(order: object) -> OrderLine:
    return msgspec.convert(order, OrderLine, from_attributes=True)


def run_kind(run: RunInfo) -> str:
    """``run`` for a trading run, else the maintenance command that wrote the marker."""
    prefix = run.run_id.split("-", 1)[0]
    return prefix if "-" in run.run_id and prefix in MAINTENANCE_RUN_KINDS else "run"


def last_trading_run(runs: list[RunInfo]) -> RunInfo | None:
    """The newest marker written by a trading run (``run``, ``journal-demo``, a Session)."""
    return next((r for r in reversed(runs) if run_kind(r) == "run"), None)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by another user
    return True


def describe_run(run: RunInfo | None) -> RunLine | None:
    """What is true of ``run`` now: running, ended cleanly or uncleanly."""
    if run is None:
        return None
    state: RunState
    if run.clean:
        state = "ended_cleanly"
    elif run.hostname != socket.gethostname():
        state = "other_host"
    elif run.pid != os.getpid() and _alive(run.pid):
        state = "running"
    else:
        state = "ended_uncleanly"
    return RunLine(state, run.run_id, run.pid, run.hostname, run.started_ns, run.stopped_ns)


def status_of_state(
    state: SessionState, *, clean_shutdown: bool | None, last_run: RunLine | None = None
) -> StatusReport:
    """Summarise ``state``; ``last_run`` is the last trading run, described."""
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
        running=last_run is not None and last_run.state == "running",
        run_state="never_run" if last_run is None else last_run.state,
        last_run=last_run,
        precision=display_precision(state),
    )


def _step(values: list[Decimal]) -> Decimal | None:
    exponents = [
        e for e in (v.normalize().as_tuple().exponent for v in values if v.is_finite())
        if isinstance(e, int)
    ]
    if not exponents:
        return None
    return Decimal(1).scaleb(min(*exponents, 0))


def display_precision(state: SessionState) -> dict[str, DisplayPrecision]:
    """Per symbol, the finest step among its orders' prices and amounts."""
    prices: dict[str, list[Decimal]] = {}
    amounts: dict[str, list[Decimal]] = {}
    for order in state.orders.values():
        if order.price is not None:
            prices.setdefault(order.symbol, []).append(order.price)
        amounts.setdefault(order.symbol, []).append(order.amount)
    return {
        symbol: DisplayPrecision(_step(prices.get(symbol, [])), _step(amounts.get(symbol, [])))
        for symbol in sorted(set(prices) | set(amounts))
    }


def session_status(store: Store) -> StatusReport:
    """Status of the session in ``store`` without changing the store."""
    state, _ = recover(store, write=False)
    runs = store.runs()
    trading = last_trading_run(runs)
    line = describe_run(trading)
    if line is not None and trading is not None:
        later = runs[runs.index(trading) + 1 :]
        line = msgspec.structs.replace(
            line, recovered_since=any(run_kind(r) == "recover" for r in later)
        )
    clean: bool | None = None
    if line is not None and line.state in ("ended_cleanly", "ended_uncleanly"):
        clean = line.state == "ended_cleanly"
    return status_of_state(state, clean_shutdown=clean, last_run=line)


def _iso(ts_ns: int | None) -> str:
    if ts_ns is None:
        return "-"
    moment = dt.datetime.fromtimestamp(ts_ns / 1e9, tz=dt.UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def run_summary(report: StatusReport) -> str:
    """One plain sentence: the session is running (pid, host), or how its last run ended."""
    run = report.last_run
    if run is None:
        return "no trading run yet"
    where = f"pid {run.pid} on {run.hostname}"
    if run.state == "running":
        return f"running now ({where}, since {_iso(run.started_ns)})"
    if run.state == "ended_cleanly":
        return f"last run ended cleanly at {_iso(run.stopped_ns)} ({where})"
    if run.state == "other_host":
        return (f"last run ({where}, started {_iso(run.started_ns)}) never closed its marker: "
                f"it is running there or ended uncleanly; check on {run.hostname}")
    recovered = "; recovered since with `tradeguard recover`" if run.recovered_since else ""
    return (f"last run ended uncleanly: killed or crashed ({where}, started "
            f"{_iso(run.started_ns)}){recovered}")

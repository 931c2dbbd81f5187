"""Reconciliation: compare the journal's state with the exchange and correct it.

Pure part (no I/O): ``ExchangeSnapshot`` (what was fetched), ``ReconcilePolicy``,
``diff`` -> ``ReconcileOutcome`` (typed discrepancies + the events that correct them),
``ingest_trades`` (trades -> fills). I/O part: ``fetch_snapshot`` through an
``ExchangeGateway`` and ``reconcile_once`` (fetch, diff, journal, report).
"""

from __future__ import annotations

from tradeguard.reconcile.diff import diff
from tradeguard.reconcile.discrepancies import (
    BalanceMismatch,
    Discrepancy,
    ExternalOrder,
    MissingFill,
    PositionMismatch,
    ReconcileOutcome,
    StateMismatch,
    Unchecked,
    UnknownResolved,
    VanishedOrder,
)
from tradeguard.reconcile.fetch import fetch_snapshot
from tradeguard.reconcile.policy import ReconcilePolicy
from tradeguard.reconcile.report import ReconcileReport
from tradeguard.reconcile.run import persist_report, reconcile_once, reconcile_state
from tradeguard.reconcile.snapshot import (
    ExchangeSnapshot,
    FetchFailure,
    OrderLookup,
    SymbolSnapshot,
    balance_key,
)
from tradeguard.reconcile.trades import decode_cursor, encode_cursor, ingest_trades

__all__ = [
    "BalanceMismatch",
    "Discrepancy",
    "ExchangeSnapshot",
    "ExternalOrder",
    "FetchFailure",
    "MissingFill",
    "OrderLookup",
    "PositionMismatch",
    "ReconcileOutcome",
    "ReconcilePolicy",
    "ReconcileReport",
    "StateMismatch",
    "SymbolSnapshot",
    "Unchecked",
    "UnknownResolved",
    "VanishedOrder",
    "balance_key",
    "decode_cursor",
    "diff",
    "encode_cursor",
    "fetch_snapshot",
    "ingest_trades",
    "persist_report",
    "reconcile_once",
    "reconcile_state",
]

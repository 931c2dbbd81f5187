"""Balance and position rules of the diff (pure): correct what is explained, flag the rest.

Balances: the exchange is the truth, so a difference beyond ``balance_tolerance`` (of
free or of locked, even when the totals agree) is always corrected (``BalanceUpdated``)
and logged as a ``BalanceMismatch``; when the total moved by more than
``large_balance_change_ratio`` of its previous value beyond what this run's fills
explain (a large deposit or withdrawal), it is also flagged.

Positions (perpetuals): compared after this run's missing fills are applied. If the
fills bring the size within ``position_tolerance`` the difference is explained: the
exchange's exact figures (size and entry price) are adopted with ``PositionCorrected``.
A size difference the fills do not explain is flagged, never silently corrected.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from tradeguard.domain.enums import FlagSeverity, MarketKind
from tradeguard.domain.events import AnyEvent, BalanceUpdated, PositionCorrected
from tradeguard.domain.flags import FLAG_ACTIONS
from tradeguard.domain.ids import Asset
from tradeguard.domain.positions import Position
from tradeguard.domain.state import SessionState
from tradeguard.exchange.reports import PositionReport
from tradeguard.reconcile.discrepancies import (
    ACTION_ALREADY_FLAGGED,
    ACTION_CORRECTED,
    ACTION_CORRECTED_AND_FLAGGED,
    ACTION_EXPLAINED,
    ACTION_FLAGGED,
    BalanceMismatch,
    Discrepancy,
    Flagger,
    PositionMismatch,
    Unchecked,
    decimal_text,
)
from tradeguard.reconcile.policy import ReconcilePolicy
from tradeguard.reconcile.snapshot import ExchangeSnapshot, balance_key

__all__ = ["check_balances", "check_positions"]

_ZERO: Final = Decimal(0)
# Exchanges round the entry price they report; a relative difference below this is the
# exchange's rounding, not a discrepancy worth a journal event every run.
_ENTRY_RELATIVE_TOLERANCE: Final = Decimal("0.000001")
_BALANCE_ACTIONS: Final = FLAG_ACTIONS["large_balance_change"]
_POSITION_ACTIONS: Final = FLAG_ACTIONS["position_mismatch"]


def _kind_of_key(key: str) -> MarketKind:
    _, sep, kind = key.partition("@")
    return MarketKind(kind) if sep else MarketKind.SPOT


def check_balances(
    working: SessionState,
    snapshot: ExchangeSnapshot,
    policy: ReconcilePolicy,
    ts_ns: int,
    explained: dict[Asset, Decimal],
    flagger: Flagger,
    found: list[Discrepancy],
    checked: list[str],
) -> list[AnyEvent]:
    """``BalanceUpdated`` for every account balance that differs from the journal's; a
    ``BalanceMismatch`` for each one the journal knew (a first-seen asset is learned).
    """
    if snapshot.balances is None:
        return []  # the failed fetch is already listed as unchecked
    checked.append("balances")
    reported: dict[Asset, tuple[Decimal, Decimal]] = {}
    for report in snapshot.balances:
        key = balance_key(report.asset, report.kind)
        free, used = reported.get(key, (_ZERO, _ZERO))
        reported[key] = (free + report.free, used + report.used)
    kinds = {_kind_of_key(key) for key in reported}
    # A journaled asset the exchange no longer lists (in an account it did report) is 0.
    for key in working.balances:
        if key not in reported and _kind_of_key(key) in kinds:
            reported[key] = (_ZERO, _ZERO)
    events: list[AnyEvent] = []
    tolerance = policy.balance_tolerance
    for key in sorted(reported):
        free, used = reported[key]
        total = free + used
        local = working.balances.get(key)
        if local is None:
            if total == _ZERO and free == _ZERO:
                continue  # an empty wallet entry says nothing
            previous, change = None, _ZERO
        else:
            if abs(local.free - free) <= tolerance and abs(local.used - used) <= tolerance:
                continue
            # A different split with equal totals is still a discrepancy: the session
            # locks what Binance locks (price x remaining quote for a buy, the base for
            # a sell), so on a healthy session free and locked agree too. A split that
            # differs means funds locked by something we do not track (an external
            # order) or released without our knowing; its total change is ~0, so it is
            # corrected and logged, never flagged.
            previous = local.total
            change = total - local.total - explained.get(key, _ZERO)
        large = previous is not None and abs(change) > tolerance and (
            abs(change) > policy.large_balance_change_ratio * abs(previous)
        )
        action, fid = ACTION_CORRECTED, None
        if large:
            fid, raised = flagger.raise_flag(
                kind="large_balance_change",
                subject=key,
                detail=decimal_text(total),
                severity=FlagSeverity.WARNING,
                symbol=None,
                message=(
                    f"{key}: balance total went from {previous} to {total} on the exchange; "
                    f"{change} of it is not explained by fills (deposit or withdrawal?)"
                ),
                actions=_BALANCE_ACTIONS,
            )
            action = ACTION_CORRECTED_AND_FLAGGED if raised else ACTION_ALREADY_FLAGGED
        events.append(
            BalanceUpdated(
                ts_ns=ts_ns,
                asset=key,
                free=free,
                used=used,
                cause=_balance_cause(previous, total, tolerance),
            )
        )
        if previous is None:
            # The first balance the session ever sees of an asset is learned, not a
            # discrepancy: there was nothing local to differ from (journaled all the same).
            continue
        found.append(
            BalanceMismatch(
                symbol=None, action=action, account=key, local_total=previous,
                exchange_free=free, exchange_used=used, exchange_total=total,
                unexplained_change=change, large=large, flag_id=fid,
            )
        )
    return events


def _balance_cause(previous: Decimal | None, total: Decimal, tolerance: Decimal) -> str:
    if previous is None:
        return "first seen on the exchange"
    if abs(total - previous) <= tolerance:
        return "exchange's split of free and locked (totals agree)"
    return "exchange balance"


def check_positions(
    before: SessionState,
    working: SessionState,
    snapshot: ExchangeSnapshot,
    policy: ReconcilePolicy,
    ts_ns: int,
    flagger: Flagger,
    found: list[Discrepancy],
    checked: list[str],
    unchecked: list[Unchecked],
) -> list[AnyEvent]:
    """``PositionCorrected`` where fills explain the difference; flags where they do not."""
    if snapshot.positions is None:
        return []
    events: list[AnyEvent] = []
    tolerance = policy.position_tolerance
    reported = {p.symbol: p for p in snapshot.positions}
    for symbol, position in working.positions.items():
        instrument = working.instruments.get(symbol)
        perpetual = instrument.kind is MarketKind.PERPETUAL if instrument else ":" in symbol
        if perpetual and symbol not in reported and position.size != _ZERO:
            unchecked.append(Unchecked(what="position", symbol=symbol,
                                       reason="the exchange reported no position for it"))
    for symbol in sorted(reported):
        report = reported[symbol]
        local = before.position(symbol)
        after = working.position(symbol)
        part = snapshot.symbols.get(symbol)
        gap = abs(report.size - after.size)
        if part is None or part.trades is None:
            if gap > tolerance:
                unchecked.append(Unchecked(
                    what="position", symbol=symbol,
                    reason="trades not fetched: cannot tell whether fills explain "
                           f"exchange size {report.size} against local {after.size}",
                ))
            continue
        checked.append(f"position:{symbol}")
        if gap <= tolerance:
            entry_off = abs(after.entry_price - report.entry_price) > (
                _ENTRY_RELATIVE_TOLERANCE * report.entry_price
            )
            moved = abs(report.size - local.size) > tolerance
            if report.size == after.size and not (entry_off and report.size != _ZERO):
                if moved:
                    found.append(_position_found(symbol, ACTION_EXPLAINED, local, after, report))
                continue
            events.append(PositionCorrected(
                ts_ns=ts_ns, symbol=symbol, size=report.size,
                entry_price=report.entry_price if report.size != _ZERO else _ZERO,
                cause="exchange figures; the size difference is explained by fills",
            ))
            found.append(_position_found(symbol, ACTION_CORRECTED, local, after, report))
            continue
        fid, raised = flagger.raise_flag(
            kind="position_mismatch",
            subject=symbol,
            detail=f"{decimal_text(report.size)}/{decimal_text(after.size)}",
            severity=FlagSeverity.WARNING,
            symbol=symbol,
            message=(
                f"{symbol}: the exchange holds {report.size}, the journal {after.size} after "
                "every fill the exchange reports; the difference is not explained by fills"
            ),
            actions=_POSITION_ACTIONS,
        )
        action = ACTION_FLAGGED if raised else ACTION_ALREADY_FLAGGED
        found.append(_position_found(symbol, action, local, after, report, fid=fid))
    return events


def _position_found(
    symbol: str,
    action: str,
    local: Position,
    after: Position,
    report: PositionReport,
    *,
    fid: str | None = None,
) -> PositionMismatch:
    return PositionMismatch(
        symbol=symbol,
        action=action,
        local_size=local.size,
        local_entry=local.entry_price,
        size_after_fills=after.size,
        exchange_size=report.size,
        exchange_entry=report.entry_price,
        explained=action in (ACTION_CORRECTED, ACTION_EXPLAINED),
        flag_id=fid,
    )

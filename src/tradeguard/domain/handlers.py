"""One handler per event type: validate into new values first, then store them.

Handlers run inside ``DECIMAL_CONTEXT`` (``SessionState.apply`` and ``apply_all`` set
it), so their arithmetic uses plain operators. A handler raises ``DomainError`` before
its first mutation, or succeeds; the state primitives it calls last (``_store_order``,
``_record_trade``) cannot fail. ``HANDLERS`` maps each event class to its handler.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from tradeguard.domain.balances import make_balance, spot_fill_moves
from tradeguard.domain.enums import MarketKind
from tradeguard.domain.events import (
    AccountBound,
    AlertFailed,
    AlertSent,
    BalanceUpdated,
    CancelRequested,
    Event,
    ExternalOrderAdopted,
    FillRecorded,
    FlagRaised,
    FlagResolved,
    HealthChanged,
    InstrumentRegistered,
    OperatorRequested,
    OrderAcknowledged,
    OrderCanceled,
    OrderExpired,
    OrderIntended,
    OrderNotPlaced,
    OrderOutcomeUnknown,
    OrderRejected,
    OrderStateCorrected,
    OrderTermsCorrected,
    PositionCorrected,
    ReconciliationReported,
    SessionStarted,
    SessionStopped,
    TradeCursorAdvanced,
    TradingPaused,
    TradingResumed,
)
from tradeguard.domain.flags import new_flag, resolve_flag
from tradeguard.domain.instruments import Instrument
from tradeguard.domain.orders import (
    acknowledge,
    adopt_external,
    cancel,
    correct,
    correct_terms,
    expire,
    mark_not_placed,
    mark_unknown,
    new_order,
    record_fill_in_context,
    reject,
    request_cancel,
)
from tradeguard.domain.pause import Pause
from tradeguard.domain.positions import apply_fill_in_context, correct_position, flat_position
from tradeguard.errors import DomainError, InvalidTransitionError

# Submodules are imported by their full names, never ``from tradeguard.domain import
# x``: that form takes the package's import lock, and a thread importing the package
# concurrently then deadlocks with us (Python hands back a half-initialised module).

if TYPE_CHECKING:
    from tradeguard.domain.state import SessionState

__all__ = ["HANDLERS"]

_ZERO = Decimal(0)


def _session_started(state: SessionState, e: SessionStarted) -> None:
    if state.session_id is not None and state.session_id != e.session_id:
        raise DomainError(
            f"session_started for session {e.session_id!r} in session {state.session_id!r}"
        )
    state.session_id = e.session_id
    state.run_id = e.run_id
    state.running = True


def _session_stopped(state: SessionState, e: SessionStopped) -> None:
    if not state.running or state.run_id != e.run_id:
        raise InvalidTransitionError(
            f"session_stopped for run {e.run_id!r}, but the running run is "
            f"{state.run_id if state.running else None!r}"
        )
    state.running = False


def _instrument_registered(state: SessionState, e: InstrumentRegistered) -> None:
    state.instruments[e.symbol] = Instrument(
        symbol=e.symbol, kind=e.kind, base=e.base, quote=e.quote, settle=e.settle
    )


def _order_intended(state: SessionState, e: OrderIntended) -> None:
    existing = state.orders.get(e.client_order_id)
    if existing is not None:
        raise DomainError(
            f"order {e.client_order_id!r} already exists ({existing.status.value}); "
            "order_intended needs a new client order id"
        )
    # A new order is PENDING_SUBMIT without an exchange id: no index or queue to touch.
    state.orders[e.client_order_id] = new_order(e)


def _order_acknowledged(state: SessionState, e: OrderAcknowledged) -> None:
    current = state.orders.get(e.client_order_id)
    if current is None:
        raise state._unknown_order(e.client_order_id, "order_acknowledged")
    order = acknowledge(current, e)
    state._check_exchange_id_free(order, "order_acknowledged")
    state._store_order(order, current)


def _order_rejected(state: SessionState, e: OrderRejected) -> None:
    current = state._existing_order(e.client_order_id, "order_rejected")
    state._store_order(reject(current, e), current)


def _order_outcome_unknown(state: SessionState, e: OrderOutcomeUnknown) -> None:
    current = state._existing_order(e.client_order_id, "order_outcome_unknown")
    state._store_order(mark_unknown(current, e), current)


def _order_not_placed(state: SessionState, e: OrderNotPlaced) -> None:
    current = state._existing_order(e.client_order_id, "order_not_placed")
    state._store_order(mark_not_placed(current, e), current)


def _cancel_requested(state: SessionState, e: CancelRequested) -> None:
    current = state.orders.get(e.client_order_id)
    if current is None:
        raise state._unknown_order(e.client_order_id, "cancel_requested")
    state._store_order(request_cancel(current, e), current)


def _order_canceled(state: SessionState, e: OrderCanceled) -> None:
    current = state.orders.get(e.client_order_id)
    if current is None:
        raise state._unknown_order(e.client_order_id, "order_canceled")
    state._store_order(cancel(current, e), current)


def _order_expired(state: SessionState, e: OrderExpired) -> None:
    current = state._existing_order(e.client_order_id, "order_expired")
    state._store_order(expire(current, e), current)


def _fill_recorded(state: SessionState, e: FillRecorded) -> None:
    symbol = e.symbol
    key = (symbol, e.trade_id)
    if key in state.seen_trades:
        raise DomainError(
            f"trade {e.trade_id!r} on {symbol} (order {e.client_order_id!r}) is already "
            "recorded; fill_recorded refused (callers dedupe by trade id)"
        )
    price, amount, fee = e.price, e.amount, e.fee
    if not (price.is_finite() and amount.is_finite() and fee.is_finite()):
        raise DomainError(f"trade {e.trade_id!r}: price, amount and fee must be finite")
    if price <= _ZERO or amount <= _ZERO:
        raise DomainError(
            f"trade {e.trade_id!r} (order {e.client_order_id!r}): price {price} and amount "
            f"{amount} must be > 0"
        )
    cid = e.client_order_id
    current = order = None
    if cid is not None:
        current = state.orders.get(cid)
        if current is None:
            raise state._unknown_order(cid, "fill_recorded")
        order = record_fill_in_context(current, e)
    position = state.positions.get(symbol)
    state.positions[symbol] = apply_fill_in_context(
        flat_position(symbol) if position is None else position,
        e.side,
        price,
        amount,
        fee,
        e.fee_asset,
        e.ts_ns,
    )
    instrument = state.instruments.get(symbol)
    if instrument is not None and instrument.kind is MarketKind.SPOT:
        # Base and quote move, the fee is paid in its asset; the order's lock is
        # released when the order is stored below.
        spot_fill_moves(
            state.balances,
            base=instrument.base,
            quote=instrument.quote,
            side=e.side,
            price=price,
            amount=amount,
            fee=fee,
            fee_asset=e.fee_asset,
            ts_ns=e.ts_ns,
        )
    # The trade goes in before the order is stored: if storing retires the order at
    # once (a retention of 0), its trade ids, this one included, go with it.
    state._record_trade(key, cid)
    if order is not None:
        state._store_order(order, current)


def _order_state_corrected(state: SessionState, e: OrderStateCorrected) -> None:
    current = state._existing_order(e.client_order_id, "order_state_corrected")
    order = correct(current, e)
    state._check_exchange_id_free(order, "order_state_corrected")
    state._store_order(order, current)


def _order_terms_corrected(state: SessionState, e: OrderTermsCorrected) -> None:
    current = state._existing_order(e.client_order_id, "order_terms_corrected")
    state._store_order(correct_terms(current, e), current)


def _external_order_adopted(state: SessionState, e: ExternalOrderAdopted) -> None:
    if e.client_order_id in state.orders:
        raise DomainError(
            f"order {e.client_order_id!r} already exists; external_order_adopted refused"
        )
    order = adopt_external(e)
    state._check_exchange_id_free(order, "external_order_adopted")
    state._store_order(order, None)


def _balance_updated(state: SessionState, e: BalanceUpdated) -> None:
    state.balances[e.asset] = make_balance(e.asset, free=e.free, used=e.used, ts_ns=e.ts_ns)


def _position_corrected(state: SessionState, e: PositionCorrected) -> None:
    current = state.positions.get(e.symbol) or flat_position(e.symbol)
    state.positions[e.symbol] = correct_position(
        current, size=e.size, entry_price=e.entry_price, ts_ns=e.ts_ns
    )


def _trade_cursor_advanced(state: SessionState, e: TradeCursorAdvanced) -> None:
    state.trade_cursors[e.symbol] = e.cursor


def _flag_raised(state: SessionState, e: FlagRaised) -> None:
    if e.flag_id in state.flags:
        raise DomainError(f"flag {e.flag_id!r} already exists; flag_raised needs a new id")
    state.flags[e.flag_id] = new_flag(e)


def _flag_resolved(state: SessionState, e: FlagResolved) -> None:
    flag = state.flags.get(e.flag_id)
    if flag is None:
        raise DomainError(f"flag {e.flag_id!r} is not known; flag_resolved refused")
    state.flags[e.flag_id] = resolve_flag(flag, e)


def _trading_paused(state: SessionState, e: TradingPaused) -> None:
    if state.paused is not None:
        raise DomainError(
            f"trading_paused: new orders are already paused (by {state.paused.by!r})"
        )
    state.paused = Pause(since_ns=e.ts_ns, by=e.by, note=e.note)


def _trading_resumed(state: SessionState, e: TradingResumed) -> None:
    if state.paused is None:
        raise DomainError("trading_resumed: new orders are not paused")
    state.paused = None


def _operator_requested(state: SessionState, e: OperatorRequested) -> None:
    # A record of who asked for what follows it; the action's own events change state.
    del state, e


def _reconciliation_reported(state: SessionState, e: ReconciliationReported) -> None:
    # A record of what a run checked and did; its corrections are events of their own.
    del state, e


def _account_bound(state: SessionState, e: AccountBound) -> None:
    # A new binding must name the one it replaces: an adoption is a decision about
    # a known account, never a silent overwrite.
    current = f"{state.account[0]}:{state.account[1]}" if state.account else ""
    if e.previous != current:
        raise DomainError(
            f"account_bound replaces {e.previous or 'no account'!r} but the session is "
            f"bound to {current or 'no account'!r}"
        )
    state.account = (e.exchange_id, e.account)


def _alert_delivered(state: SessionState, e: AlertSent | AlertFailed) -> None:
    # A record of a notification (read back to avoid sending it twice); no trading effect.
    del state, e


def _health_changed(state: SessionState, e: HealthChanged) -> None:
    # A record of the service's health for people and alerts; no trading effect.
    del state, e


HANDLERS: dict[type[Event], Callable[[SessionState, Any], None]] = {
    SessionStarted: _session_started,
    SessionStopped: _session_stopped,
    InstrumentRegistered: _instrument_registered,
    OrderIntended: _order_intended,
    OrderAcknowledged: _order_acknowledged,
    OrderRejected: _order_rejected,
    OrderOutcomeUnknown: _order_outcome_unknown,
    OrderNotPlaced: _order_not_placed,
    CancelRequested: _cancel_requested,
    OrderCanceled: _order_canceled,
    OrderExpired: _order_expired,
    FillRecorded: _fill_recorded,
    OrderStateCorrected: _order_state_corrected,
    ExternalOrderAdopted: _external_order_adopted,
    OrderTermsCorrected: _order_terms_corrected,
    BalanceUpdated: _balance_updated,
    PositionCorrected: _position_corrected,
    TradeCursorAdvanced: _trade_cursor_advanced,
    FlagRaised: _flag_raised,
    FlagResolved: _flag_resolved,
    TradingPaused: _trading_paused,
    TradingResumed: _trading_resumed,
    OperatorRequested: _operator_requested,
    ReconciliationReported: _reconciliation_reported,
    AccountBound: _account_bound,
    AlertSent: _alert_delivered,
    AlertFailed: _alert_delivered,
    HealthChanged: _health_changed,
}
"""Event class -> handler."""

"""Domain events: the only way session state changes.

Every event is a frozen, keyword-only msgspec Struct tagged by its snake_case name (the
tag is also the journal record's ``type``). ``schema_version`` is the version this build
writes; older stored versions are upgraded on read by the codec's upcasters. Changing
the fields of an event means bumping its ``schema_version`` and adding an upcaster.
"""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

import msgspec

from tradeguard.domain.enums import (
    FlagSeverity,
    MarketKind,
    OrderStatus,
    OrderType,
    Side,
)
from tradeguard.domain.ids import Asset, ClientOrderId, ExchangeOrderId, FlagId, Symbol, TradeId

__all__ = [
    "EVENT_TYPES",
    "AccountBound",
    "AlertFailed",
    "AlertSent",
    "AnyEvent",
    "BalanceUpdated",
    "CancelRequested",
    "Event",
    "ExternalOrderAdopted",
    "FillRecorded",
    "FlagRaised",
    "FlagResolved",
    "HealthChanged",
    "InstrumentRegistered",
    "OperatorRequested",
    "OrderAcknowledged",
    "OrderCanceled",
    "OrderExpired",
    "OrderIntended",
    "OrderNotPlaced",
    "OrderOutcomeUnknown",
    "OrderRejected",
    "OrderStateCorrected",
    "OrderTermsCorrected",
    "PositionCorrected",
    "ReconciliationReported",
    "SessionStarted",
    "SessionStopped",
    "TradeCursorAdvanced",
    "TradingPaused",
    "TradingResumed",
]


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", gc=False):
    """Base of all events. ``ts_ns``: when it happened, integer nanoseconds since epoch."""

    schema_version: ClassVar[int] = 1
    ts_ns: int


# --- session -------------------------------------------------------------------------


class SessionStarted(Event, frozen=True, kw_only=True, tag="session_started"):
    """A run of the session began (written at every start, clean or not)."""

    schema_version: ClassVar[int] = 1
    session_id: str
    run_id: str


class SessionStopped(Event, frozen=True, kw_only=True, tag="session_stopped"):
    """The run ``run_id`` stopped cleanly."""

    schema_version: ClassVar[int] = 1
    run_id: str


class InstrumentRegistered(Event, frozen=True, kw_only=True, tag="instrument_registered"):
    """A market the session trades; ``settle`` is the margin asset of a perpetual."""

    schema_version: ClassVar[int] = 1
    symbol: Symbol
    kind: MarketKind
    base: Asset
    quote: Asset
    settle: Asset | None = None


# --- order lifecycle -----------------------------------------------------------------


class OrderIntended(Event, frozen=True, kw_only=True, tag="order_intended"):
    """Write-ahead intent: journaled before the request leaves. -> PENDING_SUBMIT.

    The order type is ``order_type`` because ``type`` is the events' tag field.
    ``trigger_price`` is the stop price of a trigger type (stop loss, take profit).

    Version 2 (current) added ``trigger_price`` and the trigger order types; a v1
    record is upcast with no trigger (v1 knew only limit and market orders).
    """

    schema_version: ClassVar[int] = 2
    client_order_id: ClientOrderId
    symbol: Symbol
    kind: MarketKind
    side: Side
    order_type: OrderType
    amount: Decimal
    price: Decimal | None = None
    reduce_only: bool = False
    trigger_price: Decimal | None = None


class OrderAcknowledged(Event, frozen=True, kw_only=True, tag="order_acknowledged"):
    """The exchange accepted the order and gave it an id. -> OPEN."""

    schema_version: ClassVar[int] = 1
    client_order_id: ClientOrderId
    exchange_order_id: ExchangeOrderId


class OrderRejected(Event, frozen=True, kw_only=True, tag="order_rejected"):
    """The exchange answered with a definite rejection. -> REJECTED."""

    schema_version: ClassVar[int] = 1
    client_order_id: ClientOrderId
    reason: str


class OrderOutcomeUnknown(Event, frozen=True, kw_only=True, tag="order_outcome_unknown"):
    """A submit (or cancel) got no definite answer: timeout, dropped connection, 5xx."""

    schema_version: ClassVar[int] = 1
    client_order_id: ClientOrderId
    reason: str


class OrderNotPlaced(Event, frozen=True, kw_only=True, tag="order_not_placed"):
    """An UNKNOWN order is provably absent on the exchange after the grace period."""

    schema_version: ClassVar[int] = 1
    client_order_id: ClientOrderId
    reason: str


class CancelRequested(Event, frozen=True, kw_only=True, tag="cancel_requested"):
    """Write-ahead cancel: journaled before the cancel request leaves."""

    schema_version: ClassVar[int] = 1
    client_order_id: ClientOrderId


class OrderCanceled(Event, frozen=True, kw_only=True, tag="order_canceled"):
    """The exchange confirmed the order is canceled. -> CANCELED."""

    schema_version: ClassVar[int] = 1
    client_order_id: ClientOrderId
    reason: str = ""


class OrderExpired(Event, frozen=True, kw_only=True, tag="order_expired"):
    """The exchange expired the order (time in force, self-trade prevention). -> EXPIRED."""

    schema_version: ClassVar[int] = 1
    client_order_id: ClientOrderId


class FillRecorded(Event, frozen=True, kw_only=True, tag="fill_recorded"):
    """One execution. ``client_order_id`` is None for a fill of an order not ours.

    Version 2 (current): ``amount``, ``fee`` and ``fee_asset``. Version 1 stored
    ``qty`` and a combined fee string ``"<amount> <asset>"`` (see the codec's upcaster).
    """

    schema_version: ClassVar[int] = 2
    client_order_id: ClientOrderId | None
    trade_id: TradeId
    symbol: Symbol
    side: Side
    price: Decimal
    amount: Decimal
    fee: Decimal
    fee_asset: Asset
    is_maker: bool
    exchange_ts_ns: int


# --- exchange evidence (reconciliation) ----------------------------------------------


class OrderStateCorrected(Event, frozen=True, kw_only=True, tag="order_state_corrected"):
    """Exchange evidence: the order is in ``status`` with ``filled`` executed.

    Allowed from any state (the exchange's evidence wins). It does not move positions:
    missing fills are journaled as ``FillRecorded`` before the correction.
    """

    schema_version: ClassVar[int] = 1
    client_order_id: ClientOrderId
    status: OrderStatus
    filled: Decimal
    exchange_order_id: ExchangeOrderId | None = None
    average_fill_price: Decimal | None = None
    cause: str


class ExternalOrderAdopted(Event, frozen=True, kw_only=True, tag="external_order_adopted"):
    """An order found on the exchange that we did not place, now tracked as ours.

    Version 2 (current) added ``trigger_price`` (v1 records are upcast without one).
    """

    schema_version: ClassVar[int] = 2
    client_order_id: ClientOrderId
    exchange_order_id: ExchangeOrderId
    symbol: Symbol
    kind: MarketKind
    side: Side
    order_type: OrderType
    amount: Decimal
    price: Decimal | None
    status: OrderStatus
    filled: Decimal
    cause: str
    trigger_price: Decimal | None = None


class OrderTermsCorrected(Event, frozen=True, kw_only=True, tag="order_terms_corrected"):
    """Exchange evidence: the order's type, limit price or trigger price differ from
    what we journaled (a stop the exchange holds as a plain order, a moved trigger).

    The exchange's terms are adopted as they are; status and fills are untouched.
    """

    schema_version: ClassVar[int] = 1
    client_order_id: ClientOrderId
    order_type: OrderType
    price: Decimal | None
    trigger_price: Decimal | None
    cause: str


class BalanceUpdated(Event, frozen=True, kw_only=True, tag="balance_updated"):
    """The balance of one asset as the exchange reports it."""

    schema_version: ClassVar[int] = 1
    asset: Asset
    free: Decimal
    used: Decimal
    cause: str


class PositionCorrected(Event, frozen=True, kw_only=True, tag="position_corrected"):
    """Set a position's size and entry to the exchange's figures (PnL and fees kept)."""

    schema_version: ClassVar[int] = 1
    symbol: Symbol
    size: Decimal
    entry_price: Decimal
    cause: str


class TradeCursorAdvanced(Event, frozen=True, kw_only=True, tag="trade_cursor_advanced"):
    """Trades of ``symbol`` up to ``cursor`` (exchange-specific, opaque) are recorded."""

    schema_version: ClassVar[int] = 1
    symbol: Symbol
    cursor: str


# --- manual intervention -------------------------------------------------------------


class FlagRaised(Event, frozen=True, kw_only=True, tag="flag_raised"):
    """A discrepancy a person must resolve; ``actions`` are the allowed resolutions."""

    schema_version: ClassVar[int] = 1
    flag_id: FlagId
    severity: FlagSeverity
    kind: str
    symbol: Symbol | None = None
    message: str
    actions: tuple[str, ...]


class FlagResolved(Event, frozen=True, kw_only=True, tag="flag_resolved"):
    """A person resolved the flag with one of its allowed actions.

    ``by`` is who: the name of the API token (``[http] token_name``), ``cli`` for
    ``tradeguard resolve`` on a stopped session; never a credential. Version 2
    (current) added it; a v1 record is upcast with ``by`` empty (not recorded).
    """

    schema_version: ClassVar[int] = 2
    flag_id: FlagId
    action: str
    note: str = ""
    by: str = ""


class TradingPaused(Event, frozen=True, kw_only=True, tag="trading_paused"):
    """A person stopped new orders (``by``: the API token's name; ``note``: why).

    Until ``trading_resumed`` every new order is refused before anything is journaled
    or sent; cancels, fills, reconciliation and flag actions go on. Journaled, so a
    restart stays paused.
    """

    schema_version: ClassVar[int] = 1
    by: str
    note: str = ""


class TradingResumed(Event, frozen=True, kw_only=True, tag="trading_resumed"):
    """A person allowed new orders again after ``trading_paused``."""

    schema_version: ClassVar[int] = 1
    by: str
    note: str = ""


class OperatorRequested(Event, frozen=True, kw_only=True, tag="operator_requested"):
    """A person asked the running service to do ``request`` (``reconcile``), journaled
    before it runs, so the journal shows who asked for what follows. No trading effect.
    """

    schema_version: ClassVar[int] = 1
    by: str
    request: str
    detail: str = ""


class ReconciliationReported(Event, frozen=True, kw_only=True, tag="reconciliation_reported"):
    """The report of one reconciliation run (its corrections are journaled before it).

    ``complete`` False means something could not be checked (listed in ``unchecked``
    and ``failures``); nothing is claimed about it. ``found`` holds ``kind=count``.
    """

    schema_version: ClassVar[int] = 1
    complete: bool
    duration_us: int
    symbols: tuple[str, ...]
    checked: tuple[str, ...]
    unchecked: tuple[str, ...]
    failures: tuple[str, ...]
    found: tuple[str, ...]
    events_journaled: int
    first_seq: int | None = None
    last_seq: int | None = None
    flags_raised: tuple[str, ...]


class AccountBound(Event, frozen=True, kw_only=True, tag="account_bound"):
    """The session's store belongs to this exchange account (first start, or adopted).

    ``account`` is a fingerprint (a hash of the API key), never a credential.
    ``previous`` is the ``exchange_id:account`` this binding replaced when a person
    adopted a different account; empty at the first start. ``note`` says why.
    """

    schema_version: ClassVar[int] = 1
    exchange_id: str
    account: str
    previous: str = ""
    note: str = ""


# --- alerts --------------------------------------------------------------------------


class AlertSent(Event, frozen=True, kw_only=True, tag="alert_sent"):
    """An alert was delivered to every configured channel (``channels`` of them).

    Journaled so that after a crash an alert already sent is not sent again;
    ``alert_ts_ns`` is the alert's own time (with ``key`` it names the alert). It does
    not change trading state. ``title`` never carries a credential.
    """

    schema_version: ClassVar[int] = 1
    key: str
    severity: str
    title: str
    alert_ts_ns: int
    channels: int


class AlertFailed(Event, frozen=True, kw_only=True, tag="alert_failed"):
    """Delivery of an alert failed on at least one channel after its retries.

    ``error`` names the failed channels with credentials masked. No trading effect.
    """

    schema_version: ClassVar[int] = 1
    key: str
    severity: str
    title: str
    alert_ts_ns: int
    error: str


class HealthChanged(Event, frozen=True, kw_only=True, tag="health_changed"):
    """A health check's status changed (``previous`` "" on the service's first round).

    ``status``/``previous`` are ``ok``, ``warn`` or ``critical``; ``value`` is the reading
    as the check rendered it (JSON text: ``0.012``, ``true``, ``null``); ``detail`` its
    one-line explanation. A record for people and alerts: no trading effect.
    """

    schema_version: ClassVar[int] = 1
    check: str
    status: str
    previous: str
    value: str
    detail: str


AnyEvent = (
    SessionStarted
    | SessionStopped
    | InstrumentRegistered
    | OrderIntended
    | OrderAcknowledged
    | OrderRejected
    | OrderOutcomeUnknown
    | OrderNotPlaced
    | CancelRequested
    | OrderCanceled
    | OrderExpired
    | FillRecorded
    | OrderStateCorrected
    | ExternalOrderAdopted
    | OrderTermsCorrected
    | BalanceUpdated
    | PositionCorrected
    | TradeCursorAdvanced
    | FlagRaised
    | FlagResolved
    | TradingPaused
    | TradingResumed
    | OperatorRequested
    | ReconciliationReported
    | AccountBound
    | AlertSent
    | AlertFailed
    | HealthChanged
)
"""Union of every concrete event (a tagged union msgspec can decode directly)."""

_CONCRETE: tuple[type[Event], ...] = (
    SessionStarted,
    SessionStopped,
    InstrumentRegistered,
    OrderIntended,
    OrderAcknowledged,
    OrderRejected,
    OrderOutcomeUnknown,
    OrderNotPlaced,
    CancelRequested,
    OrderCanceled,
    OrderExpired,
    FillRecorded,
    OrderStateCorrected,
    ExternalOrderAdopted,
    OrderTermsCorrected,
    BalanceUpdated,
    PositionCorrected,
    TradeCursorAdvanced,
    FlagRaised,
    FlagResolved,
    TradingPaused,
    TradingResumed,
    OperatorRequested,
    ReconciliationReported,
    AccountBound,
    AlertSent,
    AlertFailed,
    HealthChanged,
)


def _tag_of(cls: type[Event]) -> str:
    tag = cls.__struct_config__.tag
    if not isinstance(tag, str):
        raise TypeError(f"{cls.__name__} has no string tag")
    return tag


EVENT_TYPES: dict[str, type[Event]] = {_tag_of(cls): cls for cls in _CONCRETE}
"""Event tag (the journal record type) -> event class."""

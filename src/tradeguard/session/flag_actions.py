"""Resolving a flag: carry out the action a person chose, then journal the resolution.

A flag offers only actions that this module can carry out (``domain.flags.FLAG_ACTIONS``
is the one list; reconciliation raises flags with these tuples). Actions that act on the
exchange, or assert something about it, need a reachable gateway; without one they are
refused and nothing is journaled. What each does:

- ``external_order`` / ``adopt``: the order is fetched by its exchange id and tracked
  as ours (``ExternalOrderAdopted``).
- ``external_order`` / ``cancel_on_exchange``: adopted as above, then canceled
  write-ahead (``CancelRequested`` journaled, the cancel sent, its outcome journaled).
  The flag is resolved only once the exchange says the order is no longer live.
- ``vanished_order`` / ``mark_canceled``: the exchange is asked once more; still no
  record of the order: it is corrected to CANCELED. Found after all: refused (the next
  reconciliation adopts the exchange's state).
- ``position_mismatch`` / ``accept_exchange_position``: the exchange's position is
  fetched and adopted (``PositionCorrected``).
- ``ignore``, ``acknowledge``, ``investigate``: a person's decision, journal only.

The ``FlagResolved`` event is journaled last, after the effect it names.
"""

from __future__ import annotations

import time
from collections.abc import MutableSet
from decimal import Decimal
from typing import Final

import msgspec

from tradeguard.domain.enums import MarketKind, OrderStatus
from tradeguard.domain.events import (
    AnyEvent,
    ExternalOrderAdopted,
    FlagResolved,
    OrderStateCorrected,
    PositionCorrected,
)
from tradeguard.domain.flags import Flag
from tradeguard.domain.ids import ClientOrderId, FlagId, Symbol
from tradeguard.domain.state import SessionState
from tradeguard.errors import DomainError, ExchangeError, OrderNotFoundError
from tradeguard.exchange.gateway import ExchangeGateway
from tradeguard.exchange.reports import OrderReport
from tradeguard.logs import get_logger
from tradeguard.session.ports import SessionJournalPort

__all__ = [
    "EXCHANGE_ACTIONS",
    "FlagActionResult",
    "carry_out_flag_action",
    "flag_resolution",
    "needs_exchange",
]

_log = get_logger("tradeguard.session.flag_actions")

EXCHANGE_ACTIONS: Final[frozenset[tuple[str, str]]] = frozenset(
    {
        ("external_order", "adopt"),
        ("external_order", "cancel_on_exchange"),
        ("vanished_order", "mark_canceled"),
        ("position_mismatch", "accept_exchange_position"),
    }
)
"""(flag kind, action) pairs that need the exchange."""


class FlagActionResult(msgspec.Struct, frozen=True, kw_only=True):
    """The resolved flag and what resolving it did, one line per step."""

    flag: Flag
    steps: tuple[str, ...]


def needs_exchange(kind: str, action: str) -> bool:
    """Whether resolving a ``kind`` flag with ``action`` needs a reachable exchange."""
    return (kind, action) in EXCHANGE_ACTIONS


def flag_resolution(
    state: SessionState, flag_id: str, action: str, note: str = "", *, by: str = ""
) -> FlagResolved:
    """The ``FlagResolved`` event for resolving ``flag_id`` with ``action``, validated
    (``by``: who, journaled with it).

    Raises ``DomainError`` naming the flag's allowed actions when the flag is unknown,
    already resolved, or ``action`` is not one it offers.
    """
    flag = state.flags.get(FlagId(flag_id))
    if flag is None:
        known = ", ".join(sorted(f.flag_id for f in state.open_flags())) or "none open"
        raise DomainError(f"no flag {flag_id!r} in this session (open flags: {known})")
    if not flag.is_open:
        raise DomainError(f"flag {flag_id!r} is already resolved ({flag.resolution_action!r})")
    if action not in flag.actions:
        raise DomainError(
            f"flag {flag_id!r} cannot be resolved with {action!r}; "
            f"allowed: {', '.join(flag.actions)}"
        )
    return FlagResolved(
        ts_ns=time.time_ns(), flag_id=FlagId(flag_id), action=action, note=note, by=by
    )


def _subject(flag: Flag) -> str:
    """What a reconciliation flag is about: its id without ``kind:`` and ``@detail``."""
    prefix = f"{flag.kind}:"
    if not flag.flag_id.startswith(prefix):
        raise DomainError(
            f"flag {flag.flag_id!r} ({flag.kind}) does not name what it is about; "
            "resolve it with a journal-only action"
        )
    return flag.flag_id[len(prefix) :].partition("@")[0]


async def carry_out_flag_action(
    service: SessionJournalPort,
    gateway: ExchangeGateway | None,
    flag_id: str,
    action: str,
    note: str = "",
    *,
    in_flight: MutableSet[str] | None = None,
    by: str = "",
) -> FlagActionResult:
    """Carry out ``action`` on flag ``flag_id``, then journal the resolution (``by``: who).

    ``gateway`` None: an action that needs the exchange is refused (``ExchangeError``,
    nothing journaled). A step that fails raises and leaves the flag open; what was
    journaled before it stays (intent and outcome of a cancel, an adoption).
    """
    flag_resolution(service.state, flag_id, action, note)
    flag = service.state.flags[FlagId(flag_id)]
    if needs_exchange(flag.kind, action):
        if gateway is None:
            raise ExchangeError(
                f"flag {flag_id}: {action!r} acts on the exchange and no exchange is "
                "reachable (give --exchange-url or configure [exchange]); nothing resolved"
            )
        try:
            await gateway.load_markets()
        except ExchangeError as exc:
            raise ExchangeError(
                f"flag {flag_id}: {action!r} needs the exchange, which did not answer "
                f"({exc}); nothing resolved"
            ) from exc
    steps: list[str] = []
    effects: list[AnyEvent] = []
    if flag.kind == "external_order" and action in ("adopt", "cancel_on_exchange"):
        assert gateway is not None
        cid = await _adopt_external(service, gateway, flag, steps)
        if cid is not None and action == "cancel_on_exchange":
            await _cancel(service, gateway, flag, cid, steps, in_flight)
    elif flag.kind == "vanished_order" and action == "mark_canceled":
        assert gateway is not None
        effects.extend(await _mark_canceled(service, gateway, flag, steps))
    elif flag.kind == "position_mismatch" and action == "accept_exchange_position":
        assert gateway is not None
        effects.extend(await _accept_position(service, gateway, flag, steps))
    else:
        steps.append(f"{action}: journal only (no exchange effect)")
    effects.append(flag_resolution(service.state, flag_id, action, note, by=by))
    await service.append(effects)
    steps.append(f"flag {flag_id} resolved with {action!r}")
    _log.info("flag resolved", flag_id=flag_id, action=action, by=by, steps=steps)
    return FlagActionResult(flag=service.state.flags[FlagId(flag_id)], steps=tuple(steps))


async def _adopt_external(
    service: SessionJournalPort, gateway: ExchangeGateway, flag: Flag, steps: list[str]
) -> ClientOrderId | None:
    """Track the flag's external order as ours; its client id, None if no longer live."""
    symbol = flag.symbol or ""
    exchange_id = _subject(flag).rpartition(":")[2]
    known = service.state.order_by_exchange_id(symbol, exchange_id)
    if known is not None:
        steps.append(f"order {exchange_id} already tracked as {known.client_order_id}")
        return None if known.is_terminal else known.client_order_id
    try:
        report = await gateway.fetch_order(symbol, exchange_order_id=exchange_id)
    except OrderNotFoundError as exc:
        raise DomainError(
            f"flag {flag.flag_id}: order {exchange_id} on {symbol} is no longer on the "
            "exchange; resolve with 'ignore'"
        ) from exc
    if not report.is_open:
        steps.append(
            f"order {exchange_id} is already {report.status.value} on the exchange; "
            "nothing to adopt or cancel"
        )
        return None
    event = _adoption(service.state, report, flag)
    await service.append([event])
    steps.append(f"order {exchange_id} adopted as {event.client_order_id}")
    return event.client_order_id


def _adoption(state: SessionState, report: OrderReport, flag: Flag) -> ExternalOrderAdopted:
    cid = report.client_order_id
    if cid is None or cid in state.orders:
        cid = ClientOrderId(f"ext:{report.symbol}:{report.exchange_order_id}")
    instrument = state.instruments.get(report.symbol)
    kind = (
        instrument.kind
        if instrument is not None
        else (MarketKind.PERPETUAL if ":" in report.symbol else MarketKind.SPOT)
    )
    return ExternalOrderAdopted(
        ts_ns=time.time_ns(),
        client_order_id=cid,
        exchange_order_id=report.exchange_order_id,
        symbol=report.symbol,
        kind=kind,
        side=report.side,
        order_type=report.type,
        amount=report.amount,
        price=report.price,
        trigger_price=report.trigger_price,
        status=report.status,
        filled=report.filled,
        cause=f"flag {flag.flag_id} resolved by a person: adopt before acting on it",
    )


async def _cancel(
    service: SessionJournalPort,
    gateway: ExchangeGateway,
    flag: Flag,
    cid: ClientOrderId,
    steps: list[str],
    in_flight: MutableSet[str] | None,
) -> None:
    # The session's own write-ahead cancel: intent journaled, sent, outcome journaled.
    from tradeguard.session.orders import OrderSender

    sender = OrderSender(service, gateway, "", in_flight=set() if in_flight is None else in_flight)
    after = await sender.cancel(cid)
    if not after.is_terminal:
        raise ExchangeError(
            f"flag {flag.flag_id}: cancel of order {after.exchange_order_id} ({cid}) on "
            f"{after.symbol} did not settle (now {after.status.value}: {after.last_reason}); "
            "the flag stays open, try again"
        )
    steps.append(f"order {after.exchange_order_id} canceled on the exchange ({after.status.value})")


async def _mark_canceled(
    service: SessionJournalPort, gateway: ExchangeGateway, flag: Flag, steps: list[str]
) -> list[AnyEvent]:
    cid = _subject(flag)
    order = service.state.order(cid)
    if order is None or order.is_terminal:
        steps.append(f"order {cid} is no longer open here; nothing to mark")
        return []
    try:
        report = await gateway.fetch_order(
            order.symbol,
            exchange_order_id=order.exchange_order_id,
            client_order_id=None if order.exchange_order_id else order.client_order_id,
        )
    except OrderNotFoundError:
        steps.append(f"exchange confirms it has no order {order.exchange_order_id or cid}")
        return [
            OrderStateCorrected(
                ts_ns=time.time_ns(),
                client_order_id=order.client_order_id,
                status=OrderStatus.CANCELED,
                filled=order.filled,
                exchange_order_id=order.exchange_order_id,
                average_fill_price=order.average_fill_price,
                cause=f"flag {flag.flag_id} resolved by a person: mark_canceled "
                "(the exchange has no record of the order)",
            )
        ]
    raise DomainError(
        f"flag {flag.flag_id}: the exchange now has order {cid} ({report.status.value}, "
        f"filled {report.filled}); not marked canceled, run `tradeguard reconcile` to adopt it"
    )


async def _accept_position(
    service: SessionJournalPort, gateway: ExchangeGateway, flag: Flag, steps: list[str]
) -> list[AnyEvent]:
    symbol = flag.symbol or _subject(flag)
    reports = [p for p in await gateway.fetch_positions([symbol]) if p.symbol == symbol]
    if not reports:
        raise ExchangeError(f"flag {flag.flag_id}: the exchange reported no position on {symbol}")
    report = reports[0]
    steps.append(f"position on {symbol} set to the exchange's {report.size} @ {report.entry_price}")
    return [
        PositionCorrected(
            ts_ns=time.time_ns(),
            symbol=Symbol(symbol),
            size=report.size,
            entry_price=report.entry_price if report.size else Decimal(0),
            cause=f"flag {flag.flag_id} resolved by a person: accept_exchange_position",
        )
    ]

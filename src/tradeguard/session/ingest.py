"""Fill ingestion: the exchange's trades become ``FillRecorded`` events, each exactly once.

Fills come only from the trade list (never from an order's ack or status), deduplicated
by (symbol, trade id) against the state, and each batch is journaled with the trade
cursor it reached, in one append: after a crash the cursor and the fills agree.

A trade whose order we cannot name yet is held back while the symbol has orders without
an exchange id (in flight, PENDING_SUBMIT or UNKNOWN): it may be one of them, and
recording it as someone else's fill would be wrong forever. The batch is retried on the
next poll, after the resolver has learned those orders' exchange ids.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

import msgspec

from tradeguard.domain.enums import OrderStatus
from tradeguard.domain.events import (
    AnyEvent,
    FillRecorded,
    OrderStateCorrected,
    TradeCursorAdvanced,
)
from tradeguard.domain.ids import ClientOrderId, Symbol
from tradeguard.domain.orders import Order
from tradeguard.domain.state import SessionState
from tradeguard.errors import DomainError, OrderNotFoundError
from tradeguard.exchange.gateway import ExchangeGateway
from tradeguard.exchange.reports import OrderReport, PageCursor, TradeReport
from tradeguard.logs import get_logger
from tradeguard.reconcile.trades import (
    decode_cursor,
    encode_cursor,
    ingest_trades,
    trade_owner,
)
from tradeguard.session.ports import SessionJournalPort

__all__ = [
    "IngestResult",
    "adopt_order_report",
    "fills_from_trades",
    "ingest_fills",
    "poll_order_status",
]

_log = get_logger("tradeguard.session.ingest")


class IngestResult(msgspec.Struct, frozen=True, kw_only=True):
    """What one ingestion pass of one symbol did."""

    symbol: str
    fills: int
    held_back: bool
    cursor_advanced: bool


def _unnamed_orders(state: SessionState, symbol: str, in_flight: Iterable[str]) -> bool:
    flying = set(in_flight)
    return any(
        o.exchange_order_id is None
        and (
            o.client_order_id in flying
            or o.status in (OrderStatus.PENDING_SUBMIT, OrderStatus.UNKNOWN)
        )
        for o in state.orders.values()
        if o.symbol == symbol
    )


def fills_from_trades(
    state: SessionState, trades: Sequence[TradeReport], *, ts_ns: int
) -> list[FillRecorded]:
    """``FillRecorded`` events for the trades not yet counted, in the exchange's order.

    Pure (works on a copy of ``state``): reconciliation's ``ingest_trades`` decides the
    owner of each trade (``trade_owner``, the one rule) and dedupes by trade id. Trades
    of orders we do not know are recorded with ``client_order_id`` None (they still
    move the position).
    """
    if all(state.has_trade(t.symbol, t.trade_id) for t in trades):
        return []
    result = ingest_trades(state.copy(), trades, ts_ns=ts_ns)
    for refused in result.refused:
        _log.error("trade refused by the state", symbol=refused.symbol, reason=refused.reason)
    return list(result.events)


async def ingest_fills(
    service: SessionJournalPort,
    gateway: ExchangeGateway,
    symbol: str,
    *,
    in_flight: Iterable[str] = (),
) -> IngestResult:
    """Fetch the trades of ``symbol`` after the journaled cursor and journal new fills.

    Exchange errors propagate (nothing was journaled); the caller retries later.
    """
    state = service.state
    try:
        cursor = decode_cursor(state.trade_cursors.get(Symbol(symbol)))
    except ValueError:
        # A cursor in another format: re-reading the history is safe (fills dedupe).
        _log.warning("trade cursor unreadable; reading trades from the start", symbol=symbol)
        cursor = PageCursor()
    page = await gateway.fetch_trades_since(symbol, cursor)
    # From here to the append there is no await: the dedupe sees the state it appends to.
    state = service.state
    unknown_owner = [
        t
        for t in page.trades
        if not state.has_trade(t.symbol, t.trade_id) and trade_owner(state, t) is None
    ]
    if unknown_owner and _unnamed_orders(state, symbol, in_flight):
        _log.info(
            "fills held back until in-flight or UNKNOWN orders are named",
            symbol=symbol,
            trades=len(unknown_owner),
        )
        return IngestResult(symbol=symbol, fills=0, held_back=True, cursor_advanced=False)
    fills = fills_from_trades(state, page.trades, ts_ns=time.time_ns())
    new_cursor = encode_cursor(page.cursor)
    events: list[AnyEvent] = list(fills)
    advanced = new_cursor != state.trade_cursors.get(Symbol(symbol))
    if advanced:
        events.append(
            TradeCursorAdvanced(ts_ns=time.time_ns(), symbol=Symbol(symbol), cursor=new_cursor)
        )
    if events:
        await service.append(events)
    if fills:
        _log.info("fills ingested", symbol=symbol, fills=len(fills))
    return IngestResult(symbol=symbol, fills=len(fills), held_back=False, cursor_advanced=advanced)


def correction_for(order: Order, report: OrderReport, *, cause: str) -> OrderStateCorrected | None:
    """The correction adopting the exchange's view of ``order``, or None if not needed yet.

    Pure. Only when our fills (from trades) add up to the exchange's filled quantity:
    fills are never taken from an order's status, so a report ahead of the trade list
    waits for the next poll. None when the state already matches.
    """
    if report.filled != order.filled:
        return None
    if order.status is report.status and order.exchange_order_id == report.exchange_order_id:
        return None
    if order.status is OrderStatus.FILLED and report.status is OrderStatus.FILLED:
        return None
    return OrderStateCorrected(
        ts_ns=time.time_ns(),
        client_order_id=ClientOrderId(order.client_order_id),
        status=report.status,
        filled=order.filled,
        exchange_order_id=report.exchange_order_id,
        average_fill_price=order.average_fill_price,
        cause=cause,
    )


async def adopt_order_report(
    service: SessionJournalPort,
    gateway: ExchangeGateway,
    client_order_id: str,
    report: OrderReport,
    *,
    cause: str,
    in_flight: Iterable[str] = (),
) -> bool:
    """Adopt what the exchange reports for one of our orders: its id, fills, status.

    The fills are read from the symbol's trades first, so the correction never invents
    them. Returns True once the local order matches the report.
    """
    order = service.state.order(client_order_id)
    if order is None:
        return False
    if report.filled != order.filled:
        flying = [c for c in in_flight if c != client_order_id]
        if order.exchange_order_id is None:
            # Name the order first (without touching its status) so its trades map to it.
            await _name_order(service, order, report, cause=cause)
        await ingest_fills(service, gateway, report.symbol, in_flight=flying)
        order = service.state.order(client_order_id)
        if order is None:  # pragma: no cover - orders are never removed while open
            return False
    event = correction_for(order, report, cause=cause)
    if event is None:
        return order.filled == report.filled
    try:
        await service.append([event])
    except DomainError as exc:
        _log.error(
            "exchange state could not be adopted", client_order_id=client_order_id, error=str(exc)
        )
        return False
    return True


async def _name_order(
    service: SessionJournalPort, order: Order, report: OrderReport, *, cause: str
) -> None:
    event = OrderStateCorrected(
        ts_ns=time.time_ns(),
        client_order_id=order.client_order_id,
        status=order.status
        if order.status not in (OrderStatus.PENDING_SUBMIT, OrderStatus.UNKNOWN)
        else OrderStatus.OPEN,
        filled=order.filled,
        exchange_order_id=report.exchange_order_id,
        average_fill_price=order.average_fill_price,
        cause=f"{cause} (exchange id learned; fills follow from trades)",
    )
    await service.append([event])


async def poll_order_status(
    service: SessionJournalPort,
    gateway: ExchangeGateway,
    symbol: str,
    *,
    in_flight: Iterable[str] = (),
) -> int:
    """Settle our OPEN/PARTIALLY_FILLED orders that left the exchange's open list.

    Each is fetched by id and its final state adopted (after its fills). An order the
    exchange does not know at all is left to reconciliation (vanished: a flag). Returns
    how many orders changed.
    """
    flying = set(in_flight)
    candidates = [
        o
        for o in service.state.open_orders(symbol)
        if o.exchange_order_id is not None and o.client_order_id not in flying
    ]
    if not candidates:
        return 0
    still_open = {r.exchange_order_id for r in await gateway.fetch_open_orders(symbol)}
    changed = 0
    for order in candidates:
        if order.exchange_order_id in still_open:
            continue
        try:
            report = await gateway.fetch_order(symbol, exchange_order_id=order.exchange_order_id)
        except OrderNotFoundError:
            _log.warning(
                "order vanished from the exchange; reconciliation decides",
                client_order_id=order.client_order_id,
            )
            continue
        if await adopt_order_report(
            service, gateway, order.client_order_id, report, cause="status poll", in_flight=flying
        ):
            changed += 1
    return changed

"""Pure trade -> fill ingestion: exchange trades become ``FillRecorded`` events.

Shared by reconciliation and by anything else that ingests trades (the session's live
trade loop): dedupe by ``(symbol, trade id)`` through ``state.has_trade``, map each
trade to our order by exchange order id, and never let a fill overfill the order.

Who owns a trade: the order the exchange says it belongs to, if we track it and the
fill still fits under ``cap`` (the exchange's own filled quantity for the order when a
report of it is at hand, else the order's amount). A trade that does not fit was
already counted in the order's ``filled`` by an earlier state correction; it is
journaled with ``client_order_id`` None so it moves the position exactly once and
leaves the order alone.

The journaled trade cursor is a string; ``encode_cursor``/``decode_cursor`` are the one
format for it (JSON of :class:`~tradeguard.exchange.reports.PageCursor`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

import msgspec

from tradeguard.domain.enums import MarketKind, Side
from tradeguard.domain.events import FillRecorded
from tradeguard.domain.ids import Asset, ClientOrderId, ExchangeOrderId, Symbol
from tradeguard.domain.state import SessionState
from tradeguard.errors import DomainError
from tradeguard.exchange.reports import PageCursor, TradeReport
from tradeguard.reconcile.discrepancies import ACTION_APPLIED, MissingFill, Unchecked
from tradeguard.reconcile.snapshot import balance_key

__all__ = [
    "IngestResult",
    "decode_cursor",
    "encode_cursor",
    "ingest_trades",
    "quote_asset",
    "trade_owner",
    "trade_to_fill",
]

_cursor_decoder = msgspec.json.Decoder(PageCursor)


def encode_cursor(cursor: PageCursor) -> str:
    """The journal form of a trade cursor (``TradeCursorAdvanced.cursor``)."""
    return msgspec.json.encode(cursor).decode()


def decode_cursor(text: str | None) -> PageCursor:
    """The cursor journaled as ``text``; None gives the start of the history.

    Raises ``ValueError`` when the text is not a cursor this build wrote.
    """
    if text is None or text == "":
        return PageCursor()
    try:
        return _cursor_decoder.decode(text)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ValueError(f"unreadable trade cursor {text!r}: {exc}") from exc


def quote_asset(symbol: str) -> Asset:
    """The quote asset of a unified symbol (``BTC/USDT`` and ``BTC/USDT:USDT``: USDT)."""
    quote = symbol.partition("/")[2].partition(":")[0]
    return Asset(quote or symbol)


def trade_to_fill(
    trade: TradeReport, client_order_id: ClientOrderId | None, *, ts_ns: int
) -> FillRecorded:
    """The ``FillRecorded`` event of one exchange trade."""
    return FillRecorded(
        ts_ns=ts_ns,
        client_order_id=client_order_id,
        trade_id=trade.trade_id,
        symbol=trade.symbol,
        side=trade.side,
        price=trade.price,
        amount=trade.amount,
        fee=trade.fee,
        # No fee reported: the fee is zero, any asset will do; the quote is the natural one.
        fee_asset=trade.fee_asset or quote_asset(trade.symbol),
        is_maker=bool(trade.is_maker),
        exchange_ts_ns=trade.ts_ns,
    )


class IngestResult(msgspec.Struct, frozen=True, kw_only=True):
    """Fills journaled (in order), their discrepancies, and trades that did not fit."""

    events: tuple[FillRecorded, ...]
    found: tuple[MissingFill, ...]
    refused: tuple[Unchecked, ...]
    net_by_symbol: dict[Symbol, Decimal]
    balance_moves: dict[Asset, Decimal]


def ingest_trades(
    working: SessionState,
    trades: Iterable[TradeReport],
    *,
    ts_ns: int,
    owners: Mapping[tuple[Symbol, ExchangeOrderId], ClientOrderId] | None = None,
    caps: Mapping[ClientOrderId, Decimal] | None = None,
) -> IngestResult:
    """Turn new trades into fills, applying each to ``working`` (which it mutates).

    ``owners`` adds exchange-id -> client-id links the state does not know yet (an
    UNKNOWN order found by client id in this snapshot); ``caps`` bounds each order's
    filled quantity. A trade already recorded is skipped; a fill the state refuses is
    reported in ``refused`` and not journaled. ``net_by_symbol`` is the signed base
    quantity the journaled fills add per symbol; ``quote_by_asset`` the change of each
    journal balance key's total they explain (spot: base, quote and fee).
    """
    owners = owners or {}
    caps = caps or {}
    events: list[FillRecorded] = []
    found: list[MissingFill] = []
    refused: list[Unchecked] = []
    net: dict[Symbol, Decimal] = {}
    moved: dict[Asset, Decimal] = {}
    for trade in trades:
        if working.has_trade(trade.symbol, trade.trade_id):
            continue
        owner = trade_owner(working, trade, owners, caps)
        event = trade_to_fill(trade, owner, ts_ns=ts_ns)
        try:
            working.apply(event)
        except DomainError as exc:
            refused.append(
                Unchecked(what="trade", symbol=trade.symbol, reason=f"{trade.trade_id}: {exc}")
            )
            continue
        events.append(event)
        found.append(
            MissingFill(
                symbol=trade.symbol,
                action=ACTION_APPLIED,
                trade_id=trade.trade_id,
                exchange_order_id=trade.exchange_order_id,
                client_order_id=owner,
                side=trade.side,
                price=trade.price,
                amount=trade.amount,
            )
        )
        signed = trade.amount if trade.side is Side.BUY else -trade.amount
        net[trade.symbol] = net.get(trade.symbol, Decimal(0)) + signed
        _explain_balances(moved, trade, signed)
    return IngestResult(
        events=tuple(events),
        found=tuple(found),
        refused=tuple(refused),
        net_by_symbol=net,
        balance_moves=moved,
    )


def trade_owner(
    working: SessionState,
    trade: TradeReport,
    owners: Mapping[tuple[Symbol, ExchangeOrderId], ClientOrderId] | None = None,
    caps: Mapping[ClientOrderId, Decimal] | None = None,
) -> ClientOrderId | None:
    """The one rule for who owns a trade: our order's client id, or None.

    The order is found by the exchange's order id (the state's, then ``owners``), else
    by the trade's client order id when the exchange reports it; it must match the
    trade's symbol and side and the fill must fit under its cap (see the module doc).
    Reconciliation and the session's live fill ingestion both decide through it.
    """
    order = working.order_by_exchange_id(trade.symbol, trade.exchange_order_id)
    if order is None and owners:
        cid = owners.get((trade.symbol, trade.exchange_order_id))
        order = None if cid is None else working.order(cid)
    if order is None and trade.client_order_id is not None:
        order = working.order(trade.client_order_id)
    if order is None or order.symbol != trade.symbol or order.side is not trade.side:
        return None
    cap = min((caps or {}).get(order.client_order_id, order.amount), order.amount)
    if order.filled + trade.amount > cap:
        return None
    return order.client_order_id


def _explain_balances(moved: dict[Asset, Decimal], trade: TradeReport, signed: Decimal) -> None:
    """Balance changes a trade explains that the state does not apply itself.

    A spot fill already moves base, quote and its fee in the state (domain.balances),
    so it explains nothing more; a perpetual trade pays its fee from the margin
    account, which the state does not model (its realized PnL is not in the report).
    """
    del signed
    settle = trade.symbol.partition(":")[2]
    if settle and trade.fee and trade.fee_asset:
        fee_key = balance_key(trade.fee_asset, MarketKind.PERPETUAL)
        moved[fee_key] = moved.get(fee_key, Decimal(0)) - trade.fee

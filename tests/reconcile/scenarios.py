"""Random but consistent (state, snapshot) pairs for the diff's property tests.

``random_scenario(seed)`` journals a few orders locally (pending, unknown, open, partly
filled, canceled), invents what the exchange did with each (more fills, a cancel, no
record at all), adds external orders, balances, positions and some failed fetches.
Everything is derived from one ``random.Random(seed)``, so a failing seed replays.
"""

from __future__ import annotations

import random
from decimal import Decimal

import msgspec

from tradeguard.domain import (
    FillRecorded,
    InstrumentRegistered,
    MarketKind,
    OrderAcknowledged,
    OrderCanceled,
    OrderIntended,
    OrderOutcomeUnknown,
    OrderStatus,
    OrderType,
    SessionState,
    Side,
)
from tradeguard.domain.events import BalanceUpdated
from tradeguard.domain.ids import Asset, ClientOrderId, ExchangeOrderId, Symbol, TradeId
from tradeguard.exchange.reports import (
    BalanceReport,
    OrderReport,
    PageCursor,
    PositionReport,
    TradeReport,
)
from tradeguard.reconcile import ExchangeSnapshot, FetchFailure, OrderLookup, SymbolSnapshot

__all__ = ["SYMBOLS", "random_scenario"]

D = Decimal
SPOT, PERP = Symbol("BTC/USDT"), Symbol("BTC/USDT:USDT")
SYMBOLS = (SPOT, PERP)
T0 = 1_700_000_000_000_000_000


class _Book:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.state = SessionState()
        self.ts = T0
        self.next_trade = {SPOT: 1, PERP: 1}
        self.next_eid = 1000
        self.trades: dict[Symbol, list[TradeReport]] = {SPOT: [], PERP: []}
        self.reports: list[OrderReport] = []
        self.lookups: list[OrderLookup] = []

    def apply(self, *events: object) -> None:
        for event in events:
            self.ts += 1
            self.state.apply(event)  # type: ignore[arg-type]

    def trade(self, symbol: Symbol, eid: str, side: Side, amount: Decimal) -> TradeReport:
        tid = self.next_trade[symbol]
        self.next_trade[symbol] += 1
        report = TradeReport(
            trade_id=TradeId(str(tid)), exchange_order_id=ExchangeOrderId(eid),
            client_order_id=None, symbol=symbol, side=side,
            price=D(60000 + self.rng.randint(-50, 50)), amount=amount,
            fee=D("0.01"), fee_asset=Asset("USDT"), is_maker=True, ts_ns=self.ts,
        )
        self.trades[symbol].append(report)
        return report

    def eid(self) -> str:
        self.next_eid += 1
        return str(self.next_eid)


def _order(book: _Book, n: int) -> None:
    rng = book.rng
    symbol = rng.choice(SYMBOLS)
    side = rng.choice((Side.BUY, Side.SELL))
    amount = D(rng.randint(1, 5)) / 100
    cid = ClientOrderId(f"tg-{n}")
    kind = MarketKind.PERPETUAL if symbol == PERP else MarketKind.SPOT
    book.apply(OrderIntended(ts_ns=book.ts, client_order_id=cid, symbol=symbol, kind=kind,
                             side=side, order_type=OrderType.LIMIT, amount=amount,
                             price=D(60000)))
    local = rng.choice(("pending", "unknown", "open", "partial", "canceled"))
    placed = local in ("open", "partial", "canceled") or rng.random() < 0.5
    eid = book.eid() if placed else None
    if local == "unknown":
        book.apply(OrderOutcomeUnknown(ts_ns=book.ts, client_order_id=cid, reason="timeout"))
    if local in ("open", "partial", "canceled") and eid is not None:
        book.apply(OrderAcknowledged(ts_ns=book.ts, client_order_id=cid,
                                     exchange_order_id=ExchangeOrderId(eid)))
    filled = D(0)
    if local == "partial" and eid is not None:
        part = amount / 2
        trade = book.trade(symbol, eid, side, part)
        book.apply(FillRecorded(
            ts_ns=book.ts, client_order_id=cid, trade_id=trade.trade_id, symbol=symbol,
            side=side, price=trade.price, amount=part, fee=trade.fee, fee_asset=Asset("USDT"),
            is_maker=True, exchange_ts_ns=trade.ts_ns,
        ))
        filled = part
    if local == "canceled":
        book.apply(OrderCanceled(ts_ns=book.ts, client_order_id=cid))
    if eid is None:
        book.lookups.append(OrderLookup(client_order_id=cid, symbol=symbol, report=None))
        return
    fate = rng.choice(("open", "more", "filled", "canceled", "vanished"))
    if fate == "vanished":
        book.lookups.append(OrderLookup(client_order_id=cid, symbol=symbol, report=None))
        return
    target = {"open": filled, "more": filled + (amount - filled) / 4, "filled": amount,
              "canceled": filled}[fate]
    if target > filled:
        book.trade(symbol, eid, side, target - filled)
    status = {"open": OrderStatus.PARTIALLY_FILLED if target else OrderStatus.OPEN,
              "more": OrderStatus.PARTIALLY_FILLED, "filled": OrderStatus.FILLED,
              "canceled": OrderStatus.CANCELED}[fate]
    report = OrderReport(
        client_order_id=cid, exchange_order_id=ExchangeOrderId(eid), symbol=symbol,
        side=side, type=OrderType.LIMIT, status=status, price=D(60000), amount=amount,
        filled=target, average=D(60000) if target else None, reduce_only=False,
        updated_ns=book.ts,
    )
    book.reports.append(report)


def random_scenario(seed: int) -> tuple[SessionState, ExchangeSnapshot]:
    """One consistent scenario; the snapshot is taken after every local event."""
    rng = random.Random(seed)
    book = _Book(rng)
    for symbol in SYMBOLS:
        perp = symbol == PERP
        book.apply(InstrumentRegistered(
            ts_ns=book.ts, symbol=symbol, kind=MarketKind.PERPETUAL if perp else MarketKind.SPOT,
            base=Asset("BTC"), quote=Asset("USDT"), settle=Asset("USDT") if perp else None,
        ))
    if rng.random() < 0.5:
        book.apply(BalanceUpdated(ts_ns=book.ts, asset=Asset("USDT"), free=D(1000), used=D(0),
                                  cause="test"))
    for n in range(rng.randint(0, 8)):
        _order(book, n)
    for _ in range(rng.randint(0, 2)):  # external orders, some with fills
        symbol = rng.choice(SYMBOLS)
        eid = book.eid()
        amount = D(rng.randint(1, 5)) / 100
        filled = amount / 2 if rng.random() < 0.5 else D(0)
        if filled:
            book.trade(symbol, eid, Side.BUY, filled)
        book.reports.append(OrderReport(
            client_order_id=rng.choice((None, ClientOrderId(f"hand-{eid}"))),
            exchange_order_id=ExchangeOrderId(eid), symbol=symbol, side=Side.BUY,
            type=OrderType.LIMIT, status=OrderStatus.PARTIALLY_FILLED if filled else
            OrderStatus.OPEN, price=D(59000), amount=amount, filled=filled,
            average=None, reduce_only=False, updated_ns=book.ts,
        ))
    net = sum((t.amount if t.side is Side.BUY else -t.amount for t in book.trades[PERP]), D(0))
    offset = rng.choice((D(0), D(0), D("0.5")))
    positions = (PositionReport(symbol=PERP, size=net + offset, entry_price=D(60000),
                                mark_price=None, unrealized_pnl=D(0), leverage=None),)
    usdt = D(rng.choice((1000, 1001, 5000)))
    balances = (
        BalanceReport(asset=Asset("USDT"), free=usdt, used=D(0), total=usdt,
                      kind=MarketKind.SPOT),
        BalanceReport(asset=Asset("BTC"), free=D(1), used=D(0), total=D(1)),
    )
    parts = {}
    failures = []
    for symbol in SYMBOLS:
        open_orders = tuple(r for r in book.reports if r.symbol == symbol and r.is_open)
        history = tuple(r for r in book.reports if r.symbol == symbol and not r.is_open)
        trades: tuple[TradeReport, ...] | None = tuple(book.trades[symbol])
        cursor: PageCursor | None = PageCursor(after_id=str(book.next_trade[symbol] - 1))
        if rng.random() < 0.15:
            trades, cursor = None, None
            failures.append(FetchFailure(what="trades", symbol=symbol, error="503",
                                         error_type="ExchangeUnavailableError"))
        parts[symbol] = SymbolSnapshot(symbol=symbol, open_orders=open_orders, orders=history,
                                       trades=trades, trade_cursor=cursor)
    snapshot = ExchangeSnapshot(
        ts_ns=book.ts + 1,
        symbols=parts,
        balances=None if rng.random() < 0.1 else balances,
        positions=None if rng.random() < 0.1 else positions,
        position_symbols=(PERP,),
        lookups=tuple(book.lookups),
        failures=tuple(failures),
    )
    if snapshot.balances is None:
        failures.append(FetchFailure(what="balances", error="x", error_type="ExchangeError"))
    if snapshot.positions is None:
        failures.append(FetchFailure(what="positions", error="x", error_type="ExchangeError"))
    return book.state, msgspec.structs.replace(snapshot, failures=tuple(failures))

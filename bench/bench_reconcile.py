"""Reconciliation benchmarks (issue 4): the pure diff, and one full run on the simulator.

(a) ``diff(state, snapshot, policy)`` on a synthetic session with 10,000 open orders
    and 1,000 perpetual positions (1,000 symbols, 10 orders each), against a matching
    ``ExchangeSnapshot`` built in memory: ``clean`` (nothing differs: the steady state
    every interval) and ``drifted`` (cancels, partial fills with missing trades,
    external orders, unexplained position changes, a balance change). Target: under
    50 ms. The outcome's discrepancy counts are reported, so a diff that silently
    stops comparing shows up as wrong counts, not as a fast figure.
(b) ``reconcile_once`` against the simulator running as its own process, with the same
    number of open orders resting there and journaled locally (placed through the admin
    API; their intents and acks appended in batches). Reports the first run (balances
    and cursors first seen), then the fetch and the diff timed apart, then a steady-state
    run. The simulator lists two perpetual markets, so the 1,000 positions are part
    (a) only.

    .venv/bin/python bench/bench_reconcile.py [--orders 10000] [--positions 1000]
        [--sim-orders 10000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_session import gateway_for, setup_logging, simulator_process, store_config
from tradeguard.app.service import LocalService
from tradeguard.domain.enums import MarketKind, OrderStatus, OrderType, Side
from tradeguard.domain.events import (
    AnyEvent,
    BalanceUpdated,
    FillRecorded,
    InstrumentRegistered,
    OrderAcknowledged,
    OrderIntended,
    TradeCursorAdvanced,
)
from tradeguard.domain.ids import Asset, ClientOrderId, ExchangeOrderId, Symbol, TradeId
from tradeguard.domain.state import SessionState
from tradeguard.exchange.reports import (
    BalanceReport,
    OrderReport,
    PageCursor,
    PositionReport,
    TradeReport,
)
from tradeguard.reconcile import (
    ExchangeSnapshot,
    ReconcileOutcome,
    ReconcilePolicy,
    SymbolSnapshot,
    diff,
    encode_cursor,
    fetch_snapshot,
    reconcile_once,
)

TARGET_DIFF_MS = 50.0
TS0 = 1_700_000_000_000_000_000
USDT = Asset("USDT")
MARGIN_KEY = Asset("USDT@perpetual")
# The drifted scenario, per 10,000 orders / 1,000 positions (scaled for small runs).
DRIFT = {"canceled": 100, "partially_filled": 50, "external": 20, "positions_off": 10}


# --- (a) the pure diff ------------------------------------------------------------------


def _symbol(index: int) -> Symbol:
    return Symbol(f"C{index:04d}/USDT:USDT")


def _side(k: int) -> Side:
    return Side.BUY if k % 2 else Side.SELL


def _price(k: int) -> Decimal:
    return Decimal(100 + k) if k % 2 else Decimal(200 + k)


def build_state(orders: int, symbols: int) -> SessionState:
    """A session holding ``orders`` open orders over ``symbols`` perpetuals, each with a
    position (one filled order) and a journaled trade cursor, plus a margin balance."""
    state = SessionState()
    seq = 0
    ts = TS0

    def apply(event: AnyEvent) -> None:
        nonlocal seq
        seq += 1
        state.apply(event, seq)

    apply(BalanceUpdated(ts_ns=ts, asset=MARGIN_KEY, free=Decimal(1_000_000),
                         used=Decimal(0), cause="bench"))
    per_symbol = max(orders // symbols, 1)
    for s in range(symbols):
        symbol = _symbol(s)
        ts += 1000
        apply(InstrumentRegistered(ts_ns=ts, symbol=symbol, kind=MarketKind.PERPETUAL,
                                   base=Asset(f"C{s:04d}"), quote=USDT, settle=USDT))
        # The position: one order filled in full.
        cid = ClientOrderId(f"pos-{s}")
        amount = Decimal(s % 7 + 1)
        apply(OrderIntended(ts_ns=ts, client_order_id=cid, symbol=symbol,
                            kind=MarketKind.PERPETUAL, side=Side.BUY,
                            order_type=OrderType.LIMIT, amount=amount, price=Decimal(150)))
        apply(OrderAcknowledged(ts_ns=ts, client_order_id=cid,
                                exchange_order_id=ExchangeOrderId(f"{s}-pos")))
        apply(FillRecorded(ts_ns=ts, client_order_id=cid, trade_id=TradeId(f"{s}-t0"),
                           symbol=symbol, side=Side.BUY, price=Decimal(150), amount=amount,
                           fee=Decimal("0.01"), fee_asset=USDT, is_maker=True,
                           exchange_ts_ns=ts))
        apply(TradeCursorAdvanced(ts_ns=ts, symbol=symbol,
                                  cursor=encode_cursor(PageCursor(after_id=f"{s}-t0"))))
        for k in range(per_symbol):
            if s * per_symbol + k >= orders:
                break
            cid = ClientOrderId(f"o-{s}-{k}")
            apply(OrderIntended(ts_ns=ts, client_order_id=cid, symbol=symbol,
                                kind=MarketKind.PERPETUAL, side=_side(k),
                                order_type=OrderType.LIMIT, amount=Decimal(1),
                                price=_price(k)))
            apply(OrderAcknowledged(ts_ns=ts, client_order_id=cid,
                                    exchange_order_id=ExchangeOrderId(f"{s}-{k}")))
    return state


def _report(state: SessionState, cid: str, **changes: Any) -> OrderReport:
    order = state.orders[ClientOrderId(cid)]
    assert order.exchange_order_id is not None
    fields: dict[str, Any] = {
        "client_order_id": order.client_order_id,
        "exchange_order_id": order.exchange_order_id,
        "symbol": order.symbol,
        "side": order.side,
        "type": order.order_type,
        "status": order.status,
        "price": order.price,
        "amount": order.amount,
        "filled": order.filled,
        "average": None,
        "reduce_only": False,
        "updated_ns": TS0,
    }
    fields.update(changes)
    return OrderReport(**fields)


def build_snapshot(state: SessionState, *, drifted: bool) -> ExchangeSnapshot:
    """The exchange's view of ``state``: identical, or with the ``DRIFT`` differences."""
    symbols = sorted(state.instruments)
    scale = len(state.open_orders()) / 10_000
    drift = {name: max(round(n * scale), 1) if drifted else 0 for name, n in DRIFT.items()}
    open_by_symbol: dict[Symbol, list[str]] = {s: [] for s in symbols}
    for order in state.open_orders():
        open_by_symbol[order.symbol].append(order.client_order_id)
    # Spread each kind of drift over different symbols, one per symbol.
    plan: dict[Symbol, str] = {}
    cursor = 0
    for drift_kind in ("canceled", "partially_filled", "external", "positions_off"):
        for _ in range(drift[drift_kind]):
            plan[symbols[cursor % len(symbols)]] = drift_kind
            cursor += 1
    parts: dict[Symbol, SymbolSnapshot] = {}
    positions = []
    for index, symbol in enumerate(symbols):
        kind = plan.get(symbol)
        cids = open_by_symbol[symbol]
        open_reports = [_report(state, cid) for cid in cids]
        history: list[OrderReport] = []
        trades: list[TradeReport] = []
        after_id = f"{index}-t0"
        size = state.position(symbol).size
        entry = state.position(symbol).entry_price
        if kind == "canceled" and open_reports:
            # Gone from the open list, in the history as CANCELED: canceled by hand.
            open_reports.pop()
            history.append(_report(state, cids[-1], status=OrderStatus.CANCELED,
                                   updated_ns=TS0 + 1))
        elif kind == "partially_filled" and open_reports:
            report = open_reports.pop()
            half = report.amount / 2
            open_reports.append(_report(state, cids[-1], status=OrderStatus.PARTIALLY_FILLED,
                                        filled=half, average=report.price))
            after_id = f"{index}-t1"
            trades.append(TradeReport(
                trade_id=TradeId(after_id), exchange_order_id=report.exchange_order_id,
                client_order_id=None, symbol=symbol, side=report.side,
                price=report.price or Decimal(1), amount=half, fee=Decimal("0.01"),
                fee_asset=USDT, is_maker=True, ts_ns=TS0))
            size += half if report.side is Side.BUY else -half
            # The fill explains the size; the exchange's entry price is adopted then.
            entry = Decimal(150)
        elif kind == "external":
            open_reports.append(OrderReport(
                client_order_id=None, exchange_order_id=ExchangeOrderId(f"{index}-ext"),
                symbol=symbol, side=Side.SELL, type=OrderType.LIMIT, status=OrderStatus.OPEN,
                price=Decimal(999), amount=Decimal(2), filled=Decimal(0), average=None,
                reduce_only=False, updated_ns=TS0))
        elif kind == "positions_off":
            size += 1  # moved by hand on the exchange: no trade explains it
        parts[symbol] = SymbolSnapshot(
            symbol=symbol, kind=MarketKind.PERPETUAL, open_orders=tuple(open_reports),
            orders=tuple(history) if history else None,
            orders_since_ns=TS0 if history else None,
            trades=tuple(trades), trade_cursor=PageCursor(after_id=after_id))
        positions.append(PositionReport(symbol=symbol, size=size, entry_price=entry,
                                        mark_price=None, unrealized_pnl=Decimal(0),
                                        leverage=None))
    margin = state.balances[MARGIN_KEY]
    free = margin.free * Decimal("1.05") if drifted else margin.free
    return ExchangeSnapshot(
        ts_ns=TS0 + 10**15,  # after every local change: nothing is "too recent" to judge
        symbols=parts,
        balances=(BalanceReport(asset=USDT, free=free, used=margin.used, total=free + margin.used,
                                kind=MarketKind.PERPETUAL),),
        positions=tuple(positions),
        position_symbols=tuple(symbols),
    )


def summarise(outcome: ReconcileOutcome) -> dict[str, Any]:
    """What a diff found, by type, with its event count and completeness."""
    found = Counter(type(d).__struct_config__.tag for d in outcome.discrepancies)
    actions = Counter(f"{type(d).__struct_config__.tag}:{d.action}" for d in outcome.discrepancies)
    return {
        "found": dict(sorted(found.items())),
        "actions": dict(sorted(actions.items())),
        "events": len(outcome.events),
        "complete": outcome.complete,
        "unchecked": len(outcome.unchecked),
    }


def bench_pure_diff(orders: int, positions: int, repeat: int) -> dict[str, Any]:
    """Time the pure diff on the clean and the drifted snapshot."""
    built = time.perf_counter()
    state = build_state(orders, positions)
    build_s = time.perf_counter() - built
    policy = ReconcilePolicy()
    result: dict[str, Any] = {
        "open_orders": len(state.open_orders()),
        "positions": sum(1 for p in state.positions.values() if not p.is_flat),
        "symbols": len(state.instruments),
        "state_build_s": round(build_s, 3),
    }
    copies = []
    for _ in range(repeat):
        began = time.perf_counter()
        state.copy()
        copies.append(time.perf_counter() - began)
    result["state_copy_p50_ms"] = round(statistics.median(copies) * 1000, 3)
    for name, drifted in (("clean", False), ("drifted", True)):
        snapshot = build_snapshot(state, drifted=drifted)
        times = []
        outcome = None
        for _ in range(repeat):
            began = time.perf_counter()
            outcome = diff(state, snapshot, policy, ts_now=snapshot.ts_ns)
            times.append(time.perf_counter() - began)
        assert outcome is not None
        p50 = statistics.median(times) * 1000
        result[name] = {
            "diff_p50_ms": round(p50, 3),
            "diff_min_ms": round(min(times) * 1000, 3),
            "diff_max_ms": round(max(times) * 1000, 3),
            "runs": repeat,
            **summarise(outcome),
            "target": f"< {TARGET_DIFF_MS:g} ms",
            "target_met": p50 < TARGET_DIFF_MS,
        }
    return result


# --- (b) the full run against the simulator -------------------------------------------


SIM_SYMBOLS = (("BTC/USDT", "BTCUSDT", Decimal("0.0001"), Decimal(50000), Decimal(70000)),
               ("ETH/USDT", "ETHUSDT", Decimal("0.002"), Decimal(2500), Decimal(3500)))


async def place_on_simulator(url: str, count: int) -> list[dict[str, Any]]:
    """Rest ``count`` limit orders on the simulator's spot book (admin API, 16 at a time)."""
    async with aiohttp.ClientSession() as http:
        # Enough of every asset that no order is refused for funds.
        for asset, amount in (("USDT", 10_000_000), ("BTC", 1000), ("ETH", 100_000)):
            async with http.post(f"{url}/_sim/deposit",
                                 json={"asset": asset, "amount": str(amount)}) as resp:
                resp.raise_for_status()

        async def one(index: int) -> dict[str, Any]:
            _, raw, amount, buy, sell = SIM_SYMBOLS[index % 2]
            side, price = ("BUY", buy) if (index // 2) % 2 else ("SELL", sell)
            body = {"market": "spot", "symbol": raw, "side": side, "type": "LIMIT",
                    "quantity": str(amount), "price": str(price),
                    "clientOrderId": f"bench-{index + 1}"}
            async with http.post(f"{url}/_sim/order", json=body) as resp:
                payload = await resp.json()
                if resp.status != 200:
                    raise RuntimeError(f"simulator refused order {index}: {payload}")
                order: dict[str, Any] = payload["order"]
                return order

        placed: list[dict[str, Any]] = []
        for start in range(0, count, 16):
            placed.extend(await asyncio.gather(
                *(one(i) for i in range(start, min(start + 16, count)))))
        return placed


async def journal_orders(service: LocalService, placed: list[dict[str, Any]]) -> None:
    """Journal an intent and an ack for every order placed, in batches of 2,000 events."""
    ts = time.time_ns() - 10**9
    batch: list[AnyEvent] = []
    for index, row in enumerate(placed):
        symbol, _, amount, _, _ = SIM_SYMBOLS[index % 2]
        cid = ClientOrderId(row["clientOrderId"])
        batch.append(OrderIntended(
            ts_ns=ts, client_order_id=cid, symbol=Symbol(symbol), kind=MarketKind.SPOT,
            side=Side(row["side"].lower()), order_type=OrderType.LIMIT, amount=amount,
            price=Decimal(row["price"])))
        batch.append(OrderAcknowledged(ts_ns=ts, client_order_id=cid,
                                       exchange_order_id=ExchangeOrderId(str(row["orderId"]))))
        if len(batch) >= 2000:
            await service.append(batch)
            batch = []
    if batch:
        await service.append(batch)


def _run_figures(report: Any) -> dict[str, Any]:
    return {
        "duration_ms": round(report.duration_ms, 1),
        "complete": report.complete,
        "orders_compared": report.orders_compared,
        "found": dict(report.found),
        "events_journaled": report.events_journaled,
        "flags_raised": len(report.flags_raised),
        "unchecked": len(report.unchecked),
    }


async def bench_full(url: str, base: Path, count: int) -> dict[str, Any]:
    """Place, journal, then reconcile against the simulator (gateway: spot + linear)."""
    placed_at = time.perf_counter()
    placed = await place_on_simulator(url, count)
    place_s = time.perf_counter() - placed_at
    config = store_config(base)
    service = await LocalService.start(config, config.storage.url, backup_dir=base / "backups")
    gateway = gateway_for(url, markets=("spot", "linear"))
    try:
        for symbol, *_ in SIM_SYMBOLS:
            await service.append([InstrumentRegistered(
                ts_ns=time.time_ns(), symbol=Symbol(symbol), kind=MarketKind.SPOT,
                base=Asset(symbol.split("/")[0]), quote=USDT)])
        await journal_orders(service, placed)
        policy = ReconcilePolicy()
        first = await reconcile_once(service, gateway, policy)
        began = time.perf_counter()
        snapshot = await fetch_snapshot(gateway, service.state)
        fetch_ms = (time.perf_counter() - began) * 1000
        began = time.perf_counter()
        outcome = diff(service.state, snapshot, policy, ts_now=time.time_ns())
        diff_ms = (time.perf_counter() - began) * 1000
        steady = await reconcile_once(service, gateway, policy)
        open_local = len(service.state.open_orders())
    finally:
        await gateway.close()
        await service.close()
    return {
        "orders_on_simulator": len(placed),
        "open_orders_local": open_local,
        "placing_s": round(place_s, 2),
        "first_run": _run_figures(first),
        "fetch_ms": round(fetch_ms, 1),
        "diff_ms": round(diff_ms, 2),
        "diff_outcome": summarise(outcome),
        "steady_run": _run_figures(steady),
        "note": "the simulator lists 2 perpetual markets: positions are benchmarked in "
                "the pure diff only",
    }


def main() -> None:
    """Run both parts and print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--positions", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--sim-orders", type=int, default=10_000)
    parser.add_argument("--dir", default=None)
    args = parser.parse_args()
    result: dict[str, Any] = {"pure_diff": bench_pure_diff(args.orders, args.positions,
                                                           args.repeat)}
    base = Path(tempfile.mkdtemp(prefix="tg-bench-reconcile-", dir=args.dir))
    setup_logging(base)  # as `tradeguard run` logs
    try:
        if args.sim_orders > 0:
            with simulator_process() as url:
                result["full_reconcile_sim"] = asyncio.run(
                    bench_full(url, base, args.sim_orders))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

"""Restart to ready (issue 4): a session with 1,000,000 journaled events, 1,000 open orders.

Build (not timed): the simulator runs as its own process; the 1,000 orders that stay
open in ``flow.event_stream`` are placed there first (USD-M BTCUSDT, far from the mark
so they rest, with the stream's client order ids), so that the journal and the exchange
agree. The journal is then written the fast way ``bench_store.fill_store`` does (batches
of 5,000 events, a snapshot every 10,000), with the stream's exchange ids replaced by the
simulator's; the exchange gets the same net position by hand and the journal a trade
cursor after that trade. A restart therefore finds nothing to correct but balances it
has never seen: the common case.

Timed: ``Session.open`` in a fresh process (``--child``), from the start of local
recovery to a ready session (recovery, markets, reconciliation against the simulator,
UNKNOWN resolution, fill and status polls, trade recovery). Three restarts: right after
the build, after a clean close, and after a crash (the process exits without closing).
Each reports local recovery and reconciliation apart; ``process_wall_s`` adds the
interpreter, imports and the clean close. Target: ``session_open_s`` under 2 s. The
store's pages are in the OS cache (just written): a cold disk adds its read time.

Issue 7's checks are reported apart (``startup_checks``): every local recovery step's
own duration (``file`` is ``PRAGMA quick_check``), and the WAL frame scan that opening
the store runs, timed once more on the same WAL just before ``Session.open`` (a pure
read; the pages are cached either way). On code without these checks the keys are
absent or null, so the same script measures the code before issue 7.

    .venv/bin/python bench/bench_restart.py [--events 1000000] [--open-orders 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_session import gateway_for, setup_logging, simulator_process, store_config
from flow import SYMBOL, event_stream
from tradeguard.domain.enums import OrderStatus
from tradeguard.domain.events import (
    AnyEvent,
    OrderAcknowledged,
    OrderIntended,
    TradeCursorAdvanced,
)
from tradeguard.domain.ids import ClientOrderId, ExchangeOrderId
from tradeguard.domain.state import SessionState
from tradeguard.exchange.reports import PageCursor
from tradeguard.reconcile import encode_cursor
from tradeguard.session import Session, SessionSettings
from tradeguard.storage import open_store
from tradeguard.storage.codec import encode_event, encode_state

TARGET_OPEN_S = 2.0
SESSION_ID = "bench"
SIM_SYMBOL = "BTCUSDT"
OPEN_AMOUNT_FLOOR = Decimal("0.003")  # 0.003 x 40,000 clears USD-M's 100 USDT minimum
BUY_PRICE, SELL_PRICE = Decimal(40000), Decimal(80000)


# --- build ------------------------------------------------------------------------------


class OpenOrder(msgspec.Struct, frozen=True):
    """One order that stays open, as placed on the simulator."""

    exchange_order_id: ExchangeOrderId
    price: Decimal
    amount: Decimal


async def _admin(http: aiohttp.ClientSession, url: str, action: str, body: Any) -> Any:
    async with http.post(f"{url}/_sim/{action}", json=body) as resp:
        payload = await resp.json()
        if resp.status != 200:
            raise RuntimeError(f"simulator refused {action} {body}: {payload}")
        return payload


async def place_open_orders(url: str, open_orders: int) -> dict[ClientOrderId, OpenOrder]:
    """Place the stream's resting orders on the simulator; their ids by client id."""
    intents = [e for e in event_stream(2 * open_orders + 1, seed=3, open_orders=open_orders)
               if isinstance(e, OrderIntended)]
    placed: dict[ClientOrderId, OpenOrder] = {}
    async with aiohttp.ClientSession() as http:
        await _admin(http, url, "deposit",
                     {"asset": "USDT", "amount": "10000000", "market": "usdm"})

        async def one(intent: OrderIntended) -> None:
            price = BUY_PRICE if intent.side.value == "buy" else SELL_PRICE
            amount = max(intent.amount, OPEN_AMOUNT_FLOOR)
            answer = await _admin(http, url, "order", {
                "market": "usdm", "symbol": SIM_SYMBOL, "side": intent.side.value.upper(),
                "type": "LIMIT", "quantity": str(amount), "price": str(price),
                "clientOrderId": intent.client_order_id})
            placed[intent.client_order_id] = OpenOrder(
                ExchangeOrderId(str(answer["order"]["orderId"])), price, amount)

        for start in range(0, len(intents), 16):
            await asyncio.gather(*(one(i) for i in intents[start:start + 16]))
    return placed


def journal_stream(
    events: int, open_orders: int, placed: dict[ClientOrderId, OpenOrder]
) -> Iterator[AnyEvent]:
    """``flow.event_stream`` with the simulator's ids and prices on the open orders.

    Closed orders get exchange ids the simulator never hands out (``h<n>``), so no
    local order can be mistaken for one resting there.
    """
    for event in event_stream(events, seed=3, open_orders=open_orders):
        if isinstance(event, OrderIntended) and event.client_order_id in placed:
            rest = placed[event.client_order_id]
            yield msgspec.structs.replace(event, price=rest.price, amount=rest.amount)
        elif isinstance(event, OrderAcknowledged):
            rest_or_none = placed.get(event.client_order_id)
            exchange_id = (rest_or_none.exchange_order_id if rest_or_none is not None
                           else ExchangeOrderId(f"h{event.exchange_order_id}"))
            yield msgspec.structs.replace(event, exchange_order_id=exchange_id)
        else:
            yield event


def fill_journal(url: str, events: Iterable[AnyEvent], *, snapshot_every: int) -> SessionState:
    """Append ``events`` in batches of 5,000 with a snapshot every ``snapshot_every``
    (``bench_store.fill_store``'s fast path); returns the state they build."""
    store = open_store(url, session_id=SESSION_ID)
    try:
        epoch = store.advance_epoch()
        state = SessionState()
        batch = []
        seq = store.last_seq()
        for event in events:
            seq += 1
            batch.append(encode_event(event))
            state.apply(event, seq)
            if len(batch) == 5000:
                store.append(batch, epoch=epoch)
                batch = []
            if seq % snapshot_every == 0:
                if batch:
                    store.append(batch, epoch=epoch)
                    batch = []
                version, payload = encode_state(state)
                store.save_snapshot(seq, version, payload, keep=3)
        if batch:
            store.append(batch, epoch=epoch)
        return state
    finally:
        store.close()


async def match_position(url: str, state: SessionState) -> AnyEvent | None:
    """Give the simulator the journal's net position (one trade by hand); returns the
    trade cursor event that tells the journal this trade is already counted."""
    position = state.position(SYMBOL)
    if position.size == 0:
        return None
    async with aiohttp.ClientSession() as http:
        answer = await _admin(http, url, "trade", {
            "market": "usdm", "symbol": SIM_SYMBOL,
            "side": "BUY" if position.size > 0 else "SELL",
            "quantity": str(abs(position.size)),
            "price": str(position.entry_price.quantize(Decimal("0.1")))})
    last_trade = max(int(t["id"]) for t in answer["trades"])
    return TradeCursorAdvanced(ts_ns=time.time_ns(), symbol=SYMBOL,
                               cursor=encode_cursor(PageCursor(after_id=str(last_trade))))


async def build(url: str, base: Path, events: int, open_orders: int) -> dict[str, Any]:
    """Place the open orders, write the journal, match the position."""
    began = time.perf_counter()
    placed = await place_open_orders(url, open_orders)
    data_url = store_config(base, SESSION_ID).storage.url
    state = await asyncio.to_thread(
        fill_journal, data_url, journal_stream(events, open_orders, placed),
        snapshot_every=10_000)
    cursor = await match_position(url, state)
    if cursor is not None:
        fill_journal(data_url, [cursor], snapshot_every=10_000)
    return {
        "journaled_events": state.last_seq + (cursor is not None),
        # Counted apart: the stream may end between an order's intent and its ack,
        # leaving an intent without outcome that the first restart must resolve.
        "open_orders_local": len(state.orders_by_status(OrderStatus.OPEN)),
        "intents_without_outcome": len(state.orders_by_status(OrderStatus.PENDING_SUBMIT)),
        "open_orders_on_simulator": len(placed),
        "orders_in_state": len(state.orders),
        "position": str(state.position(SYMBOL).size),
        "build_s": round(time.perf_counter() - began, 1),
    }


# --- the timed restart (child process) ---------------------------------------------------


def time_wal_scan(base: Path) -> dict[str, Any]:
    """The WAL frame scan that opening the store runs, timed on its own (issue 7)."""
    try:
        from tradeguard.storage.walcheck import scan_wal
    except ImportError:  # code from before the WAL check
        return {"wal_scan_ms": None}
    wals = sorted((base / "data").glob("*-wal"))
    if not wals:
        return {"wal_scan_ms": 0.0, "wal_bytes": 0}
    began = time.perf_counter()
    scan_wal(wals[0])
    return {"wal_scan_ms": round((time.perf_counter() - began) * 1000, 2),
            "wal_bytes": wals[0].stat().st_size}


async def restart(base: Path, url: str, crash: bool) -> dict[str, Any]:
    """Open the session (timed), then close it, or exit as a crash would."""
    config = store_config(base, SESSION_ID)
    gateway = gateway_for(url, markets=("linear",))
    checks = time_wal_scan(base)
    began = time.perf_counter()
    session = await Session.open(
        config, gateway=gateway, settings=SessionSettings(symbols=(SYMBOL,)), background=False)
    open_s = time.perf_counter() - began
    startup = session.startup
    assert startup is not None
    rec = session.service.recovery
    figures = {
        "session_open_s": round(open_s, 3),
        "local_recovery_ms": round(rec.duration_ms, 1),
        "snapshot_seq": rec.snapshot_seq,
        "replayed_events": rec.replayed_events,
        "unclean_shutdown": rec.unclean_shutdown,
        "reconcile_ms": round(startup.reconcile.duration_ms, 1),
        "reconcile_complete": startup.reconcile.complete,
        "reconcile_found": (dict(startup.reconcile.report.found)
                            if startup.reconcile.report is not None else None),
        "flags_raised": startup.reconcile.flags_raised,
        "open_orders": len(session.open_orders()),
        "last_seq": session.state.last_seq,
        "target_met": open_s < TARGET_OPEN_S,
    }
    steps = {step.name: round(step.duration_ms, 2) for step in getattr(rec, "steps", [])}
    checks["recovery_steps_ms"] = steps
    checks["quick_check_ms"] = steps.get("file")
    figures["startup_checks"] = checks
    if crash:
        print(json.dumps(figures), flush=True)
        os._exit(0)  # no close: no SessionStopped, no final snapshot, as after SIGKILL
    began = time.perf_counter()
    await session.close()
    await gateway.close()
    figures["close_s"] = round(time.perf_counter() - began, 3)
    return figures


def run_child(base: Path, url: str, *, crash: bool) -> dict[str, Any]:
    """One restart in a fresh interpreter; its figures plus the process's wall time."""
    command = [sys.executable, __file__, "--child", "--base", str(base), "--sim", url]
    if crash:
        command.append("--crash")
    began = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)
    wall = time.perf_counter() - began
    if done.returncode != 0 or not done.stdout.strip():
        raise RuntimeError(f"restart child failed ({done.returncode}): {done.stderr[-2000:]}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    figures["process_wall_s"] = round(wall, 3)
    return figures


def main() -> None:
    """Build the session, restart it three times, print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--open-orders", type=int, default=1_000)
    parser.add_argument("--dir", default=None)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--crash", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--base", help=argparse.SUPPRESS)
    parser.add_argument("--sim", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        base = Path(args.base)
        setup_logging(base)
        print(json.dumps(asyncio.run(restart(base, args.sim, args.crash))))
        return
    base = Path(tempfile.mkdtemp(prefix="tg-bench-restart-", dir=args.dir))
    try:
        with simulator_process() as url:
            result: dict[str, Any] = {"build": asyncio.run(
                build(url, base, args.events, args.open_orders))}
            runs = {
                "after_build": run_child(base, url, crash=False),
                "after_clean_close": run_child(base, url, crash=True),
                "after_crash": run_child(base, url, crash=False),
            }
    finally:
        shutil.rmtree(base, ignore_errors=True)
    result["restarts"] = runs
    opens = [r["session_open_s"] for r in runs.values()]
    result["session_open_s_max"] = max(opens)
    result["session_open_s_median"] = statistics.median(opens)
    result["target"] = f"session_open_s < {TARGET_OPEN_S:g} s"
    result["target_met"] = max(opens) < TARGET_OPEN_S
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

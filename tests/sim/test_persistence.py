"""The simulator's state file: round trip, restart over HTTP, SIGKILL, corruption."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import urllib.request
import zlib
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simfixtures import make_ccxt
from tradeguard.errors import SimulatorRejectionError, SimulatorStateError
from tradeguard.sim import Engine, SimulatorConfig, SimulatorThread
from tradeguard.sim.persistence import (
    capture_state,
    decode_state,
    encode_state,
    read_state_file,
    restore_engine,
    write_state_file,
)

D = Decimal
NOW = 1_700_000_000_000

# --- engine state round trip (pure) ----------------------------------------------------

# One engine operation: (kind, venue, symbol, side, qty steps, price offset in ticks).
_op = st.tuples(
    st.sampled_from(["limit", "limit", "market", "cancel", "price", "walk", "deposit"]),
    st.sampled_from(["spot", "usdm"]),
    st.sampled_from(["BTCUSDT", "ETHUSDT"]),
    st.sampled_from(["BUY", "SELL"]),
    st.integers(min_value=1, max_value=40),
    st.integers(min_value=-300, max_value=300),
)


def _apply(engine: Engine, op: tuple[str, str, str, str, int, int], now: int) -> None:
    """Apply one generated operation; refusals are part of the exchange's behaviour."""
    kind, venue, symbol, side, steps, offset = op
    market = engine.market(venue, symbol)
    mark = engine.prices[market.key]
    qty = market.min_qty * steps * (10 if market.symbol == "BTCUSDT" and venue == "spot" else 1)
    price = max(mark + market.tick_size * offset * 100, market.min_price)
    price = (price / market.tick_size).to_integral_value() * market.tick_size
    with contextlib.suppress(SimulatorRejectionError):
        if kind == "limit":
            engine.place_order(
                venue, symbol, side=side, order_type="LIMIT", quantity=qty, price=price,
                time_in_force="GTC", client_order_id=f"c{steps}", now_ms=now,
            )
        elif kind == "market":
            engine.place_order(
                venue, symbol, side=side, order_type="MARKET", quantity=qty, price=None,
                time_in_force=None, client_order_id=None, now_ms=now,
            )
        elif kind == "cancel":
            open_orders = engine.list_open_orders(venue, None)
            if open_orders:
                victim = open_orders[steps % len(open_orders)]
                engine.cancel_order(venue, victim.symbol, victim.order_id, None, now)
        elif kind == "price":
            engine.set_price(market.key, price, now)
        elif kind == "walk":
            for _ in range(steps % 5 + 1):
                engine.step_random_walk(now)
        else:
            engine.adjust_balance(venue, "USDT", D(offset), now)


def _encoded(engine: Engine) -> bytes:
    return encode_state(capture_state(engine, clock_skew_ms=7, now_ms=NOW))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    before=st.lists(_op, max_size=25), after=st.lists(_op, max_size=10),
    seed=st.integers(0, 3), volatility=st.sampled_from(["0.0005", "0.01"]),
)
def test_restored_engine_is_the_same_exchange(
    before: list[Any], after: list[Any], seed: int, volatility: str
) -> None:
    config = SimulatorConfig(
        seed=seed, tick_interval_ms=0, volatility=D(volatility),
        depth_per_tick_quote=D(2000),  # small depth: partial fills happen
    )
    live = Engine(config)
    for i, op in enumerate(before):
        _apply(live, op, NOW + i)
    saved = _encoded(live)
    state = decode_state(saved)
    assert state.clock_skew_ms == 7
    restored = restore_engine(config, state)
    assert _encoded(restored) == saved
    # Same future too: the random walks, id counters and indexes continue identically.
    for i, op in enumerate(after):
        _apply(live, op, NOW + 1000 + i)
        _apply(restored, op, NOW + 1000 + i)
    assert _encoded(restored) == _encoded(live)


def test_history_is_cut_but_open_orders_are_always_kept() -> None:
    engine = Engine(SimulatorConfig(tick_interval_ms=0))
    placed = []
    for i in range(6):
        order, _ = engine.place_order(
            "spot", "BTCUSDT", side="BUY", order_type="LIMIT", quantity=D("0.001"),
            price=D(50000 + i), time_in_force="GTC", client_order_id=f"o{i}", now_ms=NOW,
        )
        placed.append(order)
    for order in placed[1:5]:
        engine.cancel_order("spot", "BTCUSDT", order.order_id, None, NOW)
    for _ in range(3):
        engine.place_order(
            "spot", "BTCUSDT", side="BUY", order_type="MARKET", quantity=D("0.001"),
            price=None, time_in_force=None, client_order_id=None, now_ms=NOW,
        )
    state = capture_state(engine, clock_skew_ms=0, now_ms=NOW, keep_closed_orders=2,
                          keep_trades=2)
    kept = [o.client_order_id for o in state.orders]
    # o0 and o5 are open (kept however old); of 7 closed orders only the newest 2 stay.
    assert kept[:2] == ["o0", "o5"]
    assert len(kept) == 4
    assert {o.order_id for o in state.orders[2:]} == {
        o.order_id for o in list(engine.orders["spot"].values())[-2:]
    }
    assert [t.trade_id for t in state.trades] == [
        t.trade_id for t in engine.trades["spot:BTCUSDT"][-2:]
    ]
    restored = restore_engine(engine.config, decode_state(encode_state(state)))
    assert restored.next_order_id == engine.next_order_id
    assert restored.spot.locked == engine.spot.locked
    assert {o.client_order_id for o in restored.list_open_orders("spot", None)} == {"o0", "o5"}


# --- corrupt files ----------------------------------------------------------------------


def _good_file(tmp_path: Path) -> Path:
    engine = Engine(SimulatorConfig(tick_interval_ms=0))
    engine.place_order(
        "spot", "BTCUSDT", side="BUY", order_type="LIMIT", quantity=D("0.001"),
        price=D(50000), time_in_force="GTC", client_order_id="keep-me", now_ms=NOW,
    )
    path = tmp_path / "state.json"
    write_state_file(path, _encoded(engine))
    return path


def test_corrupt_state_file_is_a_clear_error_naming_it(tmp_path: Path) -> None:
    path = _good_file(tmp_path)
    good = path.read_bytes()
    assert read_state_file(path) is not None
    assert read_state_file(tmp_path / "missing.json") is None
    # The price of the order is inside the checksummed body: change one digit.
    at = good.index(b'"price":"50000"') + len(b'"price":"5')
    cases = {
        b"\x00garbage": "corrupt",
        good[: len(good) // 2]: "corrupt",
        good[:at] + b"9" + good[at + 1:]: "checksum",
        good.replace(b'"version":1', b'"version":99', 1): "version 99",
        good.replace(b"tradeguard-sim-state", b"something-else", 1): "not a simulator state",
    }
    for data, words in cases.items():
        path.write_bytes(data)
        with pytest.raises(SimulatorStateError) as exc:
            read_state_file(path)
        assert str(path) in str(exc.value)
        assert words in str(exc.value)
        # A simulator never starts over a corrupt file, and never overwrites it.
        with pytest.raises(SimulatorStateError):
            SimulatorThread(
                SimulatorConfig(tick_interval_ms=0, state_path=str(path))
            ).start()
        assert path.read_bytes() == data


def test_state_of_unknown_markets_is_refused(tmp_path: Path) -> None:
    path = _good_file(tmp_path)
    doc = msgspec.json.decode(path.read_bytes())
    doc["state"]["prices"]["spot:DOGEUSDT"] = "0.1"
    body = msgspec.json.encode(doc["state"])
    # A well-formed file (right checksum) that names a market this build does not have.
    path.write_bytes(msgspec.json.encode(
        {**doc, "crc32": zlib.crc32(body), "state": msgspec.Raw(body)}
    ))
    state = decode_state(path.read_bytes(), str(path))
    with pytest.raises(SimulatorStateError, match="DOGEUSDT") as exc:
        restore_engine(SimulatorConfig(), state, str(path))
    assert str(path) in str(exc.value)


def test_unreadable_or_unwritable_state_path_fails_at_start(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with pytest.raises(SimulatorStateError, match="cannot read simulator state file"):
        SimulatorThread(SimulatorConfig(state_path=str(blocker / "state.json"))).start()
    # Readable (no file yet) but the temporary file cannot be written: the first save,
    # made at start, fails before any order could be accepted.
    (tmp_path / ".state.json.tmp").mkdir()
    with pytest.raises(SimulatorStateError, match="cannot save simulator state"):
        SimulatorThread(SimulatorConfig(state_path=str(tmp_path / "state.json"))).start()
    assert not (tmp_path / "state.json").exists()


async def test_failed_save_answers_500_and_the_next_save_keeps_the_order(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.json"
    with _simulator(path) as sim:
        spot = make_ccxt(sim.url, "binance")
        try:
            await spot.load_markets()
            (tmp_path / ".state.json.tmp").mkdir()
            with pytest.raises(ccxt.OperationFailed):
                await spot.create_order(
                    "BTC/USDT", "limit", "buy", 0.01, 55000, {"newClientOrderId": "unsaved"}
                )
            state = read_state_file(path)
            assert state is not None
            assert state.orders == []
            (tmp_path / ".state.json.tmp").rmdir()
            await spot.create_order("BTC/USDT", "limit", "buy", 0.01, 54000)
        finally:
            await spot.close()
    state = read_state_file(path)
    assert state is not None
    # The 500 was an ambiguous outcome: the order lives, and is saved with the next change.
    assert state.orders[0].client_order_id == "unsaved"


# --- a restarted simulator over HTTP ----------------------------------------------------


@contextlib.contextmanager
def _simulator(path: Path) -> Iterator[SimulatorThread]:
    with SimulatorThread(SimulatorConfig(seed=3, tick_interval_ms=0,
                                         state_path=str(path))) as sim:
        yield sim


def _ground_truth(sim: SimulatorThread) -> dict[str, Any]:
    state = sim.state()
    state.pop("time")
    return state


async def test_restarted_simulator_keeps_orders_balances_positions(tmp_path: Path) -> None:
    path = tmp_path / "sim" / "state.json"
    with _simulator(path) as sim:
        spot = make_ccxt(sim.url, "binance")
        usdm = make_ccxt(sim.url, "binanceusdm")
        try:
            await spot.load_markets()
            await usdm.load_markets()
            resting = await spot.create_order(
                "BTC/USDT", "limit", "buy", 0.01, 55000, {"newClientOrderId": "rest-1"}
            )
            await spot.create_order("ETH/USDT", "market", "sell", 0.5)
            await usdm.create_order("BTC/USDT:USDT", "market", "buy", 0.01)
            await usdm.create_order("BTC/USDT:USDT", "limit", "sell", 0.02, 65000,
                                    {"newClientOrderId": "perp-1"})
        finally:
            await spot.close()
            await usdm.close()
        before = _ground_truth(sim)
    assert before["open_orders"]
    assert before["usdm"]["positions"][0]["positionAmt"] == "0.01"
    with _simulator(path) as sim:
        assert _ground_truth(sim) == before
        spot = make_ccxt(sim.url, "binance")
        try:
            await spot.load_markets()
            found = await spot.fetch_order(resting["id"], "BTC/USDT")
            assert found["clientOrderId"] == "rest-1"
            assert found["status"] == "open"
            # Funds stay locked by the remembered order; new ids never repeat old ones.
            balance = await spot.fetch_balance()
            assert D(str(balance["USDT"]["used"])) > 0
            again = await spot.create_order("BTC/USDT", "limit", "buy", 0.01, 54000)
            spot_ids = [o["orderId"] for o in before["orders"] if o["market"] == "spot"]
            assert int(again["id"]) > max(spot_ids)
            await spot.cancel_order(resting["id"], "BTC/USDT")
        finally:
            await spot.close()
        after = _ground_truth(sim)
    # The cancel was saved before it was answered.
    state = read_state_file(path)
    assert state is not None
    statuses = {o.client_order_id: o.status for o in state.orders}
    assert statuses["rest-1"] == "CANCELED"
    assert len(after["orders"]) == len(before["orders"]) + 1


# --- SIGKILL of the `tradeguard sim` process ---------------------------------------------


def _start_sim(path: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tradeguard", "sim", "--tick-interval-ms", "0",
         "--state-file", str(path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline().strip()
    if not first.startswith("listening on "):
        proc.kill()
        _, err = proc.communicate(timeout=30)
        pytest.fail(f"sim did not start: {first!r} {err}")
    return proc, first.removeprefix("listening on ")


def _admin(url: str, method: str, action: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{url}/_sim/{action}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


async def test_sigkill_never_forgets_an_acknowledged_or_ambiguous_order(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    proc, url = _start_sim(path)
    try:
        spot = make_ccxt(url, "binance")
        try:
            await spot.load_markets()
            acked = await spot.create_order(
                "BTC/USDT", "limit", "buy", 0.01, 55000, {"newClientOrderId": "acked-1"}
            )
            # The ambiguous submit: processed, then the connection dropped.
            _admin(url, "POST", "faults",
                   {"path": "/api/v3/order", "method": "POST", "action": "process_then_fail"})
            with pytest.raises(ccxt.NetworkError):
                await spot.create_order(
                    "BTC/USDT", "limit", "buy", 0.01, 54000, {"newClientOrderId": "lost-1"}
                )
        finally:
            await spot.close()
        # Killed at once, with no chance to save at shutdown.
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)
    proc, url = _start_sim(path)
    try:
        state = _admin(url, "GET", "state")
        by_client = {o["clientOrderId"]: o for o in state["open_orders"]}
        assert by_client["acked-1"]["orderId"] == int(acked["id"])
        assert "lost-1" in by_client
        assert state["faults"] == []  # faults are test levers, not exchange state
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)


def test_sim_command_refuses_a_corrupt_state_file(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(b"{not json")
    proc = subprocess.run(
        [sys.executable, "-m", "tradeguard", "sim", "--state-file", str(path)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode == 2
    assert "is corrupt" in proc.stderr
    assert str(path) in proc.stderr.replace("\n", "")
    assert path.read_bytes() == b"{not json"

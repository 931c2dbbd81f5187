"""The /_sim/ admin API over HTTP, and the ``tradeguard sim`` command as a process."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from decimal import Decimal
from typing import Any

import pytest

from tradeguard.sim import SimulatorConfig, SimulatorThread, start_simulator


def admin(sim_url: str, method: str, action: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"{sim_url}/_sim/{action}", data=data, method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_admin_levers_change_ground_truth(sim: SimulatorThread) -> None:
    url = sim.url
    admin(url, "POST", "deposit", {"asset": "USDT", "amount": "500"})
    admin(url, "POST", "withdraw", {"asset": "BTC", "amount": "0.25"})
    admin(url, "POST", "deposit", {"asset": "USDT", "amount": "1000", "market": "usdm"})
    state = admin(url, "GET", "state")
    assert state["spot"]["balances"]["USDT"]["free"] == "100500"
    assert state["spot"]["balances"]["BTC"]["free"] == "0.75"
    assert state["usdm"]["wallet"]["USDT"] == "101000"

    placed = admin(url, "POST", "order", {
        "market": "spot", "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
        "quantity": "0.01", "price": "59000", "clientOrderId": "manual-1",
    })
    assert placed["order"]["external"] is True
    assert placed["order"]["status"] == "NEW"
    moved = admin(url, "POST", "price", {"symbol": "BTCUSDT", "price": "58900",
                                         "market": "spot"})
    assert [t["orderId"] for t in moved["trades"]] == [placed["order"]["orderId"]]
    trade = admin(url, "POST", "trade", {
        "market": "usdm", "symbol": "BTCUSDT", "side": "SELL", "quantity": "0.01",
        "price": "61000",
    })
    assert trade["trades"][0]["price"] == "61000"
    state = admin(url, "GET", "state")
    assert state["usdm"]["positions"][0]["positionAmt"] == "-0.01"
    assert state["usdm"]["positions"][0]["entryPrice"] == "61000"
    assert state["prices"]["usdm:BTCUSDT"] == "60000"  # a trade by hand leaves the mark

    admin(url, "POST", "clock_skew", {"ms": 1234})
    admin(url, "POST", "faults", {"path": "/api/v3/order", "action": "drop", "count": 2})
    state = admin(url, "GET", "state")
    assert state["clock_skew_ms"] == 1234
    assert state["faults"][0]["remaining"] == 2
    admin(url, "DELETE", "faults")
    assert admin(url, "GET", "state")["faults"] == []
    admin(url, "POST", "reset")
    state = admin(url, "GET", "state")
    assert state["orders"] == []
    assert state["clock_skew_ms"] == 0
    assert state["spot"]["balances"]["USDT"]["free"] == "100000"


def test_admin_rejects_malformed_requests(sim: SimulatorThread) -> None:
    with pytest.raises(urllib.error.HTTPError) as exc:
        admin(sim.url, "POST", "faults", {"path": "/x", "action": "explode"})
    assert exc.value.code == 400
    with pytest.raises(urllib.error.HTTPError) as exc:
        admin(sim.url, "POST", "withdraw", {"asset": "USDT", "amount": "1e9"})
    assert exc.value.code == 400


def test_ticks_move_prices_deterministically() -> None:
    def walk(seed: int) -> dict[str, str]:
        with SimulatorThread(SimulatorConfig(seed=seed, tick_interval_ms=0)) as running:
            return admin(running.url, "POST", "tick", {"steps": 20})["prices"]  # type: ignore[no-any-return]

    first, again, other = walk(11), walk(11), walk(12)
    assert first == again
    assert first != other
    assert Decimal(first["spot:BTCUSDT"]) != Decimal("60000")


async def test_timer_moves_prices_in_a_running_loop() -> None:
    handle = await start_simulator(SimulatorConfig(tick_interval_ms=5, volatility=Decimal("0.01")))
    try:
        import asyncio

        for _ in range(400):
            if handle.engine.prices["spot:BTCUSDT"] != Decimal("60000.00"):
                break
            await asyncio.sleep(0.01)
        assert handle.engine.prices["spot:BTCUSDT"] != Decimal("60000.00")
    finally:
        await handle.stop()


def test_cli_prints_url_first_serves_and_stops_on_sigterm() -> None:
    env = {**os.environ, "SIM_TEST_KEY": "k1", "SIM_TEST_SECRET": "s3cret"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tradeguard.sim", "--port", "0", "--seed", "5",
         "--api-key-env", "SIM_TEST_KEY", "--api-secret-env", "SIM_TEST_SECRET"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().strip()
        assert first.startswith("listening on http://127.0.0.1:"), first
        url = first.removeprefix("listening on ")
        with urllib.request.urlopen(f"{url}/api/v3/time", timeout=10) as response:
            server_time = json.loads(response.read())["serverTime"]
        # The key and the secret from the environment are the ones it checks.
        query = f"timestamp={server_time}&recvWindow=60000"
        signature = hmac.new(b"s3cret", query.encode(), hashlib.sha256).hexdigest()
        signed = urllib.request.Request(
            f"{url}/api/v3/account?{query}&signature={signature}", headers={"X-MBX-APIKEY": "k1"}
        )
        with urllib.request.urlopen(signed, timeout=10) as response:
            assert json.loads(response.read())["accountType"] == "SPOT"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_help_lists_options() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tradeguard.sim", "--help"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0
    for option in ("--host", "--port", "--seed", "--volatility", "--api-key-env",
                   "--api-secret-env"):
        assert option in result.stdout
    assert "--api-key " not in result.stdout


def test_cli_refuses_a_key_on_the_command_line() -> None:
    # A key in argv is visible to every user through `ps`.
    result = subprocess.run(
        [sys.executable, "-m", "tradeguard.sim", "--api-key", "k1"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 2
    assert "--api-key-env" in result.stderr
    assert "k1" not in result.stderr
    assert result.stdout == ""


def test_cli_names_an_unset_key_variable() -> None:
    env = {k: v for k, v in os.environ.items() if k != "SIM_UNSET_KEY"}
    result = subprocess.run(
        [sys.executable, "-m", "tradeguard.sim", "--api-key-env", "SIM_UNSET_KEY"],
        capture_output=True, text=True, timeout=60, check=False, env=env,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: environment variable SIM_UNSET_KEY (from --api-key-env) is not set"
    )


def test_cli_on_a_busy_port_says_so_in_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "tradeguard", "sim", "--port", str(port)],
            capture_output=True, text=True, timeout=60, check=False,
        )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"127.0.0.1:{port}" in lines[0]
    assert "already in use" in lines[0]
    assert "Traceback" not in result.stderr
    assert result.stdout == ""

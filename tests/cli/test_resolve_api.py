"""``tradeguard resolve`` while ``tradeguard run`` holds the store: it asks the running
service through its HTTP API instead of refusing.

A real ``tradeguard run --http 127.0.0.1:0`` subprocess trades on a simulator (a thread
here, over 127.0.0.1); an order placed on the simulator beside it becomes a flag (a
reconciliation asked for through the API), and ``tradeguard resolve`` (another real
subprocess) resolves it through the service: the exchange shows the order canceled and
the journal the resolution with the token's name. Without the token it says which
variable to set; a run without the API is refused as before, naming what to do.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tradeguard.app.endpoint_file import ENDPOINT_FILE
from tradeguard.domain.events import FlagResolved
from tradeguard.sim import SimulatorConfig, SimulatorThread
from tradeguard.storage import open_store
from tradeguard.storage.codec import decode_records

TRADEGUARD = [sys.executable, "-m", "tradeguard"]
TOKEN = "test-token-5b0e3c1d9a7f"
VAR = "TRADEGUARD_DASHBOARD_TOKEN"


@pytest.fixture
def sim() -> Iterator[SimulatorThread]:
    with SimulatorThread(SimulatorConfig(seed=7, tick_interval_ms=0)) as running:
        yield running


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != VAR}
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*TRADEGUARD, *args], capture_output=True, text=True, timeout=120,
                          check=False, env=env)


def _post(url: str, token: str | None = TOKEN, body: bytes = b"{}") -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _http_json(url: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def _sim_order(sim: SimulatorThread, exchange_id: str) -> Any:
    with urllib.request.urlopen(f"{sim.url}/_sim/state", timeout=30) as answer:
        state = json.loads(answer.read())
    return next(o for o in state["orders"] if str(o["orderId"]) == exchange_id)


def _start(data_dir: Path, sim: SimulatorThread, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*TRADEGUARD, "run", "--data-dir", str(data_dir), "--exchange-url", sim.url,
         "--json", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(**{VAR: TOKEN}),
    )


def _wait_open(proc: subprocess.Popen[str], data_dir: Path) -> str:
    """The service's URL once its session is open (a write answers, not 503)."""
    deadline = time.monotonic() + 90
    endpoint = data_dir / ENDPOINT_FILE
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"run exited early: {proc.communicate()[1]}")
        if endpoint.is_file():
            url = json.loads(endpoint.read_text())["url"]
            status, _ = _post(f"{url}/api/resume")
            if status == 200:
                return str(url)
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"the service never opened its session: {proc.communicate()[1]}")


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()


def test_resolve_asks_the_running_service(tmp_path: Path, sim: SimulatorThread) -> None:
    data_dir = tmp_path / "data"
    proc = _start(data_dir, sim, "--http", "127.0.0.1:0")
    try:
        url = _wait_open(proc, data_dir)
        endpoint = data_dir / ENDPOINT_FILE
        assert stat.S_IMODE(endpoint.stat().st_mode) == 0o600
        assert json.loads(endpoint.read_text())["pid"] == proc.pid
        placed = _http_json(f"{sim.url}/_sim/order", {
            "market": "spot", "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
            "quantity": "0.001", "price": "50000"})
        exchange_id = str(placed["order"]["orderId"])
        status, report = _post(f"{url}/api/reconcile")
        assert status == 200, report
        listed = _cli("flags", "--data-dir", str(data_dir), "--json", env=_env())
        assert listed.returncode == 0, listed.stderr
        flag_id = next(f["flag_id"] for f in json.loads(listed.stdout)["flags"]
                       if exchange_id in f["flag_id"])

        no_token = _cli("resolve", flag_id, "--action", "cancel_on_exchange",
                        "--data-dir", str(data_dir), env=_env())
        assert no_token.returncode == 2, no_token.stdout + no_token.stderr
        assert VAR in no_token.stderr
        assert "nothing resolved" in no_token.stderr
        wrong = _cli("resolve", flag_id, "--action", "cancel_on_exchange",
                     "--data-dir", str(data_dir), env=_env(**{VAR: "wrong"}))
        assert wrong.returncode == 2
        assert "not the service's token" in wrong.stderr
        bad_action = _cli("resolve", flag_id, "--action", "delete", "--data-dir",
                          str(data_dir), "--json", env=_env(**{VAR: TOKEN}))
        assert bad_action.returncode == 2
        assert "allowed: adopt, cancel_on_exchange, ignore" in json.loads(
            bad_action.stdout)["error"]

        done = _cli("resolve", flag_id, "--action", "cancel_on_exchange", "--note",
                    "not ours", "--data-dir", str(data_dir), "--json",
                    env=_env(**{VAR: TOKEN}))
        assert done.returncode == 0, done.stdout + done.stderr
        answer = json.loads(done.stdout)
        assert answer["ok"] is True
        assert answer["flag"]["flag_id"] == flag_id
        assert answer["flag"]["status"] == "resolved"
        assert any("canceled on the exchange" in step for step in answer["steps"])
        assert _sim_order(sim, exchange_id)["status"] == "CANCELED"
        assert proc.poll() is None  # the service ran on: nobody took over its store
        with open_store(f"sqlite:///{data_dir}", session_id="default", readonly=True) as st:
            events = [e for _, e in decode_records(st.read())]
        resolution = next(e for e in events if isinstance(e, FlagResolved))
        assert (resolution.flag_id, resolution.by, resolution.note) == (
            flag_id, "operator", "not ours")
    finally:
        _stop(proc)
    assert proc.returncode == 0
    assert not (data_dir / ENDPOINT_FILE).exists()  # withdrawn at the clean stop


def test_a_run_without_the_api_is_refused_naming_what_to_do(
    tmp_path: Path, sim: SimulatorThread,
) -> None:
    data_dir = tmp_path / "data"
    proc = _start(data_dir, sim, "--no-http")
    try:
        deadline = time.monotonic() + 90
        refused = None
        while time.monotonic() < deadline:
            refused = _cli("resolve", "any-flag", "--action", "ignore", "--data-dir",
                           str(data_dir), env=_env(**{VAR: TOKEN}))
            if "is running" in refused.stderr or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert refused is not None
        assert refused.returncode == 2, refused.stderr
        assert "serves no HTTP API" in refused.stderr
        assert "--no-http" in refused.stderr
        assert not (data_dir / ENDPOINT_FILE).exists()
    finally:
        _stop(proc)

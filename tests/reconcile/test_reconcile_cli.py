"""``tradeguard reconcile`` end to end: real store, real ccxt, the simulator."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

import tradeguard.cli.reconcile_cmd  # noqa: F401 - registers the command until main.py does
from tradeguard.cli.main import app
from tradeguard.sim import SimulatorThread

runner = CliRunner()


def _admin(sim: SimulatorThread, action: str, body: dict[str, Any]) -> None:
    request = urllib.request.Request(
        f"{sim.url}/_sim/{action}", data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def _reconcile(sim: SimulatorThread, data: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(
        app, ["reconcile", "--data-dir", str(data), "--exchange-url", sim.url, "--json", *extra]
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1, result.stdout
    return result.exit_code, json.loads(lines[0])


def test_reconcile_command(sim: SimulatorThread, tmp_path: Path) -> None:
    data = tmp_path / "data"
    code, report = _reconcile(sim, data)
    assert code == 0, report
    assert report["complete"] is True
    assert report["dry_run"] is False
    assert report["found"] == {"balance_mismatch": 4}  # first sight of every balance
    assert report["events_journaled"] == 4

    _admin(sim, "order", {"market": "spot", "symbol": "BTCUSDT", "side": "BUY",
                          "type": "LIMIT", "quantity": "0.01", "price": "50000"})
    code, dry = _reconcile(sim, data, "--dry-run")
    assert code == 0
    assert dry["dry_run"] is True
    assert dry["events_journaled"] == 0
    assert [d["kind"] for d in dry["discrepancies"]] == ["external_order", "balance_mismatch"]
    code, real = _reconcile(sim, data)
    assert code == 0
    assert real["discrepancies"] == [
        {**d, "flag_id": real["discrepancies"][i].get("flag_id")}
        for i, d in enumerate(dry["discrepancies"])
    ]
    assert len(real["flags_raised"]) == 1
    assert real["flags_raised"][0].startswith("external_order:")


def test_reconcile_command_incomplete_exits_1(sim: SimulatorThread, tmp_path: Path) -> None:
    _admin(sim, "faults", {"path": "/fapi/v3/account", "action": "status", "status": 503})
    code, report = _reconcile(sim, tmp_path / "data")
    assert code == 1
    assert report["complete"] is False
    assert [f["what"] for f in report["failures"]] == ["balances"]
    assert "balances" not in report["checked"]


def test_reconcile_help() -> None:
    result = runner.invoke(app, ["reconcile", "--help"])
    assert result.exit_code == 0
    assert "--dry-run" in result.stdout
    assert "--exchange-url" in result.stdout

"""``tradeguard health``: one JSON object, exit 0 ok / 1 warn or critical / 2 error, an
80-column table otherwise; ``[health]`` thresholds from the config, strictly checked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

from healthfixtures import cli, healthy_store
from typer.testing import CliRunner

from tradeguard.cli.main import app
from tradeguard.health.checks import CHECK_NAMES
from tradeguard.sim import SimulatorThread


def _drop_time(url: str) -> None:
    body = json.dumps({"path": "/api/v3/time", "action": "drop", "count": 1000}).encode()
    request = urllib.request.Request(f"{url}/_sim/faults", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10):
        pass


def test_a_healthy_store_and_exchange_exit_0(tmp_path: Path, sim: SimulatorThread) -> None:
    healthy_store(tmp_path, sim.url)
    code, out = cli("health", "--data-dir", str(tmp_path), "--exchange-url", sim.url, "--json")
    assert code == 0, out
    assert out["status"] == "ok"
    names = [c["name"] for c in out["checks"]]
    # No session runs, so no process to watch; service-only facts are left out.
    assert names == [n for n in CHECK_NAMES if n in {
        "disk_free_bytes", "disk_free_percent", "snapshot_age_seconds", "backup_age_seconds",
        "exchange_reachable", "exchange_rtt_seconds", "exchange_clock_skew_ms",
        "reconciliation_age_seconds", "unknown_orders_oldest_age_seconds", "open_flags"}]
    for check in out["checks"]:
        assert set(check) == {"name", "status", "value", "threshold", "detail"}
        assert check["status"] == "ok", check
        assert check["value"] is None or isinstance(check["value"], int | float | bool)


def test_an_exchange_that_does_not_answer_exits_1(tmp_path: Path, sim: SimulatorThread) -> None:
    healthy_store(tmp_path, sim.url)
    _drop_time(sim.url)
    code, out = cli("health", "--data-dir", str(tmp_path), "--exchange-url", sim.url, "--json")
    assert code == 1, out
    assert out["status"] == "critical"
    by_name = {c["name"]: c for c in out["checks"]}
    assert by_name["exchange_reachable"]["status"] == "critical"
    assert by_name["exchange_reachable"]["value"] is False


def test_without_an_exchange_its_checks_are_left_out_and_a_warn_exits_1(
    tmp_path: Path, sim: SimulatorThread
) -> None:
    healthy_store(tmp_path, sim.url)
    config = tmp_path / "tg.toml"
    config.write_text("[health]\nbackup_age_warn_seconds = 0\n")
    code, out = cli("health", "--config", str(config), "--data-dir", str(tmp_path), "--json")
    assert code == 1, out
    assert out["status"] == "warn"
    assert not any(c["name"].startswith("exchange_") for c in out["checks"])
    assert [c["name"] for c in out["checks"] if c["status"] != "ok"] == ["backup_age_seconds"]


def test_pid_adds_the_process_vitals(tmp_path: Path, sim: SimulatorThread) -> None:
    healthy_store(tmp_path, sim.url)
    code, out = cli("health", "--data-dir", str(tmp_path), "--pid", str(os.getpid()), "--json")
    by_name = {c["name"]: c for c in out["checks"]}
    for name in ("rss_bytes", "cpu_percent", "open_fds_ratio", "threads"):
        assert isinstance(by_name[name]["value"], int | float), by_name[name]
    assert code == (0 if out["status"] == "ok" else 1)


def test_errors_exit_2_with_one_line(tmp_path: Path) -> None:
    code, out = cli("health", "--data-dir", str(tmp_path / "none"), "--json")
    assert code == 2
    assert out["ok"] is False
    assert "no tradeguard store" in out["error"]
    code, out = cli("health", "--data-dir", str(tmp_path), "--exchange-url", "ftp://x", "--json")
    assert code == 2
    assert "--exchange-url" in out["error"]
    config = tmp_path / "tg.toml"
    config.write_text("[health]\nrss_warn_byte = 5\n")
    code, out = cli("health", "--config", str(config), "--data-dir", str(tmp_path), "--json")
    assert code == 2
    assert out["error"] == f"{config}:2: key 'health.rss_warn_byte': unknown key"
    config.write_text('[health]\nfd_warn_ratio = "high"\n')
    code, out = cli("health", "--config", str(config), "--data-dir", str(tmp_path), "--json")
    assert code == 2
    assert "health.fd_warn_ratio" in out["error"]


def test_the_table_fits_80_columns(tmp_path: Path, sim: SimulatorThread) -> None:
    healthy_store(tmp_path, sim.url)
    _drop_time(sim.url)
    result = CliRunner().invoke(
        app, ["health", "--data-dir", str(tmp_path), "--exchange-url", sim.url]
    )
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert any("exchange_reachable" in line and "critical" in line for line in lines)
    assert max(len(line) for line in lines) <= 80


def test_a_real_process_exits_with_the_round_s_code_and_imports_no_psutil_at_start(
    tmp_path: Path, sim: SimulatorThread
) -> None:
    healthy_store(tmp_path, sim.url)
    done = subprocess.run(
        [sys.executable, "-m", "tradeguard", "health", "--data-dir", str(tmp_path),
         "--exchange-url", sim.url, "--json"],
        capture_output=True, text=True, check=False, timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["status"] == "ok"
    probe = subprocess.run(
        [sys.executable, "-c", "import sys, tradeguard.cli.main; print('psutil' in sys.modules)"],
        capture_output=True, text=True, check=True, timeout=60,
    )
    assert probe.stdout.strip() == "False"

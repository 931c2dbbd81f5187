"""``tradeguard chaos`` end to end: real processes, real SIGKILLs, real ccxt over loopback.

The torture run must find nothing; the canary (a trader that sends before it journals)
must be caught, or the harness proves nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import tradeguard.cli.chaos_cmd
import tradeguard.cli.main  # noqa: F401 - the other commands (the lead wires chaos in there)
from tradeguard.chaos import CRASH_POINTS, ChaosConfig, run_chaos
from tradeguard.cli.app import app

SEED = 20240604


@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_thirty_cycles_lose_nothing_and_place_nothing_twice(tmp_path: Path) -> None:
    report = await run_chaos(
        ChaosConfig(cycles=30, seed=SEED, data_dir=str(tmp_path / "chaos"), max_run_seconds=1.2)
    )
    why = f"seed {report.seed}, store and logs in {report.data_dir}: {report.problems}"
    assert report.errors == 0, why
    assert (report.lost, report.duplicates, report.mismatches) == (0, 0, 0), why
    assert report.unresolved == 0, why
    assert report.checkpoints >= 25, why  # startup kills may skip a few
    # The run really exercised the write-ahead protocol and the faults.
    assert sum(report.kills_by_point.get(p, 0) for p in CRASH_POINTS) >= 3, why
    assert sum(report.faults_injected.values()) >= 5, why
    assert report.acknowledged_orders >= 30, why
    assert report.exchange_orders >= report.acknowledged_orders, why


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_the_canary_sending_before_journaling_is_caught(tmp_path: Path) -> None:
    report = await run_chaos(
        ChaosConfig(
            cycles=2,
            seed=SEED,
            data_dir=str(tmp_path / "canary"),
            kill_kinds=("after_exchange_ack",),
            fault_probability=0.0,
            broken="skip_write_ahead",
        )
    )
    why = f"seed {report.seed}, store and logs in {report.data_dir}: {report.problems}"
    assert report.kills_by_point.get("after_exchange_ack", 0) >= 1, why
    assert report.mismatches > 0, why
    assert any("unknown locally" in p for p in report.problems), why
    assert not report.ok


@pytest.mark.timeout(300)
def test_the_command_prints_one_json_object(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["chaos", "--cycles", "2", "--seed", "7", "--data-dir", str(tmp_path / "c"), "--json"],
    )
    report = json.loads(result.stdout)
    assert result.exit_code == (0 if report["ok"] else 1), result.output
    assert report["ok"], f"seed 7: {report['problems']}"
    for key in (
        "cycles",
        "lost",
        "duplicates",
        "mismatches",
        "unresolved",
        "kills_by_point",
        "faults_injected",
        "seed",
    ):
        assert key in report
    assert report["cycles"] == 2
    assert report["seed"] == 7


def test_a_used_data_dir_is_refused(tmp_path: Path) -> None:
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "something").write_text("x")
    result = CliRunner().invoke(
        app, ["chaos", "--cycles", "1", "--data-dir", str(tmp_path / "used"), "--json"]
    )
    assert result.exit_code == 2
    assert "not empty" in json.loads(result.stdout)["error"]

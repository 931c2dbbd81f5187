"""The benchmark scripts still run: ``bench/run_all.py --quick`` (tiny sizes) end to end.

One smoke run of every ``bench/bench_*.py`` through ``run_all.py`` (its quick sizes are
the single source of them), then a check per script that it printed the figures its
documentation promises and that they describe what was asked for (counts, found
discrepancies). No figure is compared with a time limit: this machine is shared.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
SCRIPTS = sorted(p.stem for p in BENCH.glob("bench_*.py"))

# Among the longest (the module fixture is the whole bench run): under xdist its module
# goes out first (tests/conftest.py), to one worker (make test uses --dist loadfile).
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every bench script at smoke sizes, through run_all (once for the module)."""
    out = tmp_path_factory.mktemp("bench") / "quick.json"
    done = subprocess.run(
        [sys.executable, str(BENCH / "run_all.py"), "--quick", "--out", str(out)],
        capture_output=True, text=True, check=False, timeout=280, cwd=ROOT,
    )
    assert out.exists(), done.stderr[-3000:]
    written = json.loads(out.read_text())
    printed = json.loads(done.stdout)
    assert printed == written  # stdout and the file carry the same object
    assert written["quick"] is True
    # Surface each failure in its own test below; the exit code must agree with them.
    failed = [n for n, r in written["results"].items() if "error" in r]
    assert (done.returncode != 0) == bool(failed), done.stderr[-3000:]
    return written


def figures(run: dict[str, Any], name: str) -> dict[str, Any]:
    result = run["results"][name]
    assert "error" not in result, json.dumps(result, indent=1)[-4000:]
    data: dict[str, Any] = result["figures"]
    return data


def test_every_bench_script_took_part(quick_run: dict[str, Any]) -> None:
    assert sorted(quick_run["results"]) == SCRIPTS
    for name in SCRIPTS:
        assert "skipped" not in quick_run["results"][name], f"{name} has no quick sizes"


@pytest.mark.parametrize("name", ["bench_store", "bench_sim", "bench_gateway"])
def test_the_earlier_benches_print_their_figures(quick_run: dict[str, Any], name: str) -> None:
    data = figures(quick_run, name)
    expected = {
        "bench_store": {"a_single_append_sqlite", "b_group_commit_sqlite", "c_replay_sqlite",
                        "d_recovery_sqlite", "e_postgres"},
        "bench_sim": {"create_order_per_s", "p50_ms", "p99_ms", "ratio"},
        "bench_gateway": {"raw_ccxt_create_per_s", "gateway_create_per_s",
                          "gateway_overhead_ratio"},
    }[name]
    assert expected <= set(data)


def test_session_bench_times_every_arm_in_the_same_run(quick_run: dict[str, Any]) -> None:
    data = figures(quick_run, "bench_session")
    for arm in ("raw_ccxt", "gateway", "session", "journal_append", "raw_sqlite3_commit"):
        assert data[arm]["n"] == data["orders_per_arm"] == 150
        assert 0 < data[arm]["p50_ms"] <= data[arm]["p99_ms"]
    assert data["p50_overhead_ms"] == pytest.approx(
        data["session"]["p50_ms"] - data["raw_ccxt"]["p50_ms"], abs=1e-3)
    assert isinstance(data["target_met"], bool)


def test_reconcile_bench_compares_what_it_claims(quick_run: dict[str, Any]) -> None:
    data = figures(quick_run, "bench_reconcile")
    pure = data["pure_diff"]
    assert (pure["open_orders"], pure["positions"]) == (1000, 100)
    # Identical sides: nothing found, nothing to journal, everything compared.
    assert pure["clean"]["found"] == {}
    assert (pure["clean"]["events"], pure["clean"]["complete"]) == (0, True)
    # The drifted snapshot's differences (DRIFT scaled to 1,000 orders) are all found.
    drifted = pure["drifted"]["actions"]
    assert drifted["state_mismatch:corrected"] == 10
    assert drifted["missing_fill:applied"] == 5
    assert drifted["external_order:flagged"] == 2
    assert drifted["position_mismatch:flagged"] == 1
    assert drifted["balance_mismatch:corrected"] == 1
    full = data["full_reconcile_sim"]
    assert full["orders_on_simulator"] == full["open_orders_local"] == 300
    assert full["steady_run"]["complete"] is True
    assert full["steady_run"]["orders_compared"] >= 300
    assert full["steady_run"]["found"] == {}


def test_restart_bench_reopens_a_session_that_matches_the_exchange(
    quick_run: dict[str, Any],
) -> None:
    data = figures(quick_run, "bench_restart")
    assert data["build"]["journaled_events"] >= 20000
    assert data["build"]["open_orders_on_simulator"] == 50
    runs = data["restarts"]
    assert list(runs) == ["after_build", "after_clean_close", "after_crash"]
    assert runs["after_crash"]["unclean_shutdown"] is True
    assert runs["after_clean_close"]["unclean_shutdown"] is False
    for run in runs.values():
        assert run["open_orders"] == 50
        assert run["reconcile_complete"] is True
        assert run["flags_raised"] == 0
        assert "position_mismatch" not in run["reconcile_found"]
        assert run["session_open_s"] > 0


def test_metrics_bench_feeds_one_session_as_the_runtime_does(quick_run: dict[str, Any]) -> None:
    data = figures(quick_run, "bench_metrics")
    for arm in ("session", "session_fed", "session_metered"):
        assert data[arm]["n"] == data["orders_per_arm"] == 60
        assert 0 < data[arm]["p50_ms"] <= data[arm]["p99_ms"]
    fed = data["fed_series"]
    # Warm-up, timed and book-filling submits of the fed session, all counted once.
    assert fed["submits_acked"] == fed["create_order_requests"] >= 70
    assert fed["events_appended"] >= 2 * fed["submits_acked"]
    assert fed["appends_timed"] > 0
    assert 0 < fed["group_commits"] <= fed["events_appended"]


def test_health_bench_reports_the_round_beside_the_submits(quick_run: dict[str, Any]) -> None:
    data = figures(quick_run, "bench_health")
    assert data["interval_seconds"] == 30.0
    assert data["round"]["n"] == 5
    assert data["round"]["cpu_mean_ms"] > 0
    assert data["checks"] > 10
    for arm in ("session", "session_during_health_rounds"):
        assert data[arm]["n"] == 40
    assert data["rounds_during_submits"] >= 1
    assert data["scan_events_after_last_report"] == 3000
    assert isinstance(data["target_met"], bool)


def test_web_bench_times_the_status_on_the_book_it_built(quick_run: dict[str, Any]) -> None:
    data = figures(quick_run, "bench_web")
    for arm in ("session", "session_with_5_event_streams"):
        assert data[arm]["n"] == data["orders_per_arm"] == 50
    assert data["subscribers_seen_while_streaming"] == 5
    # 5 clients x 2 records per submit while streaming (less what a block's end cut off).
    assert data["frames_read_by_clients"] > 0
    assert data["open_orders"] == 300
    for read in ("api_status", "api_status_state_changed"):
        assert data[read]["n"] == 10
        assert data[read]["bytes"] > 0
    assert isinstance(data["target_met"], bool)

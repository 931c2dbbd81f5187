"""Commands that would take over a running session refuse; reconciliation reports are
journaled."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from test_run import start, tg_json, wait_for_events
from test_trading_run import TRADEGUARD, start_run, wait_for_new_orders

from tradeguard.storage import open_store


def test_recover_and_resolve_refuse_while_the_session_runs(tmp_path: Path) -> None:
    proc = start(tmp_path, "--events", "0", "--rate", "500", "--json")
    try:
        wait_for_events(tmp_path, 50)
        code, out = tg_json("recover", "--data-dir", str(tmp_path))
        assert code == 2
        assert "session is running" in out["error"]
        assert f"pid {proc.pid}" in out["error"]
        code, out = tg_json("resolve", "nope", "--action", "x", "--data-dir", str(tmp_path))
        assert code == 2
        assert "session is running" in out["error"]
        # Read-only commands are fine beside a running session.
        code, out = tg_json("recover", "--data-dir", str(tmp_path), "--dry-run")
        assert code == 0
        assert out["unclean_shutdown"] is True  # its run marker is open
    finally:
        proc.terminate()
        proc.communicate(timeout=60)
    assert proc.returncode == 0
    code, out = tg_json("recover", "--data-dir", str(tmp_path))
    assert code == 0
    assert out["unclean_shutdown"] is False


def test_each_reconciliation_leaves_a_report_in_the_journal(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tradeguard", "run", "--no-http", "--data-dir", str(tmp_path),
         "--duration", "2", "--json"], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    code, journal = tg_json("journal", "--data-dir", str(tmp_path), "--limit", "100000")
    assert code == 0
    reports = [r for r in journal["records"] if r["type"] == "reconciliation_reported"]
    assert reports, "no reconciliation report was journaled"
    first = reports[0]["data"]
    assert first["complete"] is True
    assert "balances" in first["checked"]
    assert summary["startup"]["reconcile"]["complete"] is True


def test_reconcile_refuses_a_running_session_and_a_fenced_run_stops(tmp_path: Path) -> None:
    """No command silently fences a live writer; a run fenced anyway stops and fails."""
    proc = start_run(tmp_path)
    try:
        wait_for_new_orders(tmp_path, 0, proc)
        refused = subprocess.run(
            [*TRADEGUARD, "reconcile", "--data-dir", str(tmp_path), "--json"],
            capture_output=True, text=True, timeout=120, check=False)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        error = json.loads(refused.stdout)["error"]
        assert "reconciliation" in error, error
        assert "session is running" in error, error
        assert f"pid {proc.pid}" in error
        second = subprocess.run(
            [*TRADEGUARD, "run", "--no-http", "--data-dir", str(tmp_path), "--duration", "1",
             "--json"],
            capture_output=True, text=True, timeout=120, check=False)
        assert second.returncode == 2, second.stdout + second.stderr
        assert "session is running" in json.loads(second.stdout)["error"]
        assert proc.poll() is None, "a refused command disturbed the run"
        # A second writer takes over deliberately (the library, below every guard).
        with open_store(f"sqlite:///{tmp_path}", session_id="default") as store:
            new_epoch = store.advance_epoch()
            fenced_at = store.last_seq()
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)
    assert proc.returncode == 2, (out, err)
    result = json.loads(out)
    assert result["ok"] is False
    assert "fenced" in result["error"], result
    assert f"epoch {new_epoch}" in result["error"], result
    assert "session stopped trading: fenced" in err  # the critical log line on stderr
    assert "stopped cleanly" not in out + err
    # The fenced run wrote nothing after the takeover.
    with open_store(f"sqlite:///{tmp_path}", session_id="default", readonly=True) as store:
        assert store.last_seq() == fenced_at
        assert store.last_run() is not None
        assert not store.last_run().clean  # type: ignore[union-attr]

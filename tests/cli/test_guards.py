"""Commands that would take over a running session refuse; reconciliation reports are
journaled."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from test_run import start, tg_json, wait_for_events


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
        [sys.executable, "-m", "tradeguard", "run", "--data-dir", str(tmp_path), "--duration",
         "2", "--json"], capture_output=True, text=True, timeout=120, check=False)
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

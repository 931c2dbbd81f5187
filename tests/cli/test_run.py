"""`tradeguard journal-demo` as users run it: a real process, stopped by signals or killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

TRADEGUARD = [sys.executable, "-m", "tradeguard"]


def start(data_dir: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*TRADEGUARD, "journal-demo", "--data-dir", str(data_dir), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def tg_json(*args: str) -> tuple[int, dict[str, object]]:
    proc = subprocess.run([*TRADEGUARD, *args, "--json"], capture_output=True, text=True,
                          timeout=120, check=False)
    return proc.returncode, json.loads(proc.stdout)


def wait_for_events(data_dir: Path, minimum: int, timeout_s: float = 60) -> None:
    log = data_dir / "logs" / "tradeguard.log"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if log.exists() and log.read_text().count('"seq"') >= minimum:
            return
        time.sleep(0.05)
    pytest.fail(f"run wrote fewer than {minimum} events in {timeout_s}s")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_cleanly(tmp_path: Path, sig: signal.Signals) -> None:
    proc = start(tmp_path, "--events", "0", "--rate", "2000", "--json")
    wait_for_events(tmp_path, 200)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    summary = json.loads(out)
    assert summary["stopped_by_signal"] is True
    assert summary["recovered_state_matches"] is True
    assert summary["verify_ok"] is True
    code, status = tg_json("status", "--data-dir", str(tmp_path))
    assert code == 0
    assert status["clean_shutdown"] is True
    assert status["last_seq"] == summary["last_seq"]


def test_sigkill_is_recovered_on_the_next_start(tmp_path: Path) -> None:
    proc = start(tmp_path, "--events", "0", "--json")
    wait_for_events(tmp_path, 300)
    proc.kill()
    proc.communicate(timeout=30)
    code, status = tg_json("status", "--data-dir", str(tmp_path))
    assert code == 0
    assert status["clean_shutdown"] is False
    killed_at = status["last_seq"]
    proc = start(tmp_path, "--events", "500", "--json")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    summary = json.loads(out)
    assert summary["startup_recovery"]["unclean_shutdown"] is True
    assert summary["startup_recovery"]["last_seq"] == killed_at
    assert summary["recovered_state_matches"] is True
    assert summary["verify_ok"] is True

"""`tradeguard journal-demo` as users run it: a real process, stopped by signals or killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
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


# --- `tradeguard run` refuses a data directory it cannot use, writing nothing ---------


def run_proc(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*TRADEGUARD, "run", "--no-http", "--duration", "2", *args],
                          capture_output=True, text=True, timeout=120, check=False, cwd=cwd)


def test_run_on_a_regular_file_is_one_line_error(tmp_path: Path) -> None:
    target = tmp_path / "not-a-dir"
    target.write_text("")
    proc = run_proc("--data-dir", str(target), cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: data directory {target} is a regular file, not a directory"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not-a-dir"]


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory on a real read-only bind mount (root can write anything else)."""
    source, target = tmp_path / "source", tmp_path / "ro"
    source.mkdir()
    target.mkdir()
    mounted = subprocess.run(["mount", "--bind", str(source), str(target)],
                             capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"SKIPPED LOUDLY: cannot bind-mount for a read-only dir: {mounted.stderr}")
    try:
        remount = subprocess.run(["mount", "-o", "remount,bind,ro", str(target)],
                                 capture_output=True, text=True, check=False)
        if remount.returncode != 0:
            pytest.skip(f"SKIPPED LOUDLY: cannot remount read-only: {remount.stderr}")
        yield target
    finally:
        subprocess.run(["umount", str(target)], check=False)


@pytest.mark.parametrize("inside", [False, True])
def test_run_on_a_read_only_dir_is_one_line_error(read_only_dir: Path, inside: bool) -> None:
    data = read_only_dir / "data" if inside else read_only_dir
    proc = run_proc("--data-dir", str(data), cwd=read_only_dir.parent)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"error: data directory {data}")
    assert lines[0].endswith("is on a read-only file system")
    assert list(read_only_dir.iterdir()) == []


def test_run_checks_the_store_before_writing_logs(tmp_path: Path) -> None:
    # A store whose middle is damaged is refused by recovery: nothing else is written.
    data = tmp_path / "data"
    code, _ = tg_json("journal-demo", "--data-dir", str(data), "--events", "300")
    assert code == 0
    db = data / "tradeguard.db"
    import sqlite3
    with sqlite3.connect(db) as conn:  # no snapshot to start from, seq 10 damaged
        conn.execute("DELETE FROM snapshots")
        conn.execute("UPDATE journal SET payload = X'00' WHERE seq = 10")
    for name in ("logs", "simulator-state.json"):
        target = data / name
        if target.is_dir():
            for f in target.iterdir():
                f.unlink()
            target.rmdir()
        elif target.exists():
            target.unlink()
    before = sorted(p.name for p in data.iterdir())
    proc = run_proc("--data-dir", str(data), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert sorted(p.name for p in data.iterdir()) == before


# --- `tradeguard status` says what is true about the last trading run ------------------


def tg_text(*args: str) -> str:
    proc = subprocess.run([*TRADEGUARD, *args], capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_status_while_running_after_kill_and_after_recover(tmp_path: Path) -> None:
    proc = start(tmp_path, "--events", "0", "--rate", "2000", "--json")
    try:
        wait_for_events(tmp_path, 100)
        code, status = tg_json("status", "--data-dir", str(tmp_path))
        assert code == 0
        assert status["run_state"] == "running"
        assert status["running"] is True
        assert status["clean_shutdown"] is None
        assert status["last_run"]["pid"] == proc.pid  # type: ignore[index]
        text = tg_text("status", "--data-dir", str(tmp_path))
        assert f"running now (pid {proc.pid} on " in text
        assert "uncleanly" not in text
    finally:
        proc.kill()
        proc.communicate(timeout=30)
    code, status = tg_json("status", "--data-dir", str(tmp_path))
    assert (status["run_state"], status["clean_shutdown"]) == ("ended_uncleanly", False)
    code, _ = tg_json("recover", "--data-dir", str(tmp_path))
    assert code == 0
    # recover's own (clean) marker must not hide the crash of the trading run.
    code, status = tg_json("status", "--data-dir", str(tmp_path))
    assert (status["run_state"], status["clean_shutdown"]) == ("ended_uncleanly", False)
    assert status["running"] is False
    text = tg_text("status", "--data-dir", str(tmp_path))
    # One line, not wrapped at 80 columns when stdout is a pipe.
    line = next(x for x in text.splitlines() if x.startswith("last run ended"))
    assert line.startswith("last run ended uncleanly: killed or crashed")
    assert line.endswith("recovered since with `tradeguard recover`")
    proc = start(tmp_path, "--events", "50", "--json")
    proc.communicate(timeout=120)
    assert proc.returncode == 0
    code, status = tg_json("status", "--data-dir", str(tmp_path))
    assert (status["run_state"], status["clean_shutdown"]) == ("ended_cleanly", True)
    assert "last run ended cleanly" in tg_text("status", "--data-dir", str(tmp_path))


def test_run_banner_names_a_crash_that_recover_already_handled(tmp_path: Path) -> None:
    data = tmp_path / "data"
    proc = subprocess.Popen([*TRADEGUARD, "run", "--no-http", "--data-dir", str(data), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        log = data / "logs" / "tradeguard.log"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if log.exists() and "session ready" in log.read_text():
                break
            time.sleep(0.1)
        else:
            pytest.fail("run never became ready")
    finally:
        proc.kill()
        proc.communicate(timeout=30)
    code, report = tg_json("recover", "--data-dir", str(data))
    assert code == 0
    assert report["unclean_shutdown"] is True
    again = run_proc("--data-dir", str(data), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    banner = " ".join(again.stdout.split())
    assert "UNCLEAN previous shutdown (already recovered by `tradeguard recover`)" in banner

"""Resources that really run short: a full tmpfs, a lowered RLIMIT_NOFILE, a simulator
that stops answering or skews its clock, backups that stop. Each check turns warn or
critical, then ok again once the cause is gone."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from healthfixtures import healthy_store

from tradeguard.exchange.ccxt_gateway import CcxtGateway
from tradeguard.health.checks import CHECK_NAMES, Check, HealthConfig, run_checks
from tradeguard.health.readings import (
    ProcessVitals,
    backup_time_ns,
    merge,
    read_disk,
    read_exchange,
    read_store,
)
from tradeguard.sim import SimulatorConfig, SimulatorThread
from tradeguard.storage import open_store
from tradeguard.storage.backup import list_backups, take_backup


def judge(part: dict[str, Any], only: set[str], cfg: HealthConfig,
          now: int | None = None) -> dict[str, Check]:
    readings = merge(part, not_applicable=frozenset(CHECK_NAMES) - only)
    checks = run_checks(readings, cfg, time.time_ns() if now is None else now)
    assert {c.name for c in checks} == only
    return {c.name: c for c in checks}


# --- disk ------------------------------------------------------------------------------

@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"SKIPPED LOUDLY: cannot mount a 2 MB tmpfs (needs root): {done.stderr}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_a_data_dir_that_fills_turns_disk_critical_then_ok(tiny_tmpfs: Path) -> None:
    cfg = HealthConfig(disk_free_warn_bytes=512 * 1024, disk_free_critical_bytes=128 * 1024,
                       disk_free_warn_percent=25.0, disk_free_critical_percent=5.0)
    disk = {"disk_free_bytes", "disk_free_percent"}
    data_dir = tiny_tmpfs / "data"
    with open_store(data_dir, create=True) as store:  # a real store lives there
        assert store.last_seq() == 0
    assert {c.status for c in judge(read_disk(data_dir), disk, cfg).values()} == {"ok"}
    filler = tiny_tmpfs / "filler"
    with filler.open("wb") as out:
        try:
            while True:
                out.write(b"\0" * 65536)
                out.flush()
        except OSError:  # ENOSPC: the filesystem is full
            pass
    full = judge(read_disk(data_dir), disk, cfg)
    assert full["disk_free_bytes"].status == "critical", full
    assert full["disk_free_percent"].status == "critical", full
    filler.unlink()
    freed = judge(read_disk(data_dir), disk, cfg)
    assert {c.status for c in freed.values()} == {"ok"}, freed


def test_a_missing_data_dir_is_critical_not_ok(tmp_path: Path) -> None:
    got = judge(read_disk(tmp_path / "nowhere"), {"disk_free_bytes"}, HealthConfig())
    assert got["disk_free_bytes"].status == "critical"
    assert "nowhere" in got["disk_free_bytes"].detail


# --- file descriptors --------------------------------------------------------------------

_FD_CHILD = textwrap.dedent("""
    import os, resource, sys
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    held = []
    for line in sys.stdin:
        want = int(line)
        while len(held) < want:
            held.append(os.open(os.devnull, os.O_RDONLY))
        while len(held) > want:
            os.close(held.pop())
        print(len(os.listdir("/proc/self/fd")), flush=True)
""")


def test_a_lowered_rlimit_nofile_turns_fds_warn_then_critical_then_ok() -> None:
    cfg = HealthConfig(fd_warn_ratio=0.75, fd_critical_ratio=0.9)
    child = subprocess.Popen([sys.executable, "-c", _FD_CHILD], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    assert child.stdin is not None
    assert child.stdout is not None
    try:
        vitals = ProcessVitals(child.pid, first_cpu_interval_seconds=0.01)

        def hold(extra: int) -> Check:
            child.stdin.write(f"{extra}\n")  # type: ignore[union-attr]
            child.stdin.flush()  # type: ignore[union-attr]
            child.stdout.readline()  # type: ignore[union-attr]
            return judge(vitals.sample(), {"open_fds_ratio"}, cfg)["open_fds_ratio"]

        first = hold(0)
        assert first.status == "ok", first
        assert "of 64)" in first.detail  # the child's own soft limit, not ours
        assert hold(50).status == "warn"
        assert hold(60).status == "critical"
        assert hold(0).status == "ok"
    finally:
        child.kill()
        child.wait()


def test_vitals_of_a_process_that_is_gone_are_not_ok() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                             stdin=subprocess.PIPE)
    vitals = ProcessVitals(child.pid, first_cpu_interval_seconds=0.01)
    child.kill()
    child.wait()
    got = judge(vitals.sample(), {"rss_bytes", "open_fds_ratio", "threads", "cpu_percent"},
                HealthConfig())
    assert all(c.status == "warn" and c.detail.startswith("not checked") for c in got.values())


# --- exchange ------------------------------------------------------------------------------

def _admin(url: str, method: str, action: str, body: dict[str, Any] | None = None) -> Any:
    request = urllib.request.Request(
        f"{url}/_sim/{action}", method=method,
        data=json.dumps(body or {}).encode(), headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _exchange_round(url: str, cfg: HealthConfig) -> dict[str, Check]:
    async def main() -> dict[str, Any]:
        gateway = CcxtGateway("binance", api_key="demo", secret="demo",
                              url_override=url, timeout_ms=2000)
        async with gateway:
            return await read_exchange(gateway)

    only = {"exchange_reachable", "exchange_rtt_seconds", "exchange_clock_skew_ms"}
    return judge(asyncio.run(main()), only, cfg)


@pytest.fixture
def sim_thread() -> Iterator[SimulatorThread]:
    with SimulatorThread(SimulatorConfig(seed=7, tick_interval_ms=0)) as running:
        yield running


def test_a_simulator_that_stops_answering_turns_the_exchange_critical(
    sim_thread: SimulatorThread,
) -> None:
    cfg = HealthConfig()
    healthy = _exchange_round(sim_thread.url, cfg)
    assert {c.status for c in healthy.values()} == {"ok"}, healthy
    _admin(sim_thread.url, "POST", "faults",
           {"path": "/api/v3/time", "action": "drop", "count": 1000})
    down = _exchange_round(sim_thread.url, cfg)
    assert down["exchange_reachable"].status == "critical", down
    assert down["exchange_reachable"].value is False
    assert down["exchange_rtt_seconds"].status == "critical"
    assert down["exchange_rtt_seconds"].detail.startswith("not checked: exchange did not answer")
    _admin(sim_thread.url, "DELETE", "faults")
    back = _exchange_round(sim_thread.url, cfg)
    assert {c.status for c in back.values()} == {"ok"}, back


def test_a_stopped_simulator_is_unreachable() -> None:
    with SimulatorThread(SimulatorConfig(seed=7, tick_interval_ms=0)) as running:
        url = running.url
        assert _exchange_round(url, HealthConfig())["exchange_reachable"].status == "ok"
    gone = _exchange_round(url, HealthConfig())
    assert gone["exchange_reachable"].status == "critical", gone


def test_a_skewed_exchange_clock_turns_skew_warn_then_critical_then_ok(
    sim_thread: SimulatorThread,
) -> None:
    cfg = HealthConfig(clock_skew_warn_ms=1000, clock_skew_critical_ms=5000)
    _admin(sim_thread.url, "POST", "clock_skew", {"ms": 2500})
    ahead = _exchange_round(sim_thread.url, cfg)["exchange_clock_skew_ms"]
    assert ahead.status == "warn", ahead
    assert isinstance(ahead.value, float)
    assert ahead.value > 1000
    _admin(sim_thread.url, "POST", "clock_skew", {"ms": -8000})
    behind = _exchange_round(sim_thread.url, cfg)["exchange_clock_skew_ms"]
    assert behind.status == "critical", behind
    assert isinstance(behind.value, float)
    assert behind.value < -5000
    _admin(sim_thread.url, "POST", "clock_skew", {"ms": 0})
    assert _exchange_round(sim_thread.url, cfg)["exchange_clock_skew_ms"].status == "ok"


# --- backups -------------------------------------------------------------------------------

def test_backups_that_stop_turn_backup_age_warn_then_critical_then_ok(
    tmp_path: Path, sim_thread: SimulatorThread,
) -> None:
    cfg = HealthConfig(backup_age_warn_seconds=3600, backup_age_critical_seconds=7200)
    data_dir = tmp_path / "data"
    backups = data_dir / "backups"
    healthy_store(data_dir, sim_thread.url)
    only = {"backup_age_seconds"}
    with open_store(data_dir, readonly=True) as store:
        taken = backup_time_ns(list_backups(backups)[0])
        assert taken is not None
        part = read_store(store, backups)
        assert judge(part, only, cfg, now=taken + 10**9)["backup_age_seconds"].status == "ok"
        # No backup since: an hour and a bit later, then two hours and a bit later.
        late = judge(part, only, cfg, now=taken + 3601 * 10**9)["backup_age_seconds"]
        assert late.status == "warn", late
        later = judge(part, only, cfg, now=taken + 7201 * 10**9)["backup_age_seconds"]
        assert later.status == "critical", later
    # Backups resume: a newer file, judged shortly after it was taken.
    with open_store(data_dir) as writable:
        take_backup(writable, backups, keep=5)
    with open_store(data_dir, readonly=True) as store:
        newest = backup_time_ns(list_backups(backups)[0])
        assert newest is not None
        assert newest > taken
        fresh = judge(read_store(store, backups), only, cfg, now=newest + 10**9)
        assert fresh["backup_age_seconds"].status == "ok", fresh


def test_a_damaged_newest_backup_fails_verification(
    tmp_path: Path, sim_thread: SimulatorThread,
) -> None:
    data_dir = tmp_path / "data"
    healthy_store(data_dir, sim_thread.url)
    newest = list_backups(data_dir / "backups")[0]
    raw = bytearray(newest.read_bytes())
    raw[len(raw) // 2 : len(raw) // 2 + 4096] = os.urandom(4096)  # pages past the header
    newest.write_bytes(bytes(raw))
    with open_store(data_dir, readonly=True) as store:
        got = judge(read_store(store, data_dir / "backups"), {"backup_age_seconds"},
                    HealthConfig())
    assert got["backup_age_seconds"].status == "critical", got
    assert "failed verification" in got["backup_age_seconds"].detail

"""backup / restore / journal / status / recover / verify through the CLI, on SQLite and
PostgreSQL (``--store``)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "recovery"))

from sessions import cli, write_session

from tradeguard.app.journal_demo import DemoFlow
from tradeguard.app.service import LocalService
from tradeguard.config import Config, StorageSettings
from tradeguard.recovery.manager import recover
from tradeguard.storage import open_store


def test_backup_then_restore_into_an_empty_dir(tmp_path: Path) -> None:
    live = write_session(tmp_path / "a", events=300)
    code, out = cli("backup", "--data-dir", str(tmp_path / "a"), "--keep", "2", "--json")
    assert code == 0, out
    backup = Path(out["path"])
    assert backup.exists()
    assert backup.stat().st_mode & 0o777 == 0o600
    code, out = cli("restore", str(backup), "--data-dir", str(tmp_path / "b"), "--json")
    assert code == 0, out
    code, verified = cli("verify", "--data-dir", str(tmp_path / "b"), "--json")
    assert code == 0
    assert verified["last_seq"] == live.last_seq
    with open_store(tmp_path / "b", readonly=True) as store:
        restored, _ = recover(store, write=False)
    assert restored == live
    # A non-empty target is refused and left alone.
    code, out = cli("restore", str(backup), "--data-dir", str(tmp_path / "a"), "--json")
    assert code == 2
    assert "not empty" in out["error"] or "non-empty" in out["error"], out
    # Retention.
    for _ in range(3):
        assert cli("backup", "--data-dir", str(tmp_path / "a"), "--keep", "2", "--json")[0] == 0
    _, out = cli("backup", "--data-dir", str(tmp_path / "a"), "--keep", "2", "--json")
    assert len(out["backups"]) == 2, out


def test_service_takes_periodic_backups(tmp_path: Path) -> None:
    async def main() -> int:
        config = Config(storage=StorageSettings(url=f"sqlite:///{tmp_path}",
                                                backup_every_seconds=0.2, backups_to_keep=2))
        service = await LocalService.start(config, config.storage.url,
                                           backup_dir=tmp_path / "backups")
        flow = DemoFlow(service, traders=2)
        stop = asyncio.Event()
        task = asyncio.create_task(flow.run(max_events=None, stop=stop, rate_per_s=500))
        await asyncio.sleep(1.0)
        stop.set()
        await task
        await service.close()
        return service.backups_taken

    taken = asyncio.run(main())
    assert taken >= 2
    assert len(list((tmp_path / "backups").iterdir())) == 2


def test_journal_and_status_output(tmp_path: Path) -> None:
    live = write_session(tmp_path, events=200)
    code, out = cli("journal", "--data-dir", str(tmp_path), "--after", "3", "--limit", "5",
                    "--json")
    assert code == 0
    assert [r["seq"] for r in out["records"]] == [4, 5, 6, 7, 8]
    assert out["last_seq"] == live.last_seq
    assert all("type" in r and "data" in r for r in out["records"])
    code, status = cli("status", "--data-dir", str(tmp_path), "--json")
    assert code == 0
    assert status["last_seq"] == live.last_seq
    assert status["clean_shutdown"] is True
    assert len(status["open_orders"]) == len(live.open_orders())
    for order in status["open_orders"]:
        assert set(order) >= {"client_order_id", "exchange_order_id", "symbol", "side", "price",
                              "amount", "filled", "status"}
        assert isinstance(order["amount"], str)
    code, text = cli("journal", "--data-dir", str(tmp_path), "--after", "0", "--limit", "3")
    assert code == 0
    assert "session_started" in text


def test_missing_store_is_a_clear_error_and_nothing_is_created(tmp_path: Path) -> None:
    target = tmp_path / "nothing-here"
    for command in ("verify", "journal", "status"):
        code, out = cli(command, "--data-dir", str(target), "--json")
        assert code == 2
        assert str(target) in out["error"]
    assert not target.exists()


def test_bad_config_is_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "tg.toml"
    config.write_text("[storage]\nsnapshot_every_events = -1\n")
    code, out = cli("verify", "--config", str(config), "--json")
    assert code == 2
    assert "tg.toml:2: key 'storage.snapshot_every_events'" in out["error"]


@pytest.mark.postgres
def test_commands_work_on_postgresql(pg_url: str) -> None:
    async def main() -> object:
        config = Config(storage=StorageSettings(url=pg_url, snapshot_every_events=150))
        service = await LocalService.start(config, pg_url)
        await DemoFlow(service, traders=4).run(max_events=400, stop=asyncio.Event())
        await service.close()
        return service.state

    live = asyncio.run(main())
    code, verified = cli("verify", "--store", pg_url, "--json")
    assert code == 0, verified
    assert verified["last_seq"] == live.last_seq  # type: ignore[attr-defined]
    code, report = cli("recover", "--store", pg_url, "--json", "--dry-run")
    assert code == 0
    assert report["unclean_shutdown"] is False
    assert report["snapshot_seq"] == live.last_seq  # type: ignore[attr-defined]
    code, status = cli("status", "--store", pg_url, "--json")
    assert code == 0
    assert status["last_seq"] == live.last_seq  # type: ignore[attr-defined]
    with open_store(pg_url, readonly=True) as store:
        restored, _ = recover(store, write=False)
    assert restored == live


_HOLD_LOCK = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.read()
"""


def _old_partial(directory: Path, name: str) -> Path:
    partial = directory / f".{name}.partial"
    partial.write_bytes(b"half a backup")
    (directory / f".{name}.partial-journal").write_bytes(b"its rollback journal")
    an_hour_ago = time.time() - 3600
    os.utime(partial, (an_hour_ago, an_hour_ago))
    return partial


def test_backup_removes_partials_left_by_a_killed_backup_and_keeps_a_live_one(
    tmp_path: Path,
) -> None:
    write_session(tmp_path / "a", events=100)
    backups = tmp_path / "a" / "backups"
    backups.mkdir()
    stale = _old_partial(backups, "tradeguard-default-20260101T000000.000000001Z.db")
    live = _old_partial(backups, "tradeguard-default-20260101T000000.000000002Z.db")
    holder = subprocess.Popen(  # a backup still being written by another process
        [sys.executable, "-c", _HOLD_LOCK, str(live)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        code, out = cli("backup", "--data-dir", str(tmp_path / "a"), "--json")
        assert code == 0, out
        assert not stale.exists()
        assert not stale.with_name(stale.name + "-journal").exists()
        assert live.exists()  # its writer holds the lock: not stale
    finally:
        holder.communicate("", timeout=10)
    assert Path(out["path"]).is_file()
    assert [p.name for p in backups.glob(".*.partial")] == [live.name]


def test_service_start_removes_stale_partials(tmp_path: Path) -> None:
    backups = tmp_path / "backups"
    backups.mkdir()
    stale = _old_partial(backups, "tradeguard-default-20260101T000000.000000003Z.db")

    async def main() -> None:
        config = Config(storage=StorageSettings(url=f"sqlite:///{tmp_path}"))
        service = await LocalService.start(config, config.storage.url, backup_dir=backups)
        await service.close()

    asyncio.run(main())
    assert not stale.exists()


def test_new_directories_are_created_owner_only(tmp_path: Path) -> None:
    write_session(tmp_path / "new" / "deeper" / "data", events=50)
    for d in (tmp_path / "new", tmp_path / "new" / "deeper", tmp_path / "new" / "deeper" / "data"):
        assert d.stat().st_mode & 0o777 == 0o700, d
    dest = tmp_path / "elsewhere" / "kept backups"
    code, out = cli("backup", "--data-dir", str(tmp_path / "new" / "deeper" / "data"),
                    "--dest", str(dest), "--json")
    assert code == 0, out
    assert (tmp_path / "elsewhere").stat().st_mode & 0o777 == 0o700
    assert dest.stat().st_mode & 0o777 == 0o700

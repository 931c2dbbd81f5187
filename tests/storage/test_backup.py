"""Backup retention and restore across backends."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradeguard.errors import StoreError, StoreNotFoundError
from tradeguard.storage import (
    MemoryStore,
    NewRecord,
    SqliteStore,
    list_backups,
    open_store,
    prune_backups,
    restore_backup,
    take_backup,
)


def rec(i: int) -> NewRecord:
    return NewRecord(type="test.Event", version=1, ts_ns=i, payload=b"p%d" % i)


def test_list_and_prune_ignore_other_files(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "data") as store:
        store.append([rec(1)], epoch=0)
        made = [take_backup(store, tmp_path / "b", keep=10) for _ in range(4)]
    (tmp_path / "b" / ".tradeguard-x.db.partial").write_bytes(b"half")
    (tmp_path / "b" / "pre-migration-1-2-1.db").write_bytes(b"kept apart")
    assert list_backups(tmp_path / "b") == made[::-1]
    assert prune_backups(tmp_path / "b", keep=1) == made[2::-1]
    assert list_backups(tmp_path / "b") == [made[3]]
    assert (tmp_path / "b" / "pre-migration-1-2-1.db").exists()
    assert list_backups(tmp_path / "missing") == []
    with pytest.raises(StoreError):
        prune_backups(tmp_path / "b", keep=0)


def test_sqlite_backup_restores_into_postgres(tmp_path: Path, pg_url: str) -> None:
    with SqliteStore(tmp_path / "data", session_id="bot-1") as store:
        store.append([rec(i) for i in range(5)], epoch=0)
        store.save_snapshot(5, 1, b"state", keep=1)
        backup = store.backup(tmp_path / "b")
        expected = list(store.read())
    # A different session name on the target: the backup's only session is used.
    assert restore_backup(backup, pg_url, session_id="bot-2") == 5
    with open_store(pg_url, session_id="bot-2") as target:
        assert list(target.read()) == expected
        assert target.load_snapshot(5).payload == b"state"


def test_memory_backup_is_a_sqlite_store(tmp_path: Path) -> None:
    with MemoryStore() as store:
        store.append([rec(1), rec(2)], epoch=0)
        backup = store.backup(tmp_path)
    with SqliteStore(backup, readonly=True) as copy:
        assert [r.payload for r in copy.read()] == [b"p1", b"p2"]


def test_restore_refusals(tmp_path: Path) -> None:
    with pytest.raises(StoreNotFoundError):
        restore_backup(tmp_path / "nope.db", tmp_path / "t")
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not sqlite" * 10)
    with pytest.raises(StoreError, match="not a SQLite database"):
        restore_backup(garbage, tmp_path / "t")
    assert not (tmp_path / "t").exists()
    with SqliteStore(tmp_path / "src") as src:
        src.append([rec(1)], epoch=0)
        backup = src.backup(tmp_path / "b")
    with SqliteStore(tmp_path / "busy") as busy:
        busy.begin_run("r")
    with pytest.raises(StoreError, match=r"busy.*not empty"):
        restore_backup(backup, tmp_path / "busy")

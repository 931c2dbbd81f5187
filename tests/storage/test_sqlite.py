"""SQLite specifics: file modes, foreign files, PRAGMAs, I/O failures, read-only opens."""

from __future__ import annotations

import sqlite3
import stat
import threading
from pathlib import Path
from typing import Any

import pytest

from tradeguard.errors import StoreError, StoreFailedError, StoreNotFoundError
from tradeguard.storage import NewRecord, SqliteStore, open_store
from tradeguard.storage.records import GENESIS_CRC, chain_crc


def rec(i: int) -> NewRecord:
    return NewRecord(type="test.Event", version=1, ts_ns=i, payload=b"p%d" % i)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


class FailingConnection:
    """A sqlite3 connection whose COMMIT (or journal INSERT) fails like a dying disk."""

    def __init__(self, path: str) -> None:
        self.inner = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.fail_commit = False
        self.fail_insert = False

    def execute(self, sql: str, params: Any = ()) -> Any:
        if self.fail_commit and sql.strip().upper() == "COMMIT":
            raise sqlite3.OperationalError("disk I/O error")
        if self.fail_insert and sql.startswith("INSERT INTO journal"):
            raise sqlite3.OperationalError("disk I/O error")
        return self.inner.execute(sql, params)

    def executemany(self, sql: str, seq: Any) -> Any:
        if self.fail_insert:
            raise sqlite3.OperationalError("disk I/O error")
        return self.inner.executemany(sql, seq)

    def close(self) -> None:
        self.inner.close()


class RecordingFactory:
    """``connect`` factory that keeps every connection it made (the first is the writer)."""

    def __init__(self) -> None:
        self.conns: list[FailingConnection] = []

    def __call__(self, path: str) -> FailingConnection:
        conn = FailingConnection(path)
        self.conns.append(conn)
        return conn


def test_file_modes(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with SqliteStore(data) as store:
        store.append([rec(1)], epoch=0)
        assert mode(data) == 0o700
        db = data / "tradeguard.db"
        assert mode(db) == 0o600
        for side in ("tradeguard.db-wal", "tradeguard.db-shm"):
            assert (data / side).exists()
            assert mode(data / side) == 0o600
        backup = store.backup(tmp_path / "backups")
        assert mode(backup) == 0o600
        assert mode(tmp_path / "backups") == 0o700


@pytest.mark.parametrize("content", [b"hello, this is not a database at all" * 100, b"\x00" * 4096])
def test_garbage_file_is_refused_and_untouched(tmp_path: Path, content: bytes) -> None:
    db = tmp_path / "tradeguard.db"
    db.write_bytes(content)
    with pytest.raises(StoreError, match=str(db)):
        SqliteStore(tmp_path)
    assert db.read_bytes() == content
    assert not (tmp_path / "tradeguard.db-wal").exists()


def test_foreign_sqlite_database_is_refused_and_untouched(tmp_path: Path) -> None:
    db = tmp_path / "tradeguard.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO customers VALUES (1, 'x')")
    conn.commit()
    conn.close()
    before = db.read_bytes()
    with pytest.raises(StoreError, match="not a tradeguard store"):
        SqliteStore(tmp_path)
    assert db.read_bytes() == before


@pytest.mark.parametrize(("sync", "level"), [("FULL", 2), ("NORMAL", 1)])
def test_pragmas_in_effect(tmp_path: Path, sync: str, level: int) -> None:
    factory = RecordingFactory()
    with SqliteStore(tmp_path, synchronous=sync, connect=factory) as store:
        store.append([rec(1)], epoch=0)
        writer = factory.conns[0].inner
        assert writer.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert writer.execute("PRAGMA synchronous").fetchone()[0] == level
        assert writer.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
        assert writer.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        store.last_seq()  # opens a reader through the same factory
        assert len(factory.conns) == 2
        assert factory.conns[1].inner.execute("PRAGMA query_only").fetchone()[0] == 1


def test_failed_commit_poisons_the_store(tmp_path: Path) -> None:
    factory = RecordingFactory()
    store = SqliteStore(tmp_path, connect=factory)
    store.append([rec(1)], epoch=0)
    writer = factory.conns[0]
    results: list[BaseException | None] = []

    def waiter(i: int) -> None:
        try:
            store.append([rec(i)], epoch=0)
            results.append(None)
        except BaseException as exc:
            results.append(exc)

    with store.writer.paused():
        threads = [threading.Thread(target=waiter, args=(i,)) for i in range(5)]
        for th in threads:
            th.start()
        store.writer.wait_queued(5)
        writer.fail_commit = True
    for th in threads:
        th.join()
    # Every caller of the failed group is told the outcome is unknown.
    assert len(results) == 5
    assert all(isinstance(r, StoreFailedError) for r in results)
    assert "outcome unknown" in str(results[0])
    assert "reopen" in str(results[0])
    # Later writes fail at once, even though the disk "works" again: no retry.
    writer.fail_commit = False
    with pytest.raises(StoreFailedError):
        store.append([rec(9)], epoch=0)
    with pytest.raises(StoreFailedError):
        store.save_snapshot(1, 1, b"s", keep=1)
    assert store.stats().poisoned
    assert store.last_seq() == 1  # reads still work
    store.close()
    with SqliteStore(tmp_path) as again:
        assert again.last_seq() == 1
        assert again.append([rec(10)], epoch=0).first_seq == 2


def test_failed_commit_led_by_the_caller_poisons_the_store(tmp_path: Path) -> None:
    factory = RecordingFactory()
    with SqliteStore(tmp_path, connect=factory) as store:
        store.append([rec(1)], epoch=0)
        factory.conns[0].fail_commit = True
        with pytest.raises(StoreFailedError, match="COMMIT"):
            store.append([rec(2)], epoch=0)  # committed (and failed) in this thread
        factory.conns[0].fail_commit = False
        with pytest.raises(StoreFailedError):
            store.append([rec(3)], epoch=0)
        with pytest.raises(StoreFailedError):
            store.submit([rec(4)], epoch=0)
        assert store.stats().caller_commits == 1
    with SqliteStore(tmp_path) as again:
        # The failed COMMIT never reached the disk here; nothing was retried.
        assert again.last_seq() == 1


def test_io_error_in_a_statement_poisons_the_store(tmp_path: Path) -> None:
    factory = RecordingFactory()
    with SqliteStore(tmp_path, connect=factory) as store:
        factory.conns[0].fail_insert = True
        with pytest.raises(StoreFailedError):
            store.append([rec(1)], epoch=0)
        factory.conns[0].fail_insert = False
        with pytest.raises(StoreFailedError):
            store.append([rec(2)], epoch=0)


def test_create_false_and_readonly_create_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "nothing-here"
    with pytest.raises(StoreNotFoundError):
        open_store(missing, create=False)
    with pytest.raises(StoreNotFoundError):
        open_store(missing, readonly=True)
    assert not missing.exists()


def test_readonly_open_reads_and_refuses_writes(tmp_path: Path) -> None:
    with SqliteStore(tmp_path) as store:
        store.append([rec(1), rec(2)], epoch=0)
    with open_store(tmp_path, readonly=True) as ro:
        assert ro.last_seq() == 2
        with pytest.raises(StoreError, match="read-only"):
            ro.append([rec(3)], epoch=0)


def test_url_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with open_store("sqlite:///./rel-data") as store:
        store.append([rec(1)], epoch=0)
    assert (tmp_path / "rel-data" / "tradeguard.db").is_file()
    with open_store(f"sqlite:///{tmp_path}/rel-data") as store:  # four slashes: absolute
        assert store.last_seq() == 1
    with open_store(str(tmp_path / "rel-data" / "tradeguard.db")) as store:
        assert store.last_seq() == 1
    with pytest.raises(StoreError, match="unknown store URL scheme"):
        open_store("mysql://x")


def test_two_sessions_share_one_file(tmp_path: Path) -> None:
    with SqliteStore(tmp_path, session_id="a") as a, SqliteStore(tmp_path, session_id="b") as b:
        a.append([rec(1), rec(2)], epoch=0)
        b.append([rec(3)], epoch=0)
        assert a.last_seq() == 2
        assert b.last_seq() == 1
        b.advance_epoch()
        assert a.current_epoch() == 0


def test_streams_100k_records_in_order(tmp_path: Path) -> None:
    total = 100_000
    with SqliteStore(tmp_path) as store:
        for start in range(0, total, 20_000):
            store.append([rec(i) for i in range(start, start + 20_000)], epoch=0)
        crc, count = GENESIS_CRC, 0
        for count, r in enumerate(store.read(), start=1):
            assert r.seq == count
            crc = chain_crc(
                crc,
                seq=r.seq,
                type=r.type,
                version=r.version,
                ts_ns=r.ts_ns,
                epoch=r.epoch,
                payload=r.payload,
            )
            assert crc == r.crc
        assert count == total

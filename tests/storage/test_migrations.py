"""Numbered migrations: recorded, idempotent, v1 stores migrated with a backup first."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pytest

from tradeguard.errors import StoreError, UnsupportedVersionError
from tradeguard.storage import (
    LATEST_VERSION,
    NewRecord,
    PostgresStore,
    SqliteStore,
    apply_migrations,
    open_store,
    restore_backup,
)
from tradeguard.storage.migrations import MIGRATIONS, applied_migrations, current_version
from tradeguard.storage.records import GENESIS_CRC, chain_crc


def rec(i: int) -> NewRecord:
    return NewRecord(type="test.Event", version=1, ts_ns=i, payload=b"p%d" % i)


def _columns(db: Path, table: str) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
    finally:
        conn.close()


def _chain_ok(store: SqliteStore | PostgresStore) -> bool:
    crc = GENESIS_CRC
    for r in store.read():
        crc = chain_crc(
            crc,
            seq=r.seq,
            type=r.type,
            version=r.version,
            ts_ns=r.ts_ns,
            epoch=r.epoch,
            payload=r.payload,
        )
        if crc != r.crc:
            return False
    return True


def test_migrations_recorded_and_idempotent(tmp_path: Path) -> None:
    db = tmp_path / "raw.db"
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        assert apply_migrations(conn, "sqlite") == [m.version for m in MIGRATIONS]
        assert apply_migrations(conn, "sqlite") == []
        ledger = applied_migrations(conn, "sqlite")
        assert [v for v, _, _ in ledger] == [m.version for m in MIGRATIONS]
        assert all(ns > 0 and text for _, ns, text in ledger)
        assert current_version(conn, "sqlite") == LATEST_VERSION
    finally:
        conn.close()


def test_v1_store_is_migrated_after_a_backup(tmp_path: Path) -> None:
    with SqliteStore(tmp_path, migrate_to=1) as v1:
        assert v1.schema_version() == 1
        v1.append([rec(1), rec(2), rec(3)], epoch=0)
        v1.begin_run("old-run")
        assert v1.quarantined() == []
    db = tmp_path / "tradeguard.db"
    assert "epoch" not in _columns(db, "journal")
    # A read-only open must not migrate: it says so instead.
    with pytest.raises(StoreError, match="needs migrating"):
        open_store(tmp_path, readonly=True)
    with SqliteStore(tmp_path) as store:
        assert store.schema_version() == LATEST_VERSION
        assert "epoch" in _columns(db, "journal")
        assert [r.epoch for r in store.read()] == [0, 0, 0]
        assert _chain_ok(store)
        assert store.append([rec(4)], epoch=0).first_seq == 4
        assert store.quarantine_from(4, "test") == 1
        prev = store.begin_run("new-run")
        assert prev is not None
        assert prev.run_id == "old-run"
    backups = sorted((tmp_path / "backups").glob(f"pre-migration-1-{LATEST_VERSION}-*.db"))
    assert len(backups) == 1
    assert "epoch" not in _columns(backups[0], "journal")
    # The pre-migration backup is a v1 store and restores into a current one.
    assert restore_backup(backups[0], tmp_path / "restored") == 3
    with SqliteStore(tmp_path / "restored") as restored:
        assert _chain_ok(restored)
    # Opening again applies nothing and takes no second backup.
    SqliteStore(tmp_path).close()
    assert len(list((tmp_path / "backups").glob("*.db"))) == 1


def test_empty_store_migrates_without_backup(tmp_path: Path) -> None:
    SqliteStore(tmp_path, migrate_to=1).close()
    SqliteStore(tmp_path).close()
    assert not (tmp_path / "backups").exists()


def test_store_newer_than_build_is_refused(tmp_path: Path) -> None:
    SqliteStore(tmp_path).close()
    conn = sqlite3.connect(tmp_path / "tradeguard.db")
    conn.execute(
        "INSERT INTO schema_migrations VALUES (?, 0, 'from the future')", (LATEST_VERSION + 1,)
    )
    conn.commit()
    conn.close()
    with pytest.raises(UnsupportedVersionError):
        SqliteStore(tmp_path)
    with pytest.raises(UnsupportedVersionError):
        open_store(tmp_path, readonly=True)


def test_postgres_v1_schema_is_migrated_after_a_backup(pg_url: str, tmp_path: Path) -> None:
    url = f"{pg_url}&backup_dir={tmp_path / 'pg-backups'}"
    with PostgresStore(url, migrate_to=1) as v1:
        assert v1.schema_version() == 1
        v1.append([rec(1), rec(2)], epoch=0)
    with PostgresStore(url) as store:
        assert store.schema_version() == LATEST_VERSION
        assert [r.epoch for r in store.read()] == [0, 0]
        assert _chain_ok(store)
        assert store.append([rec(3)], epoch=0).first_seq == 3
        schema = store.schema
    backups = list((tmp_path / "pg-backups").glob(f"pre-migration-1-{LATEST_VERSION}-*.db"))
    assert len(backups) == 1
    with SqliteStore(backups[0], readonly=True) as copy:
        assert [r.seq for r in copy.read()] == [1, 2]
    server = pg_url.split("?", maxsplit=1)[0]
    with psycopg.connect(server) as conn:
        rows = conn.execute(
            f'SELECT version FROM "{schema}".schema_migrations ORDER BY version'
        ).fetchall()
    assert [r[0] for r in rows] == [m.version for m in MIGRATIONS]

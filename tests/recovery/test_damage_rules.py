"""One rule for damage: what ``verify`` finds, recovery handles the same way (item 20).

- A record whose header column reads back with the wrong type (a flipped bit in the
  row's serial-type byte: SQLite checks STRICT types on write, not on read) is reported
  by ``verify`` naming the record, never a ``struct.error`` traceback.
- A damaged database file (``verify``: SQLite's integrity check fails) makes a writing
  recovery refuse with the same finding, instead of appending to a damaged B-tree.
- A snapshot row whose seq (or another column) is damaged is skipped for an older
  snapshot, and ``verify`` reports that snapshot.
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
from sessions import cli, write_session

DB = "tradeguard.db"


def _lift_strict(data_dir: Path, table: str, statement: str) -> None:
    """Run ``statement`` with ``table``'s STRICT lifted for a moment, as a flipped
    serial-type byte on disk would leave a value of the wrong type behind."""
    db = data_dir / DB
    conn = sqlite3.connect(db, isolation_level=None)
    (sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()
    loose = sql.replace(", STRICT", "").replace(" STRICT", "")
    conn.execute("PRAGMA writable_schema=ON")
    conn.execute("UPDATE sqlite_master SET sql = ? WHERE name = ?", (loose, table))
    conn.close()
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute(statement)
    conn.close()
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA writable_schema=ON")
    conn.execute("UPDATE sqlite_master SET sql = ? WHERE name = ?", (sql, table))
    conn.close()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def base_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("base") / "data"
    write_session(data, events=400, snapshot_every_events=100)
    return data


def _copy(base: Path, tmp_path: Path) -> Path:
    target = tmp_path / "data"
    target.mkdir()
    for f in base.iterdir():
        if f.is_file():
            (target / f.name).write_bytes(f.read_bytes())
    return target


def _snapshot_seqs(data: Path) -> list[int]:
    conn = sqlite3.connect(data / DB)
    try:
        return [r[0] for r in conn.execute("SELECT seq FROM snapshots ORDER BY seq DESC")]
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("ts_ns", "'abc'"),
        ("epoch", "1.5"),
        ("version", "'x'"),
        ("payload", "'zz'"),
        ("type", "x'00ff'"),
        ("crc", "'q'"),
    ],
)
def test_wrong_type_in_a_record_is_reported_and_recovery_refuses_to_write(
    base_store: Path, tmp_path: Path, column: str, value: str
) -> None:
    data = _copy(base_store, tmp_path)
    _lift_strict(data, "journal", f"UPDATE journal SET {column} = {value} WHERE seq = 200")
    code, report = cli("verify", "--json", "--data-dir", str(data))
    assert code == 1, report  # a report, not a traceback (exit 1 with an exception before)
    assert report["ok"] is False
    assert 200 in report["corrupt_records"]
    assert any(column in p["what"] for p in report["problems"] if p["where"] == "record 200")
    assert any(f"journal.{column}" in p for p in report["file_problems"]), report
    before = _digest(data / DB)
    for args in (("recover",), ("recover", "--dry-run")):
        code, out = cli(*args, "--json", "--data-dir", str(data))
        assert code == 2, (args, out)
        assert "database file is damaged" in out["error"], out
        assert f"journal.{column}" in out["error"], out
    assert _digest(data / DB) == before


def _damage_an_early_journal_page(data: Path) -> None:
    """Zero the B-tree page type of the leaf holding record 10: a structural damage that
    a recovery reading only from the newest snapshot on would never touch."""
    conn = sqlite3.connect(data / DB)
    (payload,) = conn.execute("SELECT payload FROM journal WHERE seq = 10").fetchone()
    (page_size,) = conn.execute("PRAGMA page_size").fetchone()
    conn.close()
    raw = bytearray((data / DB).read_bytes())
    offset = raw.find(payload)
    assert offset > 0
    page_start = offset - offset % page_size
    raw[page_start] = 0x00
    (data / DB).write_bytes(bytes(raw))


def test_damaged_file_stops_recovery_as_verify_reports_it(base_store: Path, tmp_path: Path) -> None:
    data = _copy(base_store, tmp_path)
    assert not (data / f"{DB}-wal").exists()
    _damage_an_early_journal_page(data)
    code, report = cli("verify", "--json", "--data-dir", str(data))
    assert code == 1, report
    assert report["file_problems"], report
    before = _digest(data / DB)
    code, out = cli("recover", "--json", "--data-dir", str(data))
    # Before: exit 0, "recovered", and the next run appended to the damaged B-tree.
    assert code == 2, out
    assert "database file is damaged" in out["error"], out
    assert _digest(data / DB) == before


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("seq", "'q'"),
        ("seq", "seq + 0.5"),
        ("version", "'x'"),
        ("ts_ns", "'x'"),
        ("crc", "'x'"),
        ("payload", "'x'"),
    ],
)
def test_damaged_snapshot_row_is_skipped_by_recovery_and_reported_by_verify(
    base_store: Path, tmp_path: Path, column: str, value: str
) -> None:
    data = _copy(base_store, tmp_path)
    newest, older = _snapshot_seqs(data)[:2]
    _lift_strict(data, "snapshots", f"UPDATE snapshots SET {column} = {value} WHERE seq = {newest}")
    code, report = cli("verify", "--json", "--data-dir", str(data))
    assert code == 1, report
    assert report["corrupt_snapshots"], report
    assert report["corrupt_records"] == []
    code, out = cli("recover", "--json", "--data-dir", str(data))
    assert code == 0, out  # before: a traceback (struct.error / TypeError), exit 1
    assert out["snapshot_seq"] == older
    assert len(out["skipped_snapshots"]) == 1
    assert column in out["skipped_snapshots"][0]["reason"]
    assert out["last_seq"] == report["last_seq"]

"""The WAL reader and the high-water mark, against WAL files SQLite itself wrote."""

from __future__ import annotations

import random
import shutil
import sqlite3
import struct
from array import array
from pathlib import Path

import pytest

from tradeguard.errors import StoreDamagedError
from tradeguard.storage import NewRecord, open_store
from tradeguard.storage.storeguard import MarkWriter, mark_path, read_mark
from tradeguard.storage.walcheck import (
    FRAME_HEADER_BYTES,
    WAL_HEADER_BYTES,
    scan_wal,
    wal_checksum,
)


def _reference_checksum(s0: int, s1: int, words: list[int]) -> tuple[int, int]:
    # SQLite's walChecksumBytes, word pair by word pair.
    for i in range(0, len(words), 2):
        s0 = (s0 + words[i] + s1) & 0xFFFFFFFF
        s1 = (s1 + words[i + 1] + s0) & 0xFFFFFFFF
    return s0, s1


@pytest.mark.parametrize("count", [2, 4, 6, 1026])
def test_checksum_matches_the_reference(count: int) -> None:
    rng = random.Random(count)
    words = [rng.getrandbits(32) for _ in range(count)]
    start = (rng.getrandbits(32), rng.getrandbits(32))
    assert wal_checksum(*start, array("I", words)) == _reference_checksum(*start, words)


def _live_wal(tmp_path: Path, commits: int) -> tuple[Path, sqlite3.Connection]:
    """A database whose ``commits`` transactions all sit in its WAL (no checkpoint)."""
    db = tmp_path / "t.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute("CREATE TABLE t (n INTEGER PRIMARY KEY, blob BLOB)")
    for n in range(commits - 1):
        conn.execute("INSERT INTO t VALUES (?, ?)", (n, random.Random(n).randbytes(700)))
    return db, conn


def _copy_store(db: Path, dest: Path) -> Path:
    """Copy the db and its WAL while the writer still has them open (no checkpoint)."""
    dest.mkdir()
    for suffix in ("", "-wal"):
        shutil.copyfile(f"{db}{suffix}", dest / f"{db.name}{suffix}")
    return dest / db.name


def _rows(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("SELECT count(*) FROM t").fetchone()[0])
    finally:
        conn.close()


def test_a_wal_sqlite_wrote_scans_clean(tmp_path: Path) -> None:
    db, conn = _live_wal(tmp_path, 30)
    scan = scan_wal(Path(f"{db}-wal"))
    conn.close()
    assert scan.header_ok
    assert scan.page_size == 4096
    assert scan.valid_commits == 30
    assert scan.valid_frames == scan.frames
    assert scan.first_bad is None
    assert not scan.drops_commits


def test_big_endian_checksums_as_sqlite_reads_them(tmp_path: Path) -> None:
    """Rewrite a WAL with magic 0x377f0683 (checksums over big-endian words): our scan
    and SQLite must both accept it, which pins down the byte-order rule."""
    db, conn = _live_wal(tmp_path, 12)
    copy = _copy_store(db, tmp_path / "be")
    conn.close()
    wal = Path(f"{copy}-wal")
    data = bytearray(wal.read_bytes())
    page = struct.unpack_from(">I", data, 8)[0]

    def words(chunk: bytes) -> array[int]:
        return array("I", struct.unpack(f">{len(chunk) // 4}I", chunk))

    struct.pack_into(">I", data, 0, 0x377F0683)
    s = wal_checksum(0, 0, words(bytes(data[:24])))
    struct.pack_into(">II", data, 24, *s)
    for off in range(WAL_HEADER_BYTES, len(data), FRAME_HEADER_BYTES + page):
        s = wal_checksum(*s, words(bytes(data[off : off + 8])))
        s = wal_checksum(*s, words(bytes(data[off + 24 : off + 24 + page])))
        struct.pack_into(">II", data, off + 16, *s)
    wal.write_bytes(bytes(data))
    scan = scan_wal(wal)
    assert (scan.header_ok, scan.valid_commits, scan.first_bad) == (True, 12, None)
    assert _rows(copy) == 11  # SQLite replays every commit of the rewritten WAL


def test_a_flipped_bit_shows_every_commit_sqlite_would_drop(tmp_path: Path) -> None:
    db, conn = _live_wal(tmp_path, 20)
    copy = _copy_store(db, tmp_path / "flip")
    conn.close()
    wal = Path(f"{copy}-wal")
    clean = scan_wal(wal)
    frame = FRAME_HEADER_BYTES + clean.page_size
    data = bytearray(wal.read_bytes())
    index = clean.frames // 2
    data[WAL_HEADER_BYTES + index * frame + 24 + 1000] ^= 0x04
    wal.write_bytes(bytes(data))
    scan = scan_wal(wal)
    assert scan.first_bad == index
    assert scan.bad_reason == "checksum mismatch"
    commits_from_index = sum(
        1
        for i in range(index, clean.frames)
        if struct.unpack_from(">I", data, WAL_HEADER_BYTES + i * frame + 4)[0]
    )
    assert scan.stray_commits == commits_from_index > 0
    assert scan.drops_commits
    # What SQLite does with it: silently fewer rows. That is what the guard prevents.
    assert _rows(copy) < 19


def test_frames_of_an_older_generation_are_not_strays(tmp_path: Path) -> None:
    """After a checkpoint SQLite restarts the WAL from frame 0 with new salts; what is
    left of the old generation behind the new frames is not lost data."""
    db, conn = _live_wal(tmp_path, 20)
    conn.execute("PRAGMA wal_checkpoint(RESTART)")
    conn.execute("INSERT INTO t VALUES (1000, x'00')")
    scan = scan_wal(Path(f"{db}-wal"))
    conn.close()
    assert scan.valid_commits == 1
    assert scan.first_bad is not None
    assert scan.bad_reason == "salt mismatch"
    assert scan.stray_commits == 0


def test_a_damaged_header_makes_every_commit_a_stray(tmp_path: Path) -> None:
    db, conn = _live_wal(tmp_path, 8)
    copy = _copy_store(db, tmp_path / "hdr")
    conn.close()
    wal = Path(f"{copy}-wal")
    data = bytearray(wal.read_bytes())
    data[5] ^= 0x01  # the version field
    wal.write_bytes(bytes(data))
    scan = scan_wal(wal)
    assert not scan.header_ok
    assert scan.first_bad == 0
    assert scan.stray_commits == 8


def test_missing_or_short_wal_is_empty(tmp_path: Path) -> None:
    assert scan_wal(tmp_path / "none-wal").frames == 0
    (tmp_path / "short-wal").write_bytes(b"\x37\x7f")
    assert not scan_wal(tmp_path / "short-wal").drops_commits


# --- the high-water mark -------------------------------------------------------------


def test_mark_slots_survive_one_torn_write(tmp_path: Path) -> None:
    path = tmp_path / "tradeguard.db-hwm-default"
    writer = MarkWriter(path, None)
    writer.write(5, 1)
    writer.write(9, 2)
    writer.close()
    assert read_mark(path) is not None
    assert (read_mark(path).seq, read_mark(path).epoch) == (9, 2)  # type: ignore[union-attr]
    data = bytearray(path.read_bytes())
    data[32 * (2 % 2) + 10] ^= 0xFF  # tear the newest slot (generation 2)
    path.write_bytes(bytes(data))
    mark = read_mark(path)
    assert mark is not None
    assert (mark.seq, mark.epoch) == (5, 1)  # the older, lower mark: the safe side
    data[32 + 10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(StoreDamagedError, match="no valid slot"):
        read_mark(path)


def rec(i: int) -> NewRecord:
    return NewRecord(type="test.Event", version=1, ts_ns=i, payload=b"p%d" % i)


def test_every_commit_moves_the_mark_and_quarantine_lowers_it(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        epoch = store.advance_epoch()
        path = mark_path(store.db_path, "default")  # type: ignore[attr-defined]
        for i in range(1, 6):
            store.append([rec(i), rec(i)], epoch=epoch)
            mark = read_mark(path)
            assert mark is not None
            assert (mark.seq, mark.epoch) == (2 * i, epoch)
        assert store.quarantine_from(7, "test") == 4
        mark = read_mark(path)
        assert mark is not None
        assert mark.seq == 6


def test_journal_behind_its_mark_is_refused_then_accepted(tmp_path: Path) -> None:
    """Records deleted behind SQLite's back (as a WAL truncation would): the mark sees it."""
    with open_store(tmp_path) as store:
        epoch = store.advance_epoch()
        store.append([rec(i) for i in range(10)], epoch=epoch)
    conn = sqlite3.connect(tmp_path / "tradeguard.db")
    conn.execute("DELETE FROM journal WHERE seq > 6")
    conn.commit()
    conn.close()
    with pytest.raises(StoreDamagedError, match="4 acknowledged record") as refused:
        open_store(tmp_path)
    assert refused.value.forensics_dir is not None
    with pytest.raises(StoreDamagedError, match="Nothing was changed"):
        open_store(tmp_path, readonly=True)
    with open_store(tmp_path, accept_loss=True) as store:
        assert store.last_seq() == 6
        assert store.accepted_loss is not None  # type: ignore[attr-defined]
    with open_store(tmp_path) as store:  # accepted once, for good
        assert store.last_seq() == 6


def test_a_torn_unacknowledged_tail_is_tolerated_only_with_its_mark(tmp_path: Path) -> None:
    """A stray commit frame (current salts, bad checksum) after the last acknowledged
    commit is what power loss leaves of an unacknowledged transaction: the mark says
    nothing acknowledged is missing, so the store opens; without a mark it cannot know."""
    data = tmp_path / "d"
    with open_store(data) as store:
        epoch = store.advance_epoch()
        store.append([rec(i) for i in range(5)], epoch=epoch)
        # Keep the WAL: copy the files while the store is still open.
        crashed = _copy_store(store.db_path, tmp_path / "crashed")  # type: ignore[attr-defined]
        shutil.copyfile(
            mark_path(store.db_path, "default"),  # type: ignore[attr-defined]
            mark_path(crashed, "default"),
        )
    wal = Path(f"{crashed}-wal")
    raw = bytearray(wal.read_bytes())
    salts = raw[16:24]
    page = struct.unpack_from(">I", raw, 8)[0]
    torn = struct.pack(">II", 2, 3) + salts + b"\x00" * 8 + bytes(page)
    wal.write_bytes(bytes(raw) + torn)
    assert scan_wal(wal).stray_commits == 1
    with open_store(crashed.parent) as store:
        assert store.last_seq() == 5
    wal.write_bytes(bytes(raw) + torn)
    mark_path(crashed, "default").unlink()
    with pytest.raises(StoreDamagedError, match="SQLite would drop them silently"):
        open_store(crashed.parent)


def test_every_session_of_the_file_is_checked(tmp_path: Path) -> None:
    """Records of another session in the same file lost: opening any session refuses
    (the WAL is shared); accepting the loss brings that session's mark down as well."""
    for session in ("a", "b"):
        with open_store(tmp_path, session_id=session) as store:
            epoch = store.advance_epoch()
            store.append([rec(i) for i in range(4)], epoch=epoch)
    conn = sqlite3.connect(tmp_path / "tradeguard.db")
    conn.execute("DELETE FROM journal WHERE session_id = 'b' AND seq > 2")
    conn.commit()
    conn.close()
    with pytest.raises(StoreDamagedError, match="session 'b' ends at journal seq 2"):
        open_store(tmp_path, session_id="a")
    open_store(tmp_path, session_id="a", accept_loss=True).close()
    with open_store(tmp_path, session_id="b") as store:
        assert store.last_seq() == 2

"""Damage to a real store on disk: detected, handled, and reported clearly.

A flipped byte in a record in the middle stops recovery naming the seq (unless
--accept-loss); a torn last record is quarantined and the journal continues; a corrupt
newest snapshot falls back to an older one; garbage where the store should be is an
error that names the file and leaves it untouched.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from sessions import cli, db, flip_payload_byte, write_session

from tradeguard.errors import JournalCorruptionError, StoreError
from tradeguard.recovery.manager import recover
from tradeguard.storage import open_store


def test_intact_session_verifies_and_recovers_to_the_live_state(tmp_path: Path) -> None:
    live = write_session(tmp_path, events=800, snapshot_every_events=250)
    code, report = cli("verify", "--data-dir", str(tmp_path), "--json")
    assert code == 0
    assert report["ok"] is True
    assert report["last_seq"] == live.last_seq
    assert report["corrupt_records"] == []
    assert report["corrupt_snapshots"] == []
    with open_store(tmp_path, readonly=True) as store:
        restored, rec = recover(store, write=False)
    assert restored == live
    assert rec.unclean_shutdown is False
    assert rec.snapshot_seq is not None


def drop_snapshots(data_dir: Path) -> None:
    conn = db(data_dir)
    conn.execute("DELETE FROM snapshots")
    conn.close()


def test_damage_covered_by_a_snapshot_is_reported_but_does_not_stop_recovery(
    tmp_path: Path,
) -> None:
    live = write_session(tmp_path, events=400)  # clean close takes a final snapshot
    bad = live.last_seq // 2
    flip_payload_byte(tmp_path, bad)
    code, report = cli("verify", "--data-dir", str(tmp_path), "--json")
    assert code == 1
    assert report["corrupt_records"] == [bad]
    code, report = cli("recover", "--data-dir", str(tmp_path), "--json", "--dry-run")
    assert code == 0
    assert report["snapshot_seq"] == live.last_seq
    assert report["replayed_events"] == 0


def test_flipped_byte_in_the_middle_stops_recovery_naming_the_seq(tmp_path: Path) -> None:
    live = write_session(tmp_path, events=400)
    drop_snapshots(tmp_path)  # recovery must replay across the damage
    bad = live.last_seq // 2
    flip_payload_byte(tmp_path, bad)
    code, report = cli("verify", "--data-dir", str(tmp_path), "--json")
    assert code == 1
    assert report["ok"] is False
    assert report["corrupt_records"] == [bad]
    code, out = cli("recover", "--data-dir", str(tmp_path), "--json")
    assert code == 2
    assert out["error_type"] == "JournalCorruptionError"
    assert f"record(s) {bad} " in out["error"]
    # Nothing was changed by the failed recovery.
    with open_store(tmp_path, readonly=True) as store:
        assert store.last_seq() == live.last_seq
        assert store.quarantined() == []
        with pytest.raises(JournalCorruptionError) as info:
            recover(store, write=False)
        assert info.value.corrupt_seqs == [bad]


def test_accept_loss_quarantines_from_the_damage_and_continues(tmp_path: Path) -> None:
    live = write_session(tmp_path, events=400)
    drop_snapshots(tmp_path)
    bad = live.last_seq - 50
    flip_payload_byte(tmp_path, bad)
    code, report = cli("recover", "--data-dir", str(tmp_path), "--accept-loss", "--json")
    assert code == 0, report
    assert report["quarantined_records"] == live.last_seq - bad + 1
    assert report["last_seq"] == bad - 1
    assert report["corrupt_records"] == [bad]
    code, verified = cli("verify", "--data-dir", str(tmp_path), "--json")
    assert code == 0, verified
    assert verified["quarantined_records"] == live.last_seq - bad + 1
    # The session goes on from the last valid record.
    write_session(tmp_path, events=50, seed=2)
    code, verified = cli("verify", "--data-dir", str(tmp_path), "--json")
    assert code == 0
    assert verified["last_seq"] > bad


def test_torn_last_record_is_quarantined_with_its_raw_bytes(tmp_path: Path) -> None:
    live = write_session(tmp_path, events=300, close=False)
    last = live.last_seq
    conn = db(tmp_path)
    (payload,) = conn.execute("SELECT payload FROM journal WHERE seq = ?", (last,)).fetchone()
    torn = payload[: len(payload) // 2]
    conn.execute("UPDATE journal SET payload = ? WHERE seq = ?", (torn, last))
    conn.close()
    code, report = cli("recover", "--data-dir", str(tmp_path), "--json")
    assert code == 0, report
    assert report["unclean_shutdown"] is True
    assert report["quarantined_records"] == 1
    assert report["last_seq"] == last - 1
    with open_store(tmp_path) as store:
        (q,) = store.quarantined()
        assert q.seq == last
        assert payload[: len(payload) // 2] in q.raw
        assert store.last_seq() == last - 1
    code, verified = cli("verify", "--data-dir", str(tmp_path), "--json")
    assert code == 0
    assert verified["ok"] is True


def test_corrupt_newest_snapshot_falls_back_to_an_older_one(tmp_path: Path) -> None:
    live = write_session(tmp_path, events=900, snapshot_every_events=200, snapshots_to_keep=3)
    conn = db(tmp_path)
    seqs = [s for (s,) in conn.execute("SELECT seq FROM snapshots ORDER BY seq DESC")]
    assert len(seqs) >= 2
    newest = seqs[0]
    conn.execute("UPDATE snapshots SET payload = zeroblob(length(payload)) WHERE seq = ?",
                 (newest,))
    conn.close()
    code, verified = cli("verify", "--data-dir", str(tmp_path), "--json")
    assert code == 1
    assert verified["corrupt_snapshots"] == [newest]
    code, report = cli("recover", "--data-dir", str(tmp_path), "--json", "--dry-run")
    assert code == 0
    assert report["snapshot_seq"] == seqs[1]
    assert [s["seq"] for s in report["skipped_snapshots"]] == [newest]
    assert report["replayed_events"] == live.last_seq - seqs[1]
    with open_store(tmp_path, readonly=True) as store:
        restored, _ = recover(store, write=False)
    assert restored == live


def test_garbage_file_where_the_store_should_be(tmp_path: Path) -> None:
    tmp_path.chmod(0o700)
    garbage = random.Random(5).randbytes(8192)
    path = tmp_path / "tradeguard.db"
    path.write_bytes(garbage)
    for command in ("verify", "recover", "status", "journal"):
        code, out = cli(command, "--data-dir", str(tmp_path), "--json")
        assert code == 2, (command, out)
        assert out["ok"] is False
        assert str(path) in out["error"], out
    with pytest.raises(StoreError, match=str(path)):
        open_store(tmp_path)
    assert path.read_bytes() == garbage


def test_bit_flips_in_the_file_never_pass_silently(tmp_path: Path) -> None:
    """Flip bytes in the journal's pages on disk: verify or recovery must notice."""
    write_session(tmp_path, events=300)
    path = tmp_path / "tradeguard.db"
    original = path.read_bytes()
    marker = b"tg1-"  # client order ids of seed 1 are in many payloads
    positions = [i for i in range(len(original)) if original.startswith(marker, i)]
    assert positions
    rng = random.Random(11)
    noticed = 0
    for trial in range(12):
        where = rng.choice(positions) + rng.randint(0, 8)
        damaged = bytearray(original)
        damaged[where] ^= 1 << rng.randint(0, 7)
        path.write_bytes(bytes(damaged))
        for leftover in tmp_path.glob("tradeguard.db-*"):
            os.remove(leftover)
        code, out = cli("verify", "--data-dir", str(tmp_path), "--json")
        # Either SQLite itself refuses the page (exit 2) or our chain finds it (exit 1).
        assert code in (1, 2), (trial, where, out)
        noticed += 1
    assert noticed == 12

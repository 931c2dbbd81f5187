"""Damage in the WAL of a crashed store never shortens the journal silently (issue 7, 18).

A writer subprocess appends from several threads and is SIGKILLed, which leaves the
newest acknowledged commits in ``tradeguard.db-wal`` (no checkpoint ran). Each trial
copies that crashed store, damages the copy's WAL (one flipped bit, or a truncation),
and opens it: either the store opens and every acknowledged record is there, or the
open is refused with ``StoreDamagedError`` and the damaged files are in the forensics
copy. Never a shorter journal without a word. Positions are sampled (seeded) across the
whole WAL, with every frame boundary among the truncations' candidates.

Without the guard (this test before the fix) most trials open a shorter journal.
"""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from faultlib import PYTHON, WRITER, Ack, check_acks, cli_json, parse_writer_output

from tradeguard.errors import StoreDamagedError
from tradeguard.storage import open_store
from tradeguard.storage.walcheck import FRAME_HEADER_BYTES, WAL_HEADER_BYTES, scan_wal

SEED = 18
FLIPS = 60
TRUNCATIONS = 30
ACKS_BEFORE_KILL = 120
DB = "tradeguard.db"
WAL = DB + "-wal"


def _crashed_store(dest: Path) -> list[Ack]:
    """A store whose writer was SIGKILLed after ``ACKS_BEFORE_KILL`` acknowledgements."""
    proc = subprocess.Popen(
        [PYTHON, str(WRITER), str(dest), "--threads", "4", "--seed", str(SEED)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    head: list[str] = []
    acks = 0
    for line in proc.stdout:
        head.append(line)
        acks += line.startswith("ACK ")
        if acks >= ACKS_BEFORE_KILL:
            break
    proc.send_signal(signal.SIGKILL)
    rest = proc.stdout.read()
    assert proc.wait() == -signal.SIGKILL
    log = parse_writer_output("".join(head) + rest)
    assert not log.failed, log.raw
    return log.acks


@pytest.fixture(scope="module")
def crashed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Ack]]:
    """The pristine crashed store (never opened after the kill) and its acks."""
    base = tmp_path_factory.mktemp("crashed") / "data"
    acks = _crashed_store(base)
    scan = scan_wal(base / WAL)
    # The point of the exercise: the acknowledged tail lives in the WAL only.
    assert scan.header_ok
    assert scan.valid_commits >= 20
    assert scan.first_bad in (None, scan.frames)
    return base, acks


def _copy(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest)
    return dest


def _journal(data: Path) -> dict[int, bytes]:
    with open_store(data, create=False) as store:
        return {r.seq: bytes(r.payload) for r in store.read()}


def _outcome(data: Path, acks: list[Ack], context: str) -> str:
    """Open the damaged copy: 'refused' (files kept for forensics) or 'intact'."""
    damaged_wal = (data / WAL).read_bytes() if (data / WAL).exists() else b""
    refusal: StoreDamagedError | None = None
    try:
        journal = _journal(data)
    except StoreDamagedError as exc:
        refusal = exc
    if refusal is None:
        check_acks(acks, journal, context)
        return "intact"
    # Lost commits, or (when the WAL held the tables themselves) tables hidden by it.
    assert "SQLite would drop them silently" in str(refusal) or "acknowledged" in str(
        refusal
    ), context
    assert refusal.forensics_dir is not None, context
    kept = Path(refusal.forensics_dir)
    assert kept.parent == data / "forensics", context
    assert (kept / WAL).read_bytes() == damaged_wal, context
    assert (data / WAL).read_bytes() == damaged_wal, f"{context}: the WAL was changed"
    return "refused"


def test_pristine_crashed_store_opens_with_every_ack(
    crashed: tuple[Path, list[Ack]], tmp_path: Path
) -> None:
    base, acks = crashed
    assert _outcome(_copy(base, tmp_path / "d"), acks, "pristine") == "intact"


def test_bit_flips_across_the_wal_never_lose_acks_silently(
    crashed: tuple[Path, list[Ack]], tmp_path: Path
) -> None:
    base, acks = crashed
    size = (base / WAL).stat().st_size
    rng = random.Random(SEED)
    # Half anywhere, half in frame headers and the WAL header (the fields that steer).
    scan = scan_wal(base / WAL)
    frame = FRAME_HEADER_BYTES + scan.page_size
    positions = [rng.randrange(size) for _ in range(FLIPS // 2)]
    positions += [
        WAL_HEADER_BYTES + rng.randrange(scan.valid_frames) * frame + rng.randrange(24)
        for _ in range(FLIPS // 2 - 4)
    ]
    positions += [rng.randrange(WAL_HEADER_BYTES) for _ in range(4)]
    seen = {"refused": 0, "intact": 0}
    for trial, where in enumerate(positions):
        bit = rng.randrange(8)
        context = f"seed={SEED} flip trial={trial} byte={where} bit={bit}"
        data = _copy(base, tmp_path / f"flip{trial}")
        with (data / WAL).open("r+b") as fh:
            fh.seek(where)
            byte = fh.read(1)[0]
            fh.seek(where)
            fh.write(bytes([byte ^ (1 << bit)]))
        seen[_outcome(data, acks, context)] += 1
        shutil.rmtree(data)
    print(f"wal bit flips: {seen}")
    assert seen["refused"] >= FLIPS // 3  # the guard did fire where data was at stake


def test_truncations_across_the_wal_never_lose_acks_silently(
    crashed: tuple[Path, list[Ack]], tmp_path: Path
) -> None:
    base, acks = crashed
    scan = scan_wal(base / WAL)
    frame = FRAME_HEADER_BYTES + scan.page_size
    rng = random.Random(SEED + 1)
    boundaries = [WAL_HEADER_BYTES + i * frame for i in range(scan.frames + 1)]
    # Frame boundaries leave no torn frame behind for a WAL walk to see.
    cuts = rng.sample(boundaries, TRUNCATIONS // 2)
    cuts += [rng.randrange(scan.size) for _ in range(TRUNCATIONS - len(cuts))]
    seen = {"refused": 0, "intact": 0}
    for trial, cut in enumerate(cuts):
        context = f"seed={SEED} truncation trial={trial} at={cut}"
        data = _copy(base, tmp_path / f"cut{trial}")
        with (data / WAL).open("r+b") as fh:
            fh.truncate(cut)
        seen[_outcome(data, acks, context)] += 1
        shutil.rmtree(data)
    print(f"wal truncations: {seen}")
    assert seen["refused"] >= TRUNCATIONS // 2


def _damaged_copy(crashed: tuple[Path, list[Ack]], dest: Path) -> tuple[Path, int]:
    """A crashed store with one bit flipped in the page of a frame halfway through the
    WAL's commits (earlier commits stay readable); returns it and the frame index."""
    base, _ = crashed
    data = _copy(base, dest)
    scan = scan_wal(data / WAL)
    index = scan.valid_frames // 2
    with (data / WAL).open("r+b") as fh:
        fh.seek(WAL_HEADER_BYTES + index * (FRAME_HEADER_BYTES + scan.page_size) + 124)
        byte = fh.read(1)[0]
        fh.seek(-1, 1)
        fh.write(bytes([byte ^ 0x10]))
    return data, index


def test_cli_refuses_then_recover_accept_loss_goes_on(
    crashed: tuple[Path, list[Ack]], tmp_path: Path
) -> None:
    data, index = _damaged_copy(crashed, tmp_path / "d")
    # The -shm is SQLite's rebuildable index of the WAL (a reader may rebuild it).
    before = {
        p.name: p.read_bytes()
        for p in data.iterdir()
        if p.is_file() and not p.name.endswith("-shm")
    }
    for command in ("verify", "status", "journal"):
        code, out = cli_json(command, "--data-dir", str(data), "--json")
        assert code == 2, (command, out)
        assert out["error_type"] == "StoreDamagedError", out
        assert "committed data would be lost" in out["error"], out
        assert f"{WAL} frame {index} (checksum mismatch)" in out["error"], out
    for _ in range(2):  # retried: still refused, and still one forensics copy
        code, out = cli_json("recover", "--data-dir", str(data), "--json")
        assert code == 2, out
        assert out["error_type"] == "StoreDamagedError", out
        assert "--accept-loss" in out["error"], out
    after = {
        p.name: p.read_bytes()
        for p in data.iterdir()
        if p.is_file() and not p.name.endswith("-shm")
    }
    assert after == before  # refusing changed nothing (read-only or writable)
    kept = sorted((data / "forensics").iterdir())
    assert len(kept) == 1
    assert (kept[0] / WAL).read_bytes() == before[WAL]

    code, out = cli_json("recover", "--data-dir", str(data), "--accept-loss", "--json")
    assert code == 0, out
    # Accepted on purpose: from now on the store opens, and verify is clean.
    code, out = cli_json("verify", "--data-dir", str(data), "--json")
    assert (code, out["ok"]) == (0, True), out
    # One copy of the damaged files, however often they were refused or accepted.
    assert sorted((data / "forensics").iterdir()) == kept
    assert (kept[0] / WAL).read_bytes() == before[WAL]
    why = (kept[0] / "WHY.txt").read_text().splitlines()
    assert len(why) == 3  # refused by recover, by recover again, then accepted
    assert "accepted with --accept-loss" in why[-1]


# --- item 19: damage that hides the tables never gets a fresh store over it ----------


def _store_files(data: Path) -> dict[str, bytes]:
    # The -shm is SQLite's rebuildable index of the WAL: a reader may rewrite it.
    return {
        p.name: p.read_bytes()
        for p in data.iterdir()
        if p.is_file() and not p.name.endswith("-shm")
    }


def _assert_every_command_refuses(data: Path, needle: str) -> None:
    """verify, status, recover (in-process CLI) and run (the console command) refuse
    with one clear line; the store's files stay byte for byte as they were."""
    before = _store_files(data)
    for command in ("verify", "status", "recover"):
        code, out = cli_json(command, "--data-dir", str(data), "--json")
        assert code == 2, (command, out)
        assert out["error_type"] == "StoreDamagedError", (command, out)
        assert needle in out["error"], (command, out)
    proc = subprocess.run(
        [PYTHON, "-m", "tradeguard", "run", "--no-http", "--data-dir", str(data), "--duration",
         "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert needle in proc.stderr, proc.stderr
    assert _store_files(data) == before
    # The writable open (recover) kept a copy of the damaged files for forensics.
    kept = sorted((data / "forensics").iterdir())
    assert kept, "no forensics copy"
    for name, content in before.items():
        assert (kept[-1] / name).read_bytes() == content, name


def test_wal_header_damage_hiding_every_table_is_refused_everywhere(
    crashed: tuple[Path, list[Ack]], tmp_path: Path
) -> None:
    """The crashed store's tables live in its WAL only; a flipped salt in the WAL header
    makes SQLite ignore the whole WAL and see an empty database. Before the fix,
    ``verify`` said "no tradeguard store yet" and ``recover`` created fresh tables over
    the WAL that held every record."""
    base, _ = crashed
    data = _copy(base, tmp_path / "d")
    with (data / WAL).open("r+b") as fh:
        fh.seek(16)  # salt-1
        byte = fh.read(1)[0]
        fh.seek(16)
        fh.write(bytes([byte ^ 0x01]))
    _assert_every_command_refuses(data, "the WAL header is damaged")


def test_emptied_schema_page_is_never_initialised_over(tmp_path: Path) -> None:
    """Page 1 of a checkpointed store damaged so that sqlite_master reads as empty."""
    from tradeguard.storage import NewRecord

    data = tmp_path / "d"
    with open_store(data) as store:
        epoch = store.advance_epoch()
        for i in range(200):
            store.append(
                [NewRecord(type="test.Event", version=1, ts_ns=i, payload=b"x" * 200)],
                epoch=epoch,
            )
    assert not (data / WAL).exists()  # checkpointed by the clean close
    with (data / DB).open("r+b") as fh:
        fh.seek(100)  # the b-tree header of sqlite_master's root page
        assert fh.read(1) == b"\x0d"  # a leaf: its cell count is at +3
        fh.seek(103)
        fh.write(b"\x00\x00")
    _assert_every_command_refuses(data, "no readable tradeguard tables")

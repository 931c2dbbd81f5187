"""Inspection commands open the store truly read-only (issue 7 items 10 and 20).

``status``, ``verify``, ``journal`` and ``flags`` change no file: the db, its -wal and
its -shm are byte-for-byte the same afterwards (before, closing the store checkpointed
and deleted the WAL), and no file appears. They work on a read-only mount, for a store
closed cleanly (no WAL) and for one whose writer was killed (records still in the WAL).
The read-only mount is a real ``mount --bind`` + ``remount,ro`` (we run as root, and
root ignores permission bits); without the privilege the test is skipped, saying why.
"""

from __future__ import annotations

import contextlib
import hashlib
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from sessions import cli, write_session

from tradeguard.recovery.manager import recover
from tradeguard.storage import open_store

HERE = Path(__file__).parent
INSPECT = [
    ("verify", "--json"),
    ("status", "--json"),
    ("journal", "--json", "--limit", "5"),
    ("flags", "--json"),
]

_KILLED_WRITER = textwrap.dedent(
    """
    import asyncio, os, sys
    from pathlib import Path
    sys.path.insert(0, sys.argv[2])
    from sessions import config_for
    from tradeguard.app.journal_demo import DemoFlow
    from tradeguard.app.service import LocalService

    async def main() -> None:
        config = config_for(Path(sys.argv[1]))
        service = await LocalService.start(config, config.storage.url)
        await DemoFlow(service, seed=3, traders=4).run(max_events=400, stop=asyncio.Event())
        os._exit(0)  # as SIGKILL would: no close, no checkpoint, the WAL stays

    asyncio.run(main())
    """
)


def killed_store(data_dir: Path) -> None:
    """A store whose writer died: records in the -wal, a -shm beside it."""
    subprocess.run(
        [sys.executable, "-c", _KILLED_WRITER, str(data_dir), str(HERE)],
        check=True,
        stderr=subprocess.DEVNULL,
    )
    wal = data_dir / "tradeguard.db-wal"
    assert wal.stat().st_size > 0
    assert (data_dir / "tradeguard.db-shm").exists()


def clean_store(data_dir: Path) -> None:
    write_session(data_dir, events=300)
    assert not (data_dir / "tradeguard.db-wal").exists()


def fingerprint(data_dir: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(data_dir.rglob("*"))
        if p.is_file()
    }


def last_seq_of(data_dir: Path) -> int:
    with open_store(data_dir, readonly=True) as store:
        state, _ = recover(store, write=False)
    return state.last_seq


@pytest.mark.parametrize("make", [clean_store, killed_store], ids=["clean", "killed"])
def test_inspection_changes_no_file(tmp_path: Path, make: object) -> None:
    data = tmp_path / "data"
    make(data)  # type: ignore[operator]
    before = fingerprint(data)
    for args in INSPECT:
        code, out = cli(*args, "--data-dir", str(data))
        assert code == 0, (args, out)
        assert fingerprint(data) == before, f"{args[0]} changed the store's files"
    if "tradeguard.db-wal" in before:
        # The records in the WAL were read, not ignored (immutable would ignore them).
        code, out = cli("status", "--json", "--data-dir", str(data))
        assert out["last_seq"] > 0


@contextlib.contextmanager
def read_only_view(source: Path, mount_point: Path) -> Iterator[Path]:
    """``source`` bind-mounted read-only at ``mount_point``; unmounted afterwards."""
    mount_point.mkdir()
    bind = subprocess.run(
        ["mount", "--bind", str(source), str(mount_point)],
        check=False,
        capture_output=True,
        text=True,
    )
    if bind.returncode != 0:
        pytest.skip(f"cannot bind-mount here (needs root or CAP_SYS_ADMIN): {bind.stderr.strip()}")
    try:
        ro = subprocess.run(
            ["mount", "-o", "remount,ro,bind", str(mount_point)],
            check=False,
            capture_output=True,
            text=True,
        )
        if ro.returncode != 0:
            pytest.skip(f"cannot remount read-only here: {ro.stderr.strip()}")
        probe = mount_point / ".write-probe"
        with pytest.raises(OSError):
            probe.write_bytes(b"x")
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


@pytest.mark.parametrize("make", [clean_store, killed_store], ids=["clean", "killed"])
def test_inspection_works_on_a_read_only_mount(tmp_path: Path, make: object) -> None:
    data = tmp_path / "data"
    make(data)  # type: ignore[operator]
    expected_seq = last_seq_of(data)
    before = fingerprint(data)
    with read_only_view(data, tmp_path / "ro") as ro:
        for args in INSPECT:
            code, out = cli(*args, "--data-dir", str(ro))
            assert code == 0, (args, out)
        code, out = cli("status", "--json", "--data-dir", str(ro))
        assert out["last_seq"] == expected_seq
        code, out = cli("verify", "--json", "--data-dir", str(ro))
        assert out["ok"] is True
        assert out["last_seq"] == expected_seq
    assert fingerprint(data) == before


def test_wal_without_its_shm_on_a_read_only_mount_is_one_clear_error(tmp_path: Path) -> None:
    data = tmp_path / "data"
    killed_store(data)
    (data / "tradeguard.db-shm").unlink()
    with read_only_view(data, tmp_path / "ro") as ro:
        code, out = cli("status", "--json", "--data-dir", str(ro))
    assert code == 2, out
    assert "read-only" in out["error"], out
    assert str(ro) in out["error"], out

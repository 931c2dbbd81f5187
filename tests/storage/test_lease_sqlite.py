"""The SQLite lease's own clock rules: one host's monotonic clock, valid within one boot."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tradeguard.errors import LeaseLostError, StoreError, StoreNotFoundError
from tradeguard.storage import SqliteStore
from tradeguard.storage.lease import open_lease
from tradeguard.storage.lease_sqlite import SqliteLease, current_boot_id


class FakeClock:
    """A monotonic clock the test moves by hand (nanoseconds)."""

    def __init__(self) -> None:
        self.now = 1_000_000_000_000

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1e9)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    SqliteStore(tmp_path / "data").close()
    return tmp_path / "data"


def test_expiry_follows_the_monotonic_clock(data_dir: Path) -> None:
    clock = FakeClock()
    with SqliteLease(data_dir, monotonic_ns=clock) as a, SqliteLease(
        data_dir, monotonic_ns=clock
    ) as b:
        lease = a.acquire("leader-a", 5.0)
        assert lease is not None
        clock.advance(4.9)
        assert b.acquire("leader-b", 5.0) is None
        info = b.read()
        assert info is not None
        assert info.remaining_s == pytest.approx(0.1)
        lease = a.renew(lease)  # 5 s from now again
        clock.advance(4.9)
        assert b.acquire("leader-b", 5.0) is None
        clock.advance(0.2)
        taken = b.acquire("leader-b", 5.0)
        assert taken is not None
        assert taken.epoch == lease.epoch + 1
        with pytest.raises(LeaseLostError):
            a.renew(lease)


def test_a_lease_of_another_boot_has_expired(data_dir: Path) -> None:
    with SqliteLease(data_dir, boot_id="an-earlier-boot") as before_reboot:
        old = before_reboot.acquire("leader-a", 3600.0)
        assert old is not None
    with SqliteLease(data_dir) as after_reboot:
        info = after_reboot.read()
        assert info is not None
        assert (info.holder, info.live) == ("leader-a", False)
        lease = after_reboot.acquire("leader-b", 5.0)
        assert lease is not None
        assert lease.epoch == old.epoch + 1


def test_remaining_time_beyond_the_ttl_means_the_clock_restarted(data_dir: Path) -> None:
    # Without a boot id (not Linux), a reboot shows as a lease whose remaining time on
    # the new, restarted clock exceeds its own TTL: impossible within one boot.
    old_clock, new_clock = FakeClock(), FakeClock()
    old_clock.advance(100_000)
    with SqliteLease(data_dir, boot_id="", monotonic_ns=old_clock) as before:
        assert before.acquire("leader-a", 5.0) is not None
    with SqliteLease(data_dir, boot_id="", monotonic_ns=new_clock) as after:
        assert after.acquire("leader-b", 5.0) is not None


def test_boot_id_is_read_on_linux() -> None:
    if not Path("/proc/sys/kernel/random/boot_id").exists():
        pytest.skip("no /proc boot id on this system")
    assert len(current_boot_id()) == 36
    assert current_boot_id() == current_boot_id()


def test_a_writer_frozen_in_a_commit_delays_takeover_but_never_shares_it(
    data_dir: Path,
) -> None:
    with SqliteLease(data_dir, busy_timeout_ms=50) as lease_store:
        frozen = sqlite3.connect(data_dir / "tradeguard.db", isolation_level=None)
        try:
            frozen.execute("BEGIN IMMEDIATE")  # a holder stopped mid-commit
            with pytest.raises(StoreError, match="write lock is held"):
                lease_store.acquire("standby", 5.0)
        finally:
            frozen.execute("ROLLBACK")
            frozen.close()
        assert lease_store.acquire("standby", 5.0) is not None


def test_a_store_not_yet_migrated_has_no_lease(tmp_path: Path) -> None:
    SqliteStore(tmp_path / "v2", migrate_to=2).close()
    with pytest.raises(StoreError, match="migrates to schema 3"):
        open_lease(tmp_path / "v2")
    SqliteStore(tmp_path / "v2").close()  # opening it writable migrates it
    open_lease(tmp_path / "v2").close()


def test_a_file_that_is_no_store_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.db"
    bogus.write_bytes(b"this is not a database, just text" * 100)
    with pytest.raises(StoreError, match="not a readable tradeguard store"):
        SqliteLease(bogus)
    with pytest.raises(StoreNotFoundError):
        SqliteLease(tmp_path / "absent.db")

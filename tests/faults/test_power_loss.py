"""Power loss through an apsw VFS shim: with synchronous=FULL nothing acknowledged is lost.

Each cycle opens the store through ``PowerLossVFS`` (via ``SqliteStore(connect=...)``
and the apsw adapter), appends seeded random batches, and cuts power at a random I/O
(or after the last append): unsynced writes are dropped, reordered or torn. The files are
then reopened normally (stdlib sqlite3): every acknowledged record must be there with
its payload, the hash chain must verify and ``PRAGMA integrity_check`` must say ok. The
data dir carries over from cycle to cycle, so later cycles also recover earlier cuts.

The canary runs the same harness with synchronous=NORMAL, which does not fsync commits:
it must lose acknowledged records in a good share of cycles, or the harness tests nothing.
"""

from __future__ import annotations

import contextlib
import random
import sqlite3
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import apsw
import pytest
from apsw_adapter import ApswConnection, apsw_connect_factory
from faultlib import read_store_journal
from powerloss_vfs import PowerLossVFS
from rawjournal import RAW_DB_NAME, RawJournal, read_verified

from tradeguard.errors import StoreDamagedError, StoreError
from tradeguard.storage.records import NewRecord

MAX_APPENDS = 30
"""Appends per cycle are drawn from 1..MAX_APPENDS."""


class LeakedConnectionError(Exception):
    """The store left a connection open after a failure (not corruption: a bug)."""


class _Writer(Protocol):
    def append(self, payloads: list[bytes]) -> tuple[int, int]: ...

    def close(self) -> None: ...


@dataclass
class _Figures:
    cycles: int = 0
    cut_mid_workload: int = 0
    cut_range: int = 0
    cycles_with_loss: int = 0
    lost_records: int = 0
    corrupt: int = 0
    acked_appends: int = 0
    refused_with_loss: int = 0
    """Cycles that lost acked records and whose reopen refused, naming the loss."""
    notes: list[str] = field(default_factory=list)

    def line(self, label: str) -> str:
        rate = self.cycles_with_loss / self.cycles if self.cycles else 0.0
        return (
            f"{label}: {self.cycles} cycles ({self.cut_mid_workload} cut mid-workload), "
            f"{self.acked_appends} acked appends, {self.cycles_with_loss} cycles lost "
            f"acked records ({rate:.0%}), {self.lost_records} records lost, "
            f"{self.corrupt} corrupt, {self.refused_with_loss} lossy cycles refused loudly"
        )


# --- backends ------------------------------------------------------------------------


class _RawBackend:
    """Plain INSERT+COMMIT journal in WAL mode: proves the harness without the store."""

    def __init__(self, data_dir: Path, synchronous: str) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = str(data_dir / RAW_DB_NAME)
        self.synchronous = synchronous

    def open(self, vfs: str) -> _Writer:
        conn = ApswConnection(self.path, vfs=vfs)
        try:
            journal = RawJournal(conn, synchronous=self.synchronous)
        except BaseException:
            conn.close()
            raise

        class _W:
            def append(self, payloads: list[bytes]) -> tuple[int, int]:
                return journal.append(payloads)

            def close(self) -> None:
                conn.close()

        return _W()

    def read(self) -> dict[int, bytes]:
        return read_verified(self.path)

    def errors(self) -> tuple[type[BaseException], ...]:
        return (sqlite3.Error,)


class _StoreBackend:
    """The real ``SqliteStore``, every connection opened through the power-loss VFS."""

    def __init__(self, data_dir: Path, synchronous: str) -> None:
        self.data_dir = data_dir
        self.synchronous = synchronous
        self.last_refused = False

    def open(self, vfs: str) -> _Writer:
        from tradeguard.storage.sqlite import SqliteStore

        store = SqliteStore(
            self.data_dir, synchronous=self.synchronous, connect=apsw_connect_factory(vfs)
        )
        try:
            epoch = store.current_epoch()
        except BaseException:
            with contextlib.suppress(StoreError):
                store.close()
            raise

        class _W:
            def append(self, payloads: list[bytes]) -> tuple[int, int]:
                records = [
                    NewRecord(type="test.power_loss", version=1, ts_ns=i, payload=p)
                    for i, p in enumerate(payloads)
                ]
                result = store.append(records, epoch=epoch)
                return result.first_seq, result.last_seq

            def close(self) -> None:
                # The store is poisoned after the cut; closing it must not raise more.
                with contextlib.suppress(StoreError):
                    store.close()

        return _W()

    def read(self) -> dict[int, bytes]:
        for db in sorted(self.data_dir.iterdir()):
            if db.suffix in (".sqlite", ".db", ".sqlite3"):
                conn = sqlite3.connect(db)
                try:
                    check = conn.execute("PRAGMA integrity_check").fetchall()
                finally:
                    conn.close()
                assert check == [("ok",)], f"integrity_check of {db.name}: {check}"
        if not any(self.data_dir.iterdir()):
            return {}
        self.last_refused = False
        try:
            journal = read_store_journal(self.data_dir)
        except StoreDamagedError:
            # The store saw that acked records are gone (its high-water mark is ahead of
            # the journal): with FULL that would be a false alarm, so it fails the test.
            if self.synchronous == "FULL":
                raise
            self.last_refused = True
            from tradeguard.storage import open_store

            open_store(self.data_dir, create=False, accept_loss=True).close()
            journal = read_store_journal(self.data_dir)
        return {seq: bytes(p) for seq, p in journal.items()}

    def errors(self) -> tuple[type[BaseException], ...]:
        return (StoreError,)


# --- the harness ---------------------------------------------------------------------


def _cycle(
    backend: Any,
    seed: int,
    cycle: int,
    acked: dict[int, bytes],
    figures: _Figures,
) -> dict[int, bytes]:
    """One power-loss cycle; returns the journal as found after the cut."""
    rng = random.Random(f"{seed}:{cycle}")
    # Cycle 0 calibrates: it runs the longest workload uncut to count its I/Os. Later
    # cut points are drawn from 1..1.2x the most I/Os a whole cycle took, so most cycles
    # cut mid-workload and the rest right after the last append.
    calibrating = figures.cut_range == 0
    cut_at = None if calibrating else rng.randint(1, figures.cut_range)
    vfs = PowerLossVFS(f"powerloss-{seed}-{cycle}", rng=rng, cut_at=cut_at)
    writer: _Writer | None = None
    try:
        writer = backend.open(vfs.vfs_name)
        for _ in range(MAX_APPENDS if calibrating else rng.randint(1, MAX_APPENDS)):
            batch = [rng.randbytes(rng.randint(16, 3000)) for _ in range(rng.randint(1, 3))]
            first, last = writer.append(batch)
            figures.acked_appends += 1
            acked.update(zip(range(first, last + 1), batch, strict=True))
    except backend.errors():
        if not vfs.dead:
            raise  # an error that is not the power cut is a bug of its own
    if vfs.dead:
        figures.cut_mid_workload += 1
    else:
        figures.cut_range = max(figures.cut_range, vfs.io_count * 6 // 5)
        vfs.cut()  # power fails right after the last acknowledgement
    if writer is not None:
        writer.close()
    # A connection left open after a failure would keep a stale wal-index mapped in this
    # process (and hold the dead files): every failure path must close everything.
    leaked = apsw.connections()
    for conn in leaked:
        conn.close(True)
    if leaked:
        raise LeakedConnectionError(f"seed={seed} cycle={cycle}: {len(leaked)} left open")
    vfs.unregister()
    return backend.read()  # type: ignore[no-any-return]


def _run(make_backend: Callable[[Path], Any], tmp_path: Path, seed: int, cycles: int) -> _Figures:
    figures = _Figures()
    backend = make_backend(tmp_path / f"seed-{seed}")
    acked: dict[int, bytes] = {}
    for cycle in range(cycles):
        figures.cycles += 1
        try:
            found = _cycle(backend, seed, cycle, acked, figures)
        except AssertionError as exc:
            # Corrupt: the chain or integrity_check failed. Start over on a fresh dir.
            figures.corrupt += 1
            figures.notes.append(f"seed={seed} cycle={cycle}: {exc}")
            backend = make_backend(tmp_path / f"seed-{seed}-after-{cycle}")
            acked = {}
            continue
        lost = [s for s, p in acked.items() if found.get(s) != p]
        if lost:
            figures.cycles_with_loss += 1
            figures.lost_records += len(lost)
            figures.notes.append(f"seed={seed} cycle={cycle}: lost seqs {lost[:10]}")
            figures.refused_with_loss += bool(getattr(backend, "last_refused", False))
        # What is on disk now is the truth the next cycle builds on.
        acked = dict(found)
    return figures


def _assert_durable(figures: _Figures, label: str) -> None:
    print(figures.line(label))
    if figures.cycles_with_loss or figures.corrupt:
        for note in figures.notes[:10]:
            print(note, file=sys.stderr)
    assert figures.corrupt == 0, f"{label}: corruption after power loss: {figures.notes[:3]}"
    assert figures.cycles_with_loss == 0, f"{label}: acked records lost: {figures.notes[:3]}"
    # The harness must actually cut mid-workload in a good share of cycles.
    assert figures.cut_mid_workload >= figures.cycles // 4


def _assert_canary(figures: _Figures, label: str) -> None:
    print(figures.line(label))
    assert figures.cycles_with_loss >= figures.cycles // 2, (
        f"{label}: the canary (synchronous=NORMAL) lost acked records in only "
        f"{figures.cycles_with_loss} of {figures.cycles} cycles: the harness is broken"
    )
    if label.startswith("store"):
        # The store's own high-water mark noticed every one of those losses.
        assert figures.refused_with_loss == figures.cycles_with_loss, figures.line(label)


@pytest.mark.parametrize("seed", [1, 2])
def test_power_loss_harness_raw_full_loses_nothing(tmp_path: Path, seed: int) -> None:
    """Harness self-test: raw INSERT+COMMIT, WAL + FULL, no acknowledged loss."""
    figures = _run(lambda d: _RawBackend(d, "FULL"), tmp_path, seed, 60)
    _assert_durable(figures, f"raw FULL seed={seed}")


def test_power_loss_harness_raw_normal_canary_loses(tmp_path: Path) -> None:
    """Harness self-test: raw WAL + NORMAL must lose acknowledged records."""
    figures = _run(lambda d: _RawBackend(d, "NORMAL"), tmp_path, 3, 60)
    _assert_canary(figures, "raw NORMAL canary seed=3")


STORE_SEEDS = [11, 12, 13, 14]
STORE_CYCLES = 75


@pytest.mark.parametrize("seed", STORE_SEEDS)
def test_power_loss_store_full_loses_nothing(tmp_path: Path, seed: int) -> None:
    """SqliteStore, WAL + FULL: no acknowledged record lost, nothing corrupt."""
    figures = _run(lambda d: _StoreBackend(d, "FULL"), tmp_path, seed, STORE_CYCLES)
    _assert_durable(figures, f"store FULL seed={seed}")


@pytest.mark.slow
@pytest.mark.parametrize("seed", [21, 22])
def test_power_loss_store_full_many_cycles(tmp_path: Path, seed: int) -> None:
    """The bigger run: more cycles per seed."""
    figures = _run(lambda d: _StoreBackend(d, "FULL"), tmp_path, seed, 250)
    _assert_durable(figures, f"store FULL seed={seed}")


def test_power_loss_store_normal_canary_loses(tmp_path: Path) -> None:
    """The canary: SqliteStore with synchronous=NORMAL must lose acknowledged records."""
    figures = _run(lambda d: _StoreBackend(d, "NORMAL"), tmp_path, 31, STORE_CYCLES)
    _assert_canary(figures, "store NORMAL canary seed=31")

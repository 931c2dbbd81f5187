"""The committed v1-era store (table migration 1, fill_recorded v1) still loads.

Opening it migrates the tables (2: journal.epoch, quarantine) after taking a backup,
and replay turns the v1 fills (``qty``, fee string "0.0012 BNB") into v2 events through
the upcaster.
"""

from __future__ import annotations

import shutil
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from tradeguard.domain.enums import OrderStatus
from tradeguard.domain.events import FillRecorded
from tradeguard.errors import StoreError
from tradeguard.recovery.manager import recover
from tradeguard.recovery.verify import verify_store
from tradeguard.storage import LATEST_VERSION, open_store
from tradeguard.storage.codec import decode_event

FIXTURE = Path(__file__).parent.parent / "fixtures" / "v1_store"


@pytest.fixture
def v1_dir(tmp_path: Path) -> Path:
    target = tmp_path / "v1"
    shutil.copytree(FIXTURE, target)
    target.chmod(0o700)
    (target / "tradeguard.db").chmod(0o600)
    return target


def test_fixture_really_is_v1() -> None:
    conn = sqlite3.connect(f"file:{FIXTURE / 'tradeguard.db'}?mode=ro", uri=True)
    versions = [v for (v,) in conn.execute("SELECT version FROM schema_migrations")]
    columns = [row[1] for row in conn.execute("PRAGMA table_info(journal)")]
    fills = conn.execute("SELECT version FROM journal WHERE type = 'fill_recorded'").fetchall()
    conn.close()
    assert versions == [1]
    assert "epoch" not in columns
    assert fills == [(1,), (1,)]


def test_readonly_open_refuses_a_pending_migration(v1_dir: Path) -> None:
    with pytest.raises(StoreError, match=f"needs migrating to {LATEST_VERSION}"):
        open_store(v1_dir, readonly=True)


def test_v1_store_migrates_with_a_backup_and_replays_through_the_upcaster(v1_dir: Path) -> None:
    with open_store(v1_dir) as store:
        assert store.schema_version() == LATEST_VERSION
        backups = list((v1_dir / "backups").glob(f"pre-migration-1-{LATEST_VERSION}-*"))
        assert len(backups) == 1
        state, report = recover(store, write=False)
        records = list(store.read())
        assert verify_store(store).ok
    fills = [
        decode_event(r.type, r.version, r.payload) for r in records if r.type == "fill_recorded"
    ]
    assert all(isinstance(f, FillRecorded) for f in fills)
    assert [(f.amount, f.fee, f.fee_asset) for f in fills] == [  # type: ignore[union-attr]
        (Decimal("0.2"), Decimal("0.0012"), "BNB"),
        (Decimal("0.3"), Decimal("0.0018"), "BNB"),
    ]
    assert report.replayed_events == 5
    order = state.order("tgv1-2")
    assert order is not None
    assert order.status is OrderStatus.FILLED
    assert order.filled == Decimal("0.5")
    position = state.position("BTC/USDT")
    assert position.size == Decimal("0.5")
    assert position.fees_paid == {"BNB": Decimal("0.0030")}
    # The backup is the untouched v1 store.
    conn = sqlite3.connect(backups[0])
    assert [v for (v,) in conn.execute("SELECT version FROM schema_migrations")] == [1]
    conn.close()
    # Migrations are recorded and not applied twice.
    with open_store(v1_dir) as store:
        assert store.schema_version() == LATEST_VERSION
    assert len(list((v1_dir / "backups").glob("pre-migration-*"))) == 1

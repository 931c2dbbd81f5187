"""Durable storage: the store contract, its backends and the record types they hold."""

from __future__ import annotations

from tradeguard.storage.backup import list_backups, prune_backups, restore_backup, take_backup
from tradeguard.storage.base import Store
from tradeguard.storage.groupcommit import StoreStats
from tradeguard.storage.memory import MemoryStore
from tradeguard.storage.migrations import LATEST_VERSION, apply_migrations
from tradeguard.storage.postgres import PostgresStore
from tradeguard.storage.records import (
    GENESIS_CRC,
    AppendResult,
    NewRecord,
    QuarantinedRecord,
    RunInfo,
    SnapshotInfo,
    SnapshotRecord,
    StoredRecord,
    chain_crc,
    snapshot_crc,
)
from tradeguard.storage.sqlite import SqliteStore
from tradeguard.storage.url import open_store

__all__ = [
    "GENESIS_CRC",
    "LATEST_VERSION",
    "AppendResult",
    "MemoryStore",
    "NewRecord",
    "PostgresStore",
    "QuarantinedRecord",
    "RunInfo",
    "SnapshotInfo",
    "SnapshotRecord",
    "SqliteStore",
    "Store",
    "StoreStats",
    "StoredRecord",
    "apply_migrations",
    "chain_crc",
    "list_backups",
    "open_store",
    "prune_backups",
    "restore_backup",
    "snapshot_crc",
    "take_backup",
]

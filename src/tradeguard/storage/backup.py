"""Backups: timestamped online copies with retention, and restore into an empty store.

Every backend backs up into a SQLite store file (SQLite copies itself with the backup
API; PostgreSQL and memory export their session's rows into the same tables), so any
backup restores into any backend.
"""

from __future__ import annotations

from pathlib import Path

from tradeguard.errors import StoreError, StoreNotFoundError
from tradeguard.private_dirs import make_private_dir
from tradeguard.storage.base import Store
from tradeguard.storage.migrations import LATEST_VERSION
from tradeguard.storage.partial import remove_stale_partials
from tradeguard.storage.sqlite import SqliteStore, sessions_in
from tradeguard.storage.url import open_store

__all__ = [
    "list_backups",
    "prune_backups",
    "remove_stale_partials",
    "restore_backup",
    "take_backup",
]

_PREFIX = "tradeguard-"


def list_backups(backup_dir: str | Path) -> list[Path]:
    """Backup files made by ``take_backup`` in ``backup_dir``, newest first."""
    directory = Path(backup_dir)
    if not directory.is_dir():
        return []
    files = [p for p in directory.glob(f"{_PREFIX}*.db") if p.is_file()]
    # The name ends in a UTC timestamp with nanoseconds, so per session name order is
    # time order; sort by that stamp so several sessions interleave correctly.
    return sorted(files, key=lambda p: (p.name.rsplit("-", 1)[-1], p.name), reverse=True)


def prune_backups(backup_dir: str | Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` backups; return the deleted paths."""
    if keep < 1:
        raise StoreError(f"backups_to_keep must be >= 1, got {keep}")
    doomed = list_backups(backup_dir)[keep:]
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed


def take_backup(store: Store, backup_dir: str | Path, keep: int) -> Path:
    """Write a consistent online backup of ``store`` into ``backup_dir`` (0700), then
    keep only the newest ``keep`` backups there. Returns the new file."""
    directory = Path(backup_dir)
    make_private_dir(directory)
    remove_stale_partials(directory)  # left by a backup that was killed mid-write
    path = store.backup(directory)
    prune_backups(directory, keep)
    return path


def _pick_session(backup_file: Path, wanted: str) -> str:
    sessions = sessions_in(backup_file)
    if wanted in sessions:
        return wanted
    if len(sessions) == 1:
        return sessions[0]
    raise StoreError(f"backup {backup_file} holds sessions {sessions}, none named {wanted!r}")


def _is_empty(store: Store) -> bool:
    return (
        store.last_seq() == 0
        and not store.snapshots()
        and not store.runs()
        and not store.quarantined()
    )


def restore_backup(
    backup_file: str | Path, target_url: str | Path, session_id: str = "default"
) -> int:
    """Restore a backup file into the empty store at ``target_url`` (any backend) as
    session ``session_id``; return the last journal seq restored.

    The backup must open as a tradeguard store first; a target that already holds
    anything for the session is refused with a ``StoreError`` naming it.
    """
    path = Path(backup_file)
    if not path.is_file():
        raise StoreNotFoundError(f"no backup file at {path}")
    source_session = _pick_session(path, session_id)
    # migrate_to lets a read-only open accept an older layout (a pre-migration backup).
    with SqliteStore(
        path, session_id=source_session, readonly=True, migrate_to=LATEST_VERSION
    ) as source:
        source.last_record()
        with open_store(target_url, session_id=session_id) as target:
            if not _is_empty(target):
                raise StoreError(
                    f"refusing to restore into {target.url} (session {session_id!r}): it "
                    "is not empty; restore into an empty data directory or schema"
                )
            target.import_from(source)
            return target.last_seq()

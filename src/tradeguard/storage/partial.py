"""Files being written: ``.NAME.partial`` beside ``NAME``, renamed into place when done.

A backup is written to a hidden ``.partial`` file, fsynced, then renamed, so a reader
never sees half a backup. A process killed mid-write leaves its ``.partial`` behind;
``remove_stale_partials`` deletes those at the next backup or start. "Stale" is proved,
not guessed from age alone: the writer holds an exclusive ``flock`` on its partial file
for as long as it writes, so a partial nobody holds a lock on belongs to a dead writer.
A minimum age covers the instant between creating the file and locking it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = ["PARTIAL_SUFFIX", "partial_path", "remove_stale_partials", "writing_partial"]

PARTIAL_SUFFIX = ".partial"
_MIN_AGE_S = 10.0


def partial_path(final: Path) -> Path:
    """Where ``final`` is written before it is complete: ``.NAME.partial`` beside it."""
    return final.with_name(f".{final.name}{PARTIAL_SUFFIX}")


@contextlib.contextmanager
def writing_partial(final: Path) -> Iterator[Path]:
    """Create ``final``'s partial file (mode 0600) and hold its lock while the caller
    writes it; on an error the partial is removed. The caller renames it into place."""
    tmp = partial_path(final)
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield tmp
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    finally:
        os.close(fd)  # releases the lock


def remove_stale_partials(directory: str | Path, *, min_age_s: float = _MIN_AGE_S) -> list[Path]:
    """Delete the ``.*.partial`` files in ``directory`` that no live writer holds and that
    are older than ``min_age_s``; return what was deleted."""
    folder = Path(directory)
    if not folder.is_dir():
        return []
    removed: list[Path] = []
    now = time.time()
    for path in folder.glob(f".*{PARTIAL_SUFFIX}"):
        try:
            if not path.is_file() or now - path.stat().st_mtime < min_age_s:
                continue
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue  # gone meanwhile, or not ours to read
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # a live writer holds it
        else:
            # SQLite's own side files of a half-written store file go with it.
            for side in ("-wal", "-shm", "-journal"):
                path.with_name(path.name + side).unlink(missing_ok=True)
            path.unlink(missing_ok=True)
            removed.append(path)
        finally:
            os.close(fd)
    return removed

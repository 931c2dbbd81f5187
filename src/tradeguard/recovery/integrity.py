"""The database file's own integrity, judged once for ``verify`` and recovery alike.

SQLite's ``quick_check`` finds two kinds of damage. Damage to the file's structure
(pages, B-trees) makes every later write a gamble: recovery refuses to write and names
what was found, and ``verify`` reports the same lines. A value of the wrong type in a
snapshot row (a flipped bit in the row's header) spoils only that snapshot: both leave
it to ``check_snapshot``, which rejects it, and recovery falls back to an older one.
Wrong types in any other table (journal, runs, sessions) are refused like structural
damage: the writer would chain new records onto rows it cannot read.
"""

from __future__ import annotations

import re

from tradeguard.errors import StoreDamagedError
from tradeguard.storage.base import Store

__all__ = ["blocking_problems", "file_integrity_problems", "refuse_damaged_file"]

_SNAPSHOT_CONTENT = re.compile(r"^(non-[A-Z]+|NULL) value in snapshots\.\w+$")


def file_integrity_problems(store: Store) -> list[str]:
    """Every problem the backend's own check reports (see ``Store.integrity_problems``)."""
    return store.integrity_problems()


def blocking_problems(problems: list[str]) -> list[str]:
    """The problems that make writing unsafe: all but wrong types in snapshot rows."""
    return [p for p in problems if not _SNAPSHOT_CONTENT.match(p)]


def refuse_damaged_file(store: Store, problems: list[str]) -> None:
    """Raise ``StoreDamagedError`` when ``problems`` make writing into ``store`` unsafe."""
    blocking = blocking_problems(problems)
    if not blocking:
        return
    more = f" and {len(blocking) - 5} more" if len(blocking) > 5 else ""
    shown = "; ".join(blocking[:5]) + more
    raise StoreDamagedError(
        f"{store.url}: the database file is damaged (SQLite integrity check: {shown}); "
        "recovery wrote nothing, and --accept-loss cannot mend a damaged file: restore a "
        "backup into an empty data directory (`tradeguard restore`), keeping this one aside"
    )
